#include "ReleasePoints.h"

#include "Instrumenter.h"

#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InlineAsm.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/MDBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/Transforms/Utils/BasicBlockUtils.h"

#include <cstdlib>

namespace trapsan_plugin {
namespace {

constexpr const char* kWindowsOpenName = "__trapsan_windows_open";
constexpr const char* kReleaseName = "__trapsan_release";

bool IsRelease(AtomicOrdering o) {
  return o == AtomicOrdering::Release || o == AtomicOrdering::AcquireRelease ||
         o == AtomicOrdering::SequentiallyConsistent;
}

// trapsan's own inline asm (sites, labels, the countdown's TLS offset).
bool IsTrapsanAsm(const CallBase& call) {
  auto* as = dyn_cast<InlineAsm>(call.getCalledOperand());
  if (as == nullptr) return false;
  const std::string& text = as->getAsmString();
  return text.find("trapsan") != std::string::npos;
}

using FunctionSet = SmallPtrSetImpl<const Function*>;

// A definition of this module that the pass instruments and that no other
// definition can replace at link or load time.
bool IsInstrumentedHere(const Function* f, const FunctionSet& instrumented) {
  return f != nullptr && !f->isDeclaration() && instrumented.count(f) != 0 &&
         (f->hasLocalLinkage() ||
          (f->hasExternalLinkage() && !f->isInterposable()));
}

// Every caller of f is instrumented code: f is internal, its address never
// escapes, and each use is a direct call from an instrumented function.
bool OnlyInstrumentedCallers(const Function& f,
                             const FunctionSet& instrumented) {
  if (!f.hasLocalLinkage()) return false;
  for (const User* user : f.users()) {
    auto* call = dyn_cast<CallBase>(user);
    if (call == nullptr || call->getCalledFunction() != &f) return false;
    if (instrumented.count(call->getFunction()) == 0) return false;
  }
  return true;
}

bool IsReleasePoint(Instruction& inst, bool returns_to_instrumented,
                    const FunctionSet& instrumented) {
  if (auto* s = dyn_cast<StoreInst>(&inst))
    return s->isAtomic() && IsRelease(s->getOrdering());
  if (auto* rmw = dyn_cast<AtomicRMWInst>(&inst))
    return IsRelease(rmw->getOrdering());
  if (auto* cx = dyn_cast<AtomicCmpXchgInst>(&inst))
    return IsRelease(cx->getSuccessOrdering()) ||
           IsRelease(cx->getFailureOrdering());
  if (auto* fence = dyn_cast<FenceInst>(&inst))
    return IsRelease(fence->getOrdering());
  if (isa<ReturnInst>(&inst)) return !returns_to_instrumented;
  if (isa<ResumeInst>(&inst)) return true;
  auto* call = dyn_cast<CallBase>(&inst);
  if (call == nullptr) return false;
  if (call->isInlineAsm()) return !IsTrapsanAsm(*call);
  if (const Function* callee = call->getCalledFunction()) {
    if (callee->getName() == kReleaseName) return false;
    // Its own release points are marked.
    if (IsInstrumentedHere(callee, instrumented)) return false;
  }
  return Instrumenter::IsSyncPoint(inst);
}

// Where the test goes: right before `inst`, except before the `musttail`
// call a `ret` must directly follow.
Instruction* InsertionPoint(Instruction& inst) {
  if (isa<ReturnInst>(&inst)) {
    if (Instruction* prev = inst.getPrevNode()) {
      if (auto* call = dyn_cast<CallInst>(prev);
          call != nullptr && call->isMustTailCall()) {
        return nullptr;  // the musttail call is a release point itself
      }
    }
  }
  return &inst;
}

}  // namespace

bool ReleasePointsEnabled() {
  const char* env = std::getenv("TRAPSAN_PLUGIN_RELEASE_POINTS");
  return env == nullptr || env[0] != '0';
}

unsigned MarkReleasePoints(Function& f, const FunctionSet& instrumented) {
  const bool returns_to_instrumented = OnlyInstrumentedCallers(f, instrumented);
  Module& m = *f.getParent();
  LLVMContext& ctx = m.getContext();
  Type* i32 = Type::getInt32Ty(ctx);
  SmallVector<Instruction*, 16> points;
  for (BasicBlock& bb : f) {
    // EH pads and their funclets are left alone (a landingpad's block is
    // fine: the test goes after it, before the point).
    for (Instruction& inst : bb) {
      if (IsReleasePoint(inst, returns_to_instrumented, instrumented)) {
        if (Instruction* at = InsertionPoint(inst)) points.push_back(at);
      }
    }
  }
  if (points.empty()) return 0;

  GlobalVariable* open = m.getNamedGlobal(kWindowsOpenName);
  if (open == nullptr) {
    open = new GlobalVariable(m, i32, /*isConstant=*/false,
                              GlobalValue::ExternalLinkage, nullptr,
                              kWindowsOpenName, nullptr,
                              GlobalValue::InitialExecTLSModel);
  }
  FunctionCallee release =
      m.getOrInsertFunction(kReleaseName, FunctionType::get(
                                              Type::getVoidTy(ctx), false));
  if (auto* fn = dyn_cast<Function>(release.getCallee())) {
    fn->addFnAttr(Attribute::NoUnwind);
  }
  MDNode* unlikely = MDBuilder(ctx).createBranchWeights(1, 1000);
  for (Instruction* at : points) {
    IRBuilder<> b(at);
    b.SetCurrentDebugLocation(at->getDebugLoc());
    Value* flag = b.CreateLoad(i32, open, "trapsan.wopen");
    Value* set = b.CreateICmpNE(flag, ConstantInt::get(i32, 0));
    Instruction* then = SplitBlockAndInsertIfThen(set, at, false, unlikely);
    IRBuilder<> tb(then);
    tb.SetCurrentDebugLocation(at->getDebugLoc());
    tb.CreateCall(release);
  }
  return static_cast<unsigned>(points.size());
}

}  // namespace trapsan_plugin
