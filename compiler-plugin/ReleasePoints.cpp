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
// The point itself: 5 bytes, clobbers r11 and the flags only.
constexpr const char* kPointAsm = "call __trapsan_release_check";

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
    if (text == kPointAsm) return Effect::kNone;
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
    if (callee->getName() == kReleaseName || callee->getName() == kCheckName)
      return Effect::kNone;
    // pthread_join is no release of the joining thread (POSIX: it only
    // acquires the joined thread's end): the runtime's pthread_join keeps
    // the caller's windows on static storage held across the wait and closes
    // the others first (runtime/linux/join.cpp). No point before it.
    if (callee->getName() == "pthread_join") return Effect::kNone;
    if (IsInstrumentedHere(callee, instrumented)) {
      // Its own release points are marked, and its returns close what is
      // held, unless only instrumented code calls it (then they need not).
      return ReturnsToInstrumented(*callee, instrumented) ? Effect::kOpen
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
Function* CheckFunction(Module& m) {
  if (Function* f = m.getFunction(kCheckName)) return f;
  LLVMContext& ctx = m.getContext();
  FunctionType* type = FunctionType::get(Type::getVoidTy(ctx), false);
  Function* f = Function::Create(type, GlobalValue::LinkOnceODRLinkage,
                                 kCheckName, m);
  f->setVisibility(GlobalValue::HiddenVisibility);
  f->setComdat(m.getOrInsertComdat(kCheckName));
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
      "1:\n\t"
      "jmp *__trapsan_release_all@GOTPCREL(%rip)",
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

  SmallVector<Instruction*, 16> points;
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
            points.push_back(RetPointAt(*ret, instrumented));
          else
            points.push_back(&inst);
        }
      }
      held = Step(e, held);
    }
  }
  if (const char* v = std::getenv("TRAPSAN_PLUGIN_VERBOSE");
      v != nullptr && v[0] == '2') {
    for (Instruction* at : points) {
      errs() << "trapsan-plugin: release point in " << f.getName() << ": ";
      if (auto* call = dyn_cast<CallBase>(at); call && call->getCalledFunction())
        errs() << "call " << call->getCalledFunction()->getName();
      else
        errs() << at->getOpcodeName();
      errs() << "\n";
    }
  }
  if (points.empty()) return counts;
  CheckFunction(*f.getParent());
  // The point's call pushes a return address below the stack pointer.
  f.addFnAttr(Attribute::NoRedZone);
  for (Instruction* at : points) EmitPoint(at);
  counts.marked = static_cast<unsigned>(points.size());
  return counts;
}

}  // namespace trapsan_plugin
