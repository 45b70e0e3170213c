// The sync-state word and the entry notes (SyncState.h).
#include "SyncState.h"

#include "Instrumenter.h"
#include "SiteFormat.h"

#include "llvm/ADT/Hashing.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InlineAsm.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/Mangler.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/Format.h"
#include "llvm/Transforms/Utils/BasicBlockUtils.h"

#include <cctype>
#include <cstdlib>
#include <string>

namespace trapsan_plugin {
namespace {

using FunctionSet = SmallPtrSetImpl<const Function*>;

constexpr const char* kSyncStateName = "__trapsan_sync_state";
// ReleasePoints.cpp's return marker (kMarkerAsm): the code a marked call
// returns to starts with it, so "after" goes after it.
constexpr const char* kMarkerAsm = "nopl 0x73707274(%rax,%rax,1)";

// As ReleasePoints.cpp's IsInstrumentedHere: a definition of this module
// that the pass instruments and that nothing can replace at link or load
// time. A direct call of one keeps the word as it is (its own calls keep it).
bool IsInstrumentedHere(const Function* f, const FunctionSet& instrumented) {
  return f != nullptr && !f->isDeclaration() && instrumented.count(f) != 0 &&
         (f->hasLocalLinkage() ||
          (f->hasExternalLinkage() && !f->isInterposable()));
}

bool IsAcquire(AtomicOrdering o) {
  return o == AtomicOrdering::Acquire || o == AtomicOrdering::AcquireRelease ||
         o == AtomicOrdering::SequentiallyConsistent;
}

// An acquire-or-stronger atomic load, read-modify-write, cmpxchg or fence.
bool IsAcquireAtomic(const Instruction& inst) {
  if (auto* l = dyn_cast<LoadInst>(&inst))
    return l->isAtomic() && IsAcquire(l->getOrdering());
  if (auto* rmw = dyn_cast<AtomicRMWInst>(&inst))
    return IsAcquire(rmw->getOrdering());
  if (auto* cx = dyn_cast<AtomicCmpXchgInst>(&inst))
    return IsAcquire(cx->getSuccessOrdering()) ||
           IsAcquire(cx->getFailureOrdering());
  if (auto* fence = dyn_cast<FenceInst>(&inst))
    return IsAcquire(fence->getOrdering());
  return false;
}

// malloc and friends, operator new in every form.
bool IsAllocation(StringRef name) {
  static const StringRef kNames[] = {"malloc", "calloc", "realloc",
                                     "aligned_alloc", "memalign",
                                     "posix_memalign", "valloc", "pvalloc"};
  for (StringRef n : kNames)
    if (name == n) return true;
  return name.startswith("_Znw") || name.startswith("_Zna");
}

// A call or asm around which the word must say "inside": it may enter code
// the pass does not see (and synchronize there).
bool EntersUnseenCode(const CallBase& call, const FunctionSet& instrumented) {
  if (auto* as = dyn_cast<InlineAsm>(call.getCalledOperand())) {
    const std::string& text = as->getAsmString();
    // trapsan's own: sites, labels, checks, release points, the marker.
    if (text.find("trapsan") != std::string::npos || text == kMarkerAsm)
      return false;
    return as->hasSideEffects() ||
           as->getConstraintString().find("~{memory}") != std::string::npos;
  }
  const Function* callee = call.getCalledFunction();
  if (!Instrumenter::IsSyncPoint(call)) {
    // The planner's non-synchronizing library functions, but for the
    // allocators: an allocation takes the allocator's locks, so it may be
    // ordered after another thread's free of the same memory (a window kept
    // past that free, met by the new owner's first write, is no race).
    return callee != nullptr && IsAllocation(callee->getName());
  }
  if (auto* intrinsic = dyn_cast<IntrinsicInst>(&call)) {
    switch (intrinsic->getIntrinsicID()) {
      // Side effects, but no code of another thread's making runs
      // (ReleasePoints.cpp's EffectOf says the same).
      case Intrinsic::prefetch:
      case Intrinsic::stacksave:
      case Intrinsic::stackrestore:
      case Intrinsic::donothing:
      case Intrinsic::returnaddress:
      case Intrinsic::frameaddress:
        return false;
      default:
        break;
    }
  }
  if (callee != nullptr && callee->getName().startswith("__trapsan_"))
    return false;
  return !IsInstrumentedHere(callee, instrumented);
}

bool IsMarker(const Instruction* inst) {
  auto* call = dyn_cast_or_null<CallInst>(inst);
  auto* as = call != nullptr ? dyn_cast<InlineAsm>(call->getCalledOperand())
                             : nullptr;
  return as != nullptr && as->getAsmString() == kMarkerAsm;
}

// Where the code a call returns to starts (past a return marker), or
// nullptr where nothing is emitted: after a musttail call, a callbr, a call
// that does not return.
Instruction* AfterOf(CallBase& call) {
  Instruction* at = nullptr;
  if (auto* invoke = dyn_cast<InvokeInst>(&call)) {
    BasicBlock* dest = invoke->getNormalDest();
    if (dest->getSinglePredecessor() != invoke->getParent())
      dest = SplitEdge(invoke->getParent(), dest);
    at = &*dest->getFirstInsertionPt();
  } else if (auto* ci = dyn_cast<CallInst>(&call)) {
    if (ci->isMustTailCall() || ci->doesNotReturn()) return nullptr;
    at = ci->getNextNode();
  } else {
    return nullptr;
  }
  while (at != nullptr && isa<DbgInfoIntrinsic>(at)) at = at->getNextNode();
  if (IsMarker(at)) at = at->getNextNode();
  if (at == nullptr || isa<UnreachableInst>(at)) return nullptr;
  return at;
}

// The word's changes, each a single read-modify-write instruction on
// %fs:(offset) where it must not lose a signal handler's update made in
// between (a handler's calls and acquires change the word too; a lost
// advance could bring an old odd value back).
struct Emitter {
  Module& m;
  LLVMContext& ctx = m.getContext();
  Type* i64 = Type::getInt64Ty(ctx);
  Value* offset = nullptr;  // the function's: Offset()
  const Function* offset_fn = nullptr;

  // The word's TLS offset (initial-exec, through the GOT), loaded once at
  // the function's entry (as Countdown.cpp's TlsOffset).
  Value* Offset(Function& f) {
    if (offset != nullptr && offset_fn == &f) return offset;
    BasicBlock& entry = f.getEntryBlock();
    IRBuilder<> b(&entry, entry.getFirstInsertionPt());
    FunctionType* type = FunctionType::get(i64, false);
    InlineAsm* load = InlineAsm::get(
        type, std::string("movq ") + kSyncStateName + "@GOTTPOFF(%rip), $0",
        "=r", /*hasSideEffects=*/false);
    offset = b.CreateCall(type, load, {}, "trapsan.sync.tpoff");
    offset_fn = &f;
    return offset;
  }

  CallInst* Asm(IRBuilder<>& b, Type* result, const char* text,
                const char* constraints, ArrayRef<Value*> args,
                const DebugLoc& loc) {
    SmallVector<Type*, 2> params;
    for (Value* v : args) params.push_back(v->getType());
    FunctionType* type = FunctionType::get(result, params, false);
    InlineAsm* as =
        InlineAsm::get(type, text, constraints, /*hasSideEffects=*/true);
    CallInst* call = b.CreateCall(type, as, args);
    call->setDebugLoc(loc);
    return call;
  }

  // Before: inside, count advanced; returns the outside bit it had.
  // After: the outside bit as before.
  bool Around(CallBase& call) {
    Value* off = Offset(*call.getFunction());
    IRBuilder<> b(&call);
    Value* outside =
        Asm(b, i64,
            "movq %fs:($1), $0\n\torq $$1, %fs:($1)\n\t"
            "addq $$1, %fs:($1)\n\tandl $$1, ${0:k}",
            "=&r,r,~{flags}", {off}, call.getDebugLoc());
    Instruction* after = AfterOf(call);
    if (after == nullptr) return false;
    IRBuilder<> a(after);
    Asm(a, Type::getVoidTy(ctx), "orq $0, %fs:($1)", "r,r,~{flags}",
        {outside, off}, call.getDebugLoc());
    return true;
  }

  void Advance(Instruction& acquire) {
    Value* off = Offset(*acquire.getFunction());
    IRBuilder<> b(acquire.getNextNode());
    Asm(b, Type::getVoidTy(ctx), "addq $$2, %fs:($0)", "r,~{flags}", {off},
        acquire.getDebugLoc());
  }

  void SetOutside(Function& f) {
    Value* off = Offset(f);
    auto* at = cast<Instruction>(off)->getNextNode();
    IRBuilder<> b(at);
    Asm(b, Type::getVoidTy(ctx), "orq $$1, %fs:($0)", "r,~{flags}", {off},
        DebugLoc());
  }
};

SyncStateCounts EmitInFunction(Function& f, const FunctionSet& instrumented,
                               Emitter& e) {
  SyncStateCounts counts;
  SmallVector<CallBase*, 16> calls;
  SmallVector<Instruction*, 8> acquires;
  for (BasicBlock& bb : f) {
    for (Instruction& inst : bb) {
      if (IsAcquireAtomic(inst)) {
        acquires.push_back(&inst);
      } else if (auto* call = dyn_cast<CallBase>(&inst);
                 call != nullptr && EntersUnseenCode(*call, instrumented)) {
        calls.push_back(call);
      }
    }
  }
  for (CallBase* call : calls) {
    ++counts.calls;
    if (e.Around(*call)) ++counts.restores;
  }
  for (Instruction* inst : acquires) {
    e.Advance(*inst);
    ++counts.acquires;
  }
  // main: entered from the C library's start, which trapsan saw.
  if (f.getName() == "main" && !f.hasLocalLinkage()) e.SetOutside(f);
  return counts;
}

// A symbol name as an assembler operand: quoted unless plain.
std::string AsmSymbol(StringRef name) {
  bool plain = !name.empty() && !isdigit(static_cast<unsigned char>(name[0]));
  for (char c : name)
    plain &= isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
             c == '$';
  if (plain) return name.str();
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

// Entry notes (SyncState.h), as module-level asm: a local alias of each
// function (`.set`: the assembler resolves a reference to it against the
// function's section, never the possibly interposed global symbol) and a
// note whose descriptor is the 8-byte offset from itself to the function.
unsigned EmitEntryNotes(Module& m, const FunctionSet& instrumented) {
  Mangler mangler;
  // Local labels unique to the module (modules' asm may be concatenated).
  const uint64_t module_hash = static_cast<uint64_t>(hash_combine(
      m.getModuleIdentifier(), m.getSourceFileName()));
  std::string text;
  raw_string_ostream os(text);
  unsigned n = 0;
  for (Function& f : m) {
    if (instrumented.count(&f) == 0 || f.isDeclaration() ||
        f.hasAvailableExternallyLinkage())
      continue;
    if (f.hasLocalLinkage() && !f.hasAddressTaken()) continue;
    SmallString<64> name;
    mangler.getNameWithPrefix(name, &f, /*CannotUsePrivateLabel=*/false);
    std::string label = ".Ltrapsan_entry_" + utohexstr(module_hash) + "_" +
                        std::to_string(n++);
    os << ".set " << label << ", " << AsmSymbol(name) << "\n";
    os << ".pushsection .note.trapsan,";
    if (const Comdat* c = f.getComdat())
      os << "\"aG\",@note," << c->getName() << ",comdat\n";
    else
      os << "\"a\",@note\n";
    os << ".balign 4\n.long 8, 8, " << kEntryNoteType
       << "\n.asciz \"trapsan\"\n.quad " << label << " - .\n.popsection\n";
  }
  if (n != 0) m.appendModuleInlineAsm(os.str());
  return n;
}

}  // namespace

bool SyncStateEnabled() {
  const char* env = std::getenv("TRAPSAN_PLUGIN_SYNC_STATE");
  return env != nullptr && env[0] == '1';
}

bool EmitSyncState(Module& m, const FunctionSet& instrumented, bool verify) {
  Emitter e{m};
  SyncStateCounts total;
  for (Function& f : m) {
    if (instrumented.count(&f) == 0) continue;
    const SyncStateCounts c = EmitInFunction(f, instrumented, e);
    total.calls += c.calls;
    total.restores += c.restores;
    total.acquires += c.acquires;
    if (verify && verifyFunction(f, &errs()))
      report_fatal_error("trapsan-plugin: broken IR (sync state) in " +
                         f.getName());
  }
  total.entries = EmitEntryNotes(m, instrumented);
  if (const char* v = std::getenv("TRAPSAN_PLUGIN_VERBOSE");
      v != nullptr && v[0] == '1') {
    errs() << "trapsan-plugin: " << m.getModuleIdentifier()
           << ": sync state: calls " << total.calls << " (restored "
           << total.restores << "), acquires " << total.acquires
           << ", entry notes " << total.entries << "\n";
  }
  return true;
}

}  // namespace trapsan_plugin
