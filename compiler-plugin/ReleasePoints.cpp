#include "ReleasePoints.h"

#include "Instrumenter.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/IR/CFG.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InlineAsm.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/IntrinsicsX86.h"
#include "llvm/IR/Module.h"
#include "llvm/Transforms/Utils/ModuleUtils.h"

#include <cstdlib>

namespace trapsan_plugin {
namespace {

constexpr const char* kReleaseName = "__trapsan_release";
constexpr const char* kCheckName = "__trapsan_release_check";
constexpr const char* kReturnCheckName = "__trapsan_return_check";
// The point itself: 5 bytes, clobbers r11 and the flags only.
constexpr const char* kPointAsm = "call __trapsan_release_check";
// A `ret`'s point: the same, with the function's return address in r10
// (an input: the slow path reads the bytes it returns to).
constexpr const char* kReturnPointAsm = "call __trapsan_return_check";
// The return marker, right after a call of an instrumented function of this
// module whose returns may keep windows held: an 8-byte nop whose
// displacement spells "trps" (0f 1f 84 00 74 72 70 73; the runtime's
// kReturnMarker, runtime/core/release.h, must match). The code after it
// counts on windows being held (its own points are marked), so a return
// into it need not close them.
constexpr const char* kMarkerAsm = "nopl 0x73707274(%rax,%rax,1)";

bool IsRelease(AtomicOrdering o) {
  return o == AtomicOrdering::Release || o == AtomicOrdering::AcquireRelease ||
         o == AtomicOrdering::SequentiallyConsistent;
}

const InlineAsm* AsmOf(const CallBase& call) {
  return dyn_cast<InlineAsm>(call.getCalledOperand());
}

using FunctionSet = SmallPtrSetImpl<const Function*>;

// A definition of this module that the pass instruments and that no other
// definition can replace at link or load time.
bool IsInstrumentedHere(const Function* f, const FunctionSet& instrumented) {
  return f != nullptr && !f->isDeclaration() && instrumented.count(f) != 0 &&
         (f->hasLocalLinkage() ||
          (f->hasExternalLinkage() && !f->isInterposable()));
}

bool IsMarkerAsm(const Instruction* inst) {
  auto* call = dyn_cast_or_null<CallInst>(inst);
  const InlineAsm* as = call != nullptr ? AsmOf(*call) : nullptr;
  return as != nullptr && as->getAsmString() == kMarkerAsm;
}

// Where the code a call returns to starts: after a call, its next
// instruction; after an invoke, its normal destination when only the
// invoke leads there (else nullptr: no marker).
Instruction* ReturnedTo(CallBase& call) {
  if (auto* invoke = dyn_cast<InvokeInst>(&call)) {
    BasicBlock* dest = invoke->getNormalDest();
    if (dest->getSinglePredecessor() != invoke->getParent()) return nullptr;
    return &*dest->getFirstInsertionPt();
  }
  return call.getNextNode();
}

// The call's return marker (kMarkerAsm), if it has one.
const Instruction* ReturnMarkerOf(const CallBase& call) {
  Instruction* at = ReturnedTo(const_cast<CallBase&>(call));
  while (at != nullptr && isa<DbgInfoIntrinsic>(at)) at = at->getNextNode();
  return IsMarkerAsm(at) ? at : nullptr;
}

// The call returns straight into a `ret`: a `tail` or `musttail` call there
// gets no marker, or it could not be a tail call (a `musttail` call must be
// followed by its `ret`). The callee's return then goes to this function's
// caller when the call is made a tail call, and closes the windows when
// that caller has no marker, or when the call was not made a tail call
// after all (it returns here, to no marker). (A call without `tail` is
// never made a tail call: it gets a marker.)
// (Lifetime markers and casts between them emit no code.)
bool InTailPosition(const CallInst& call) {
  const Instruction* next = call.getNextNonDebugInstruction();
  while (next != nullptr &&
         (isa<BitCastInst>(next) ||
          (isa<IntrinsicInst>(next) &&
           cast<IntrinsicInst>(next)->isLifetimeStartOrEnd())))
    next = next->getNextNonDebugInstruction();
  return next != nullptr && isa<ReturnInst>(next);
}

// What an instruction does to "may the thread hold a window here".
enum class Effect {
  kNone,     // leaves held windows as they are
  kOpen,     // may open one, or return with one held
  kClose,    // none is held after it (a call that closes on return)
  kRelease,  // a possible release: a point before it when a window may be
             // held; none is held after it
};

Effect EffectOf(const Instruction& inst, const FunctionSet& instrumented) {
  if (auto* s = dyn_cast<StoreInst>(&inst))
    return s->isAtomic() && IsRelease(s->getOrdering()) ? Effect::kRelease
                                                        : Effect::kNone;
  if (auto* rmw = dyn_cast<AtomicRMWInst>(&inst))
    return IsRelease(rmw->getOrdering()) ? Effect::kRelease : Effect::kNone;
  if (auto* cx = dyn_cast<AtomicCmpXchgInst>(&inst))
    return IsRelease(cx->getSuccessOrdering()) ||
                   IsRelease(cx->getFailureOrdering())
               ? Effect::kRelease
               : Effect::kNone;
  if (auto* fence = dyn_cast<FenceInst>(&inst))
    return IsRelease(fence->getOrdering()) ? Effect::kRelease : Effect::kNone;
  auto* call = dyn_cast<CallBase>(&inst);
  if (call == nullptr) return Effect::kNone;
  if (const InlineAsm* as = AsmOf(*call)) {
    const std::string& text = as->getAsmString();
    if (text == kPointAsm || text == kReturnPointAsm) return Effect::kNone;
    if (text == kMarkerAsm) return Effect::kOpen;  // returned to, held
    // trapsan's own asm (sites, labels, checks, the countdown's offset):
    // where a sample may be taken.
    if (text.find("trapsan") != std::string::npos) return Effect::kOpen;
    return Effect::kRelease;  // may touch memory: an old spinlock
  }
  if (auto* intrinsic = dyn_cast<IntrinsicInst>(call)) {
    switch (intrinsic->getIntrinsicID()) {
      // Side effects, but none on memory another thread could see: a spin
      // loop's `pause` is no release (a window stays held through the
      // loop), nor is a prefetch or a stack save.
      case Intrinsic::x86_sse2_pause:
      case Intrinsic::prefetch:
      case Intrinsic::stacksave:
      case Intrinsic::stackrestore:
      case Intrinsic::donothing:
        return Effect::kNone;
      default:
        break;
    }
  }
  if (const Function* callee = call->getCalledFunction()) {
    if (callee->getName() == kReleaseName || callee->getName() == kCheckName ||
        callee->getName() == kReturnCheckName)
      return Effect::kNone;
    // pthread_join is no release of the joining thread (POSIX: it only
    // acquires the joined thread's end): the runtime's pthread_join keeps
    // the caller's windows on static storage held across the wait and closes
    // the others first (runtime/linux/join.cpp). No point before it.
    if (callee->getName() == "pthread_join") return Effect::kNone;
    if (IsInstrumentedHere(callee, instrumented)) {
      // Its own release points are marked. Its returns close what is held
      // unless they return to a marker (ReturnMarkerOf: then the code after
      // the call may hold windows), or unless only instrumented code calls
      // it (its returns have no point).
      return ReturnsToInstrumented(*callee, instrumented) ||
                     ReturnMarkerOf(*call) != nullptr
                 ? Effect::kOpen
                 : Effect::kClose;
    }
  }
  return Instrumenter::IsSyncPoint(inst) ? Effect::kRelease : Effect::kNone;
}

bool Step(Effect e, bool held) {
  switch (e) {
    case Effect::kNone: return held;
    case Effect::kOpen: return true;
    default: return false;
  }
}

// The per-module check a point calls: hidden, one copy per linked object
// (comdat), so the call is direct and 5 bytes. It tests the thread's
// __trapsan_windows_open and, when set, goes on to the runtime's
// __trapsan_release_all, which saves every register (the point may be
// anywhere) and closes the windows (runtime/core/release.cpp).
// __trapsan_return_check, a `ret`'s, is the same but goes on to
// __trapsan_return_all (it leaves r10, the return address, alone).
Function* CheckFunction(Module& m, const char* name) {
  if (Function* f = m.getFunction(name)) return f;
  const bool at_return = StringRef(name) == kReturnCheckName;
  LLVMContext& ctx = m.getContext();
  FunctionType* type = FunctionType::get(Type::getVoidTy(ctx), false);
  Function* f =
      Function::Create(type, GlobalValue::LinkOnceODRLinkage, name, m);
  f->setVisibility(GlobalValue::HiddenVisibility);
  f->setComdat(m.getOrInsertComdat(name));
  f->addFnAttr(Attribute::Naked);
  f->addFnAttr(Attribute::NoInline);
  f->addFnAttr(Attribute::NoUnwind);
  IRBuilder<> b(BasicBlock::Create(ctx, "", f));
  InlineAsm* body = InlineAsm::get(
      type,
      "movq __trapsan_windows_open@GOTTPOFF(%rip), %r11\n\t"
      "cmpl $$0, %fs:(%r11)\n\t"
      "jne 1f\n\t"
      "ret\n"
      "1:\n\t" +
          std::string(at_return
                        ? "jmp *__trapsan_return_all@GOTPCREL(%rip)"
                        : "jmp *__trapsan_release_all@GOTPCREL(%rip)"),
      "", /*hasSideEffects=*/true);
  b.CreateCall(type, body);
  b.CreateUnreachable();
  appendToCompilerUsed(m, {f});
  return f;
}

void EmitPoint(Instruction* at) {
  LLVMContext& ctx = at->getContext();
  FunctionType* type = FunctionType::get(Type::getVoidTy(ctx), false);
  InlineAsm* point = InlineAsm::get(
      type, kPointAsm, "~{r11},~{memory},~{dirflag},~{fpsr},~{flags}",
      /*hasSideEffects=*/true);
  IRBuilder<> b(at);
  CallInst* call = b.CreateCall(type, point);
  call->setDebugLoc(at->getDebugLoc());
}

// A `ret`'s point (before the `ret`, or before the tail call that precedes
// it: RetPointAt): the function's return address goes in r10, which the
// check leaves alone; the runtime's slow path keeps the windows when the
// bytes there are a return marker (runtime/core/release.cpp).
void EmitReturnPoint(Instruction* at) {
  LLVMContext& ctx = at->getContext();
  Module* m = at->getModule();
  Type* ptr = Type::getInt8PtrTy(ctx);
  FunctionType* type = FunctionType::get(Type::getVoidTy(ctx), {ptr}, false);
  InlineAsm* point = InlineAsm::get(
      type, kReturnPointAsm,
      "{r10},~{r11},~{memory},~{dirflag},~{fpsr},~{flags}",
      /*hasSideEffects=*/true);
  IRBuilder<> b(at);
  Function* ra = Intrinsic::getDeclaration(m, Intrinsic::returnaddress);
  CallInst* addr = b.CreateCall(ra, {b.getInt32(0)});
  addr->setDebugLoc(at->getDebugLoc());
  CallInst* call = b.CreateCall(type, point, {addr});
  call->setDebugLoc(at->getDebugLoc());
}

// The return marker (kMarkerAsm) before `at`.
void EmitMarker(Instruction* at) {
  LLVMContext& ctx = at->getContext();
  FunctionType* type = FunctionType::get(Type::getVoidTy(ctx), false);
  InlineAsm* marker = InlineAsm::get(type, kMarkerAsm, "",
                                     /*hasSideEffects=*/true);
  IRBuilder<> b(at);
  CallInst* call = b.CreateCall(type, marker);
  call->setDebugLoc(at->getDebugLoc());
}

// Calls of instrumented functions of this module whose returns have points
// (not ReturnsToInstrumented) get a return marker where they return to,
// unless in tail position (InTailPosition) or an invoke whose normal
// destination has other predecessors. Returns how many.
unsigned MarkReturns(Function& f, const FunctionSet& instrumented) {
  SmallVector<CallBase*, 16> calls;
  for (BasicBlock& bb : f) {
    for (Instruction& inst : bb) {
      auto* call = dyn_cast<CallBase>(&inst);
      if (call == nullptr || isa<CallBrInst>(call)) continue;
      const Function* callee = call->getCalledFunction();
      if (!IsInstrumentedHere(callee, instrumented) ||
          ReturnsToInstrumented(*callee, instrumented))
        continue;
      if (auto* ci = dyn_cast<CallInst>(call);
          ci != nullptr && (ci->isTailCall() || ci->isMustTailCall()) &&
          InTailPosition(*ci))
        continue;
      if (ReturnedTo(*call) == nullptr || ReturnMarkerOf(*call) != nullptr)
        continue;
      calls.push_back(call);
    }
  }
  for (CallBase* call : calls) EmitMarker(ReturnedTo(*call));
  return static_cast<unsigned>(calls.size());
}

// Where the point of a `ret` goes: before it, or before the tail call right
// before it when that call leaves held windows as they are (the same
// windows are held at the call as at the `ret`): the tail call stays one,
// and a `musttail` call must be followed by its `ret` directly.
Instruction* RetPointAt(ReturnInst& ret, const FunctionSet& instrumented) {
  Instruction* prev = ret.getPrevNonDebugInstruction();
  if (prev != nullptr && isa<BitCastInst>(prev))
    prev = prev->getPrevNonDebugInstruction();
  auto* call = dyn_cast_or_null<CallInst>(prev);
  if (call != nullptr && (call->isTailCall() || call->isMustTailCall()) &&
      EffectOf(*call, instrumented) == Effect::kNone)
    return call;
  return &ret;
}

}  // namespace

bool ReturnsToInstrumented(const Function& f, const FunctionSet& instrumented) {
  if (!f.hasLocalLinkage()) return false;
  for (const User* user : f.users()) {
    auto* call = dyn_cast<CallBase>(user);
    if (call == nullptr || call->getCalledFunction() != &f) return false;
    if (instrumented.count(call->getFunction()) == 0) return false;
    // Its `ret` must follow at once: no point after the call.
    if (auto* ci = dyn_cast<CallInst>(call); ci && ci->isMustTailCall())
      return false;
  }
  return true;
}

bool ReleasePointsEnabled() {
  const char* env = std::getenv("TRAPSAN_PLUGIN_RELEASE_POINTS");
  return env == nullptr || env[0] != '0';
}

ReleasePointCounts MarkReleasePoints(Function& f,
                                     const FunctionSet& instrumented) {
  ReleasePointCounts counts;
  const bool to_instrumented = ReturnsToInstrumented(f, instrumented);
  counts.markers = MarkReturns(f, instrumented);
  // May a window be held at each block's entry? At the function's entry
  // yes (its caller's: a caller in this module calls without a point, a
  // signal handler runs between any two instructions), and at an EH pad
  // (an exception may leave frames that held one without a point); else
  // where a predecessor may still hold one at its end.
  DenseMap<const BasicBlock*, bool> in, out;
  SmallVector<BasicBlock*, 32> work;
  for (BasicBlock& bb : f) {
    in[&bb] = &bb == &f.getEntryBlock() || bb.isEHPad();
    work.push_back(&bb);
  }
  while (!work.empty()) {
    BasicBlock* bb = work.pop_back_val();
    bool held = in[bb];
    for (Instruction& inst : *bb) held = Step(EffectOf(inst, instrumented), held);
    auto it = out.find(bb);
    if (it != out.end() && it->second == held) continue;
    out[bb] = held;
    if (!held) continue;
    for (BasicBlock* succ : successors(bb)) {
      if (!in[succ]) {
        in[succ] = true;
        work.push_back(succ);
      }
    }
  }

  SmallVector<Instruction*, 16> points, return_points;
  for (BasicBlock& bb : f) {
    bool held = in[&bb];
    for (Instruction& inst : bb) {
      const Effect e = EffectOf(inst, instrumented);
      const bool candidate = e == Effect::kRelease || isa<ResumeInst>(inst) ||
                             (isa<ReturnInst>(inst) && !to_instrumented);
      if (candidate) {
        ++counts.candidates;
        if (held) {
          if (auto* ret = dyn_cast<ReturnInst>(&inst))
            return_points.push_back(RetPointAt(*ret, instrumented));
          else
            points.push_back(&inst);
        }
      }
      held = Step(e, held);
    }
  }
  if (const char* v = std::getenv("TRAPSAN_PLUGIN_VERBOSE");
      v != nullptr && v[0] == '2') {
    for (const auto* list : {&points, &return_points}) {
      for (Instruction* at : *list) {
        errs() << "trapsan-plugin: release point in " << f.getName() << ": ";
        if (list == &return_points) errs() << "return ";
        if (auto* call = dyn_cast<CallBase>(at);
            call && call->getCalledFunction())
          errs() << "call " << call->getCalledFunction()->getName();
        else
          errs() << at->getOpcodeName();
        errs() << "\n";
      }
    }
    if (counts.markers != 0)
      errs() << "trapsan-plugin: return markers in " << f.getName() << ": "
             << counts.markers << "\n";
  }
  if (points.empty() && return_points.empty()) return counts;
  if (!points.empty()) CheckFunction(*f.getParent(), kCheckName);
  if (!return_points.empty()) CheckFunction(*f.getParent(), kReturnCheckName);
  // The point's call pushes a return address below the stack pointer.
  f.addFnAttr(Attribute::NoRedZone);
  // A `ret`'s point names the function's own return address: inlined into
  // another function (a (Thin)LTO backend inlines after this pass), it would
  // name that function's, and a return marker there would keep windows held
  // in the middle of code whose points assume the call closed them. Nothing
  // inlines after this pass otherwise.
  if (!return_points.empty()) {
    f.removeFnAttr(Attribute::AlwaysInline);
    f.addFnAttr(Attribute::NoInline);
  }
  for (Instruction* at : points) EmitPoint(at);
  for (Instruction* at : return_points) EmitReturnPoint(at);
  counts.marked = static_cast<unsigned>(points.size() + return_points.size());
  return counts;
}

}  // namespace trapsan_plugin
