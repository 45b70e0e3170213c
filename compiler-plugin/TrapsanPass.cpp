// trapsan's LLVM pass plugin (new pass manager): instruments plain loads,
// stores and memcpy/memset/memmove with the inline sampling fast path of
// include/trapsan/compiler_abi.h:
//
//     if (--__trapsan_countdown <= 0)            // initial-exec TLS
//       __trapsan_sample(addr, size, is_write, /*pc=*/NULL);   // !dbg = access
//
// Use: clang-14 -fpass-plugin=TrapsanPlugin.so -g -fno-omit-frame-pointer ...
// or opt-14 -load-pass-plugin=TrapsanPlugin.so -passes=trapsan.
// docs/compiler-plugin.md says what is instrumented and what is skipped.
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Analysis/CaptureTracking.h"
#include "llvm/Analysis/ValueTracking.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/DataLayout.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/MDBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/PassManager.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Passes/PassPlugin.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Transforms/Utils/BasicBlockUtils.h"

#include <cstdlib>

#if LLVM_VERSION_MAJOR < 14 || LLVM_VERSION_MAJOR > 16
#warning "trapsan's plugin is written for LLVM 14 to 16"
#endif

using namespace llvm;

namespace {

constexpr char kCountdownName[] = "__trapsan_countdown";
constexpr char kSampleName[] = "__trapsan_sample";
constexpr char kNoInstrumentAnnotation[] = "trapsan_no_instrument";
constexpr char kInstrumentedFlag[] = "trapsan.instrumented";

// What the pass did, for TRAPSAN_PLUGIN_VERBOSE=1 (one line per module).
struct Counts {
  unsigned functions = 0, functions_skipped = 0;
  unsigned loads = 0, stores = 0, memintrinsics = 0;
  unsigned skipped_atomic = 0, skipped_local = 0, skipped_constant = 0,
           skipped_covered = 0, skipped_other = 0;
};

uint64_t FixedBytes(TypeSize size) {
#if LLVM_VERSION_MAJOR >= 16
  return size.getFixedValue();
#else
  return size.getFixedSize();
#endif
}

Type* BytePtrTy(LLVMContext& ctx) {
#if LLVM_VERSION_MAJOR >= 17
  return PointerType::getUnqual(ctx);
#else
  return Type::getInt8PtrTy(ctx);
#endif
}

// Functions named in llvm.global.annotations with "trapsan_no_instrument"
// (the TRAPSAN_NO_INSTRUMENT macro of include/trapsan/annotations.h).
SmallPtrSet<const Function*, 8> OptedOutFunctions(Module& m) {
  SmallPtrSet<const Function*, 8> out;
  GlobalVariable* annotations = m.getNamedGlobal("llvm.global.annotations");
  if (annotations == nullptr || !annotations->hasInitializer()) return out;
  auto* array = dyn_cast<ConstantArray>(annotations->getInitializer());
  if (array == nullptr) return out;
  for (const Use& op : array->operands()) {
    auto* entry = dyn_cast<ConstantStruct>(op.get());
    if (entry == nullptr || entry->getNumOperands() < 2) continue;
    auto* fn = dyn_cast<Function>(entry->getOperand(0)->stripPointerCasts());
    auto* str =
        dyn_cast<GlobalVariable>(entry->getOperand(1)->stripPointerCasts());
    if (fn == nullptr || str == nullptr || !str->hasInitializer()) continue;
    auto* data = dyn_cast<ConstantDataSequential>(str->getInitializer());
    if (data == nullptr || !data->isString()) continue;
    StringRef text = data->getAsString();
    text = text.take_until([](char c) { return c == '\0'; });
    if (text == kNoInstrumentAnnotation) out.insert(fn);
  }
  return out;
}

class Instrumenter {
 public:
  explicit Instrumenter(Module& m)
      : m_(m), ctx_(m.getContext()), dl_(m.getDataLayout()) {}

  bool Run() {
    // The runtime itself (it defines the countdown) is never instrumented.
    if (GlobalVariable* g = m_.getNamedGlobal(kCountdownName);
        g != nullptr && !g->isDeclaration())
      return false;
    // Instrumented once: a ThinLTO backend runs OptimizerLastEP again.
    if (m_.getModuleFlag(kInstrumentedFlag) != nullptr) return false;
    m_.addModuleFlag(Module::Max, kInstrumentedFlag, 1);
    const auto opted_out = OptedOutFunctions(m_);
    // clang records no_sanitize("thread") only under -fsanitize=thread: then
    // every other function carries sanitize_thread and the ones without it
    // are opted out.
    bool module_has_sanitize_thread = false;
    for (Function& f : m_)
      if (f.hasFnAttribute(Attribute::SanitizeThread))
        module_has_sanitize_thread = true;

    bool changed = false;
    for (Function& f : m_) {
      if (f.isDeclaration()) continue;
      if (f.hasFnAttribute(Attribute::DisableSanitizerInstrumentation) ||
          f.hasFnAttribute(Attribute::Naked) || opted_out.count(&f) != 0 ||
          (module_has_sanitize_thread &&
           !f.hasFnAttribute(Attribute::SanitizeThread)) ||
          f.getName().startswith("__trapsan_")) {
        ++counts_.functions_skipped;
        continue;
      }
      ++counts_.functions;
      changed |= InstrumentFunction(f);
    }
    if (const char* v = std::getenv("TRAPSAN_PLUGIN_VERBOSE");
        v != nullptr && v[0] == '1') {
      errs() << "trapsan-plugin: " << m_.getModuleIdentifier() << ": functions "
             << counts_.functions << " (skipped " << counts_.functions_skipped
             << "), instrumented loads " << counts_.loads << " stores "
             << counts_.stores << " memintrinsics " << counts_.memintrinsics
             << "; skipped atomic " << counts_.skipped_atomic
             << " local " << counts_.skipped_local << " constant "
             << counts_.skipped_constant << " covered " << counts_.skipped_covered
             << " other " << counts_.skipped_other
             << "\n";
    }
    return changed;
  }

 private:
  struct Access {
    Instruction* inst;
    Value* addr;
    Value* size;  // i64
    bool is_write;
  };

  GlobalVariable* Countdown() {
    if (countdown_ != nullptr) return countdown_;
    Type* i32 = Type::getInt32Ty(ctx_);
    GlobalVariable* g = m_.getNamedGlobal(kCountdownName);
    if (g == nullptr) {
      g = new GlobalVariable(m_, i32, /*isConstant=*/false,
                             GlobalValue::ExternalLinkage, nullptr,
                             kCountdownName, nullptr,
                             GlobalValue::InitialExecTLSModel);
    }
    g->setThreadLocalMode(GlobalValue::InitialExecTLSModel);
    countdown_ = g;
    return g;
  }

  FunctionCallee Sample() {
    if (sample_) return sample_;
    Type* ptr = BytePtrTy(ctx_);
    FunctionType* type = FunctionType::get(
        Type::getVoidTy(ctx_),
        {ptr, Type::getInt64Ty(ctx_), Type::getInt32Ty(ctx_), ptr}, false);
    sample_ = m_.getOrInsertFunction(kSampleName, type);
    if (auto* f = dyn_cast<Function>(sample_.getCallee())) {
      f->addFnAttr(Attribute::NoUnwind);
    }
    return sample_;
  }

  // Whether an access to `addr` can race at all.
  enum class Verdict { kInstrument, kLocal, kConstant, kOther };
  Verdict Classify(Value* addr) {
    auto* type = dyn_cast<PointerType>(addr->getType());
    if (type == nullptr || type->getAddressSpace() != 0) return Verdict::kOther;
    if (addr->isSwiftError()) return Verdict::kOther;
    const Value* base = getUnderlyingObject(addr);
    if (auto* g = dyn_cast<GlobalVariable>(base)) {
      if (g->getName() == kCountdownName) return Verdict::kOther;
      if (g->isConstant()) return Verdict::kConstant;
      // Per-thread storage, and profiling counters (racy by design).
      if (g->isThreadLocal()) return Verdict::kLocal;
      if (g->getName().startswith("__llvm_gcov") ||
          g->getName().startswith("__llvm_profile"))
        return Verdict::kOther;
    }
    if (auto* alloca = dyn_cast<AllocaInst>(base)) {
      auto it = alloca_escapes_.find(alloca);
      if (it == alloca_escapes_.end()) {
        bool escapes = PointerMayBeCaptured(alloca, /*ReturnCaptures=*/true,
                                            /*StoreCaptures=*/true);
        it = alloca_escapes_.insert({alloca, escapes}).first;
      }
      if (!it->second) return Verdict::kLocal;
    }
    return Verdict::kInstrument;
  }

  void Count(Verdict v) {
    switch (v) {
      case Verdict::kLocal: ++counts_.skipped_local; break;
      case Verdict::kConstant: ++counts_.skipped_constant; break;
      case Verdict::kOther: ++counts_.skipped_other; break;
      case Verdict::kInstrument: break;
    }
  }

  // Plain loads and stores followed in their block, with no call, atomic or
  // fence in between, by a plain store of at least as many bytes through the
  // same pointer: that store's sample covers them (a sampled write watches
  // other threads' reads and writes alike), as ThreadSanitizer does. `x += 1`
  // is one sampled write, not a read and a write.
  static SmallPtrSet<const Instruction*, 16> CoveredAccesses(
      Function& f, const DataLayout& dl) {
    SmallPtrSet<const Instruction*, 16> covered;
    for (BasicBlock& bb : f) {
      DenseMap<const Value*, uint64_t> later_stores;  // pointer -> bytes
      for (auto it = bb.rbegin(); it != bb.rend(); ++it) {
        Instruction& inst = *it;
        const Value* ptr = nullptr;
        TypeSize size = TypeSize::getFixed(0);
        bool is_store = false;
        if (auto* store = dyn_cast<StoreInst>(&inst)) {
          if (store->isAtomic()) { later_stores.clear(); continue; }
          ptr = store->getPointerOperand();
          size = dl.getTypeStoreSize(store->getValueOperand()->getType());
          is_store = true;
        } else if (auto* load = dyn_cast<LoadInst>(&inst)) {
          if (load->isAtomic()) { later_stores.clear(); continue; }
          ptr = load->getPointerOperand();
          size = dl.getTypeStoreSize(load->getType());
        } else if ((isa<CallBase>(inst) && !isa<DbgInfoIntrinsic>(inst)) ||
                   inst.isAtomic() || isa<FenceInst>(inst)) {
          later_stores.clear();
          continue;
        } else {
          continue;
        }
        if (size.isScalable()) continue;
        ptr = ptr->stripPointerCasts();  // typed pointers: a bitcast per use
        const uint64_t bytes = FixedBytes(size);
        auto later = later_stores.find(ptr);
        if (later != later_stores.end() && later->second >= bytes) {
          covered.insert(&inst);
          continue;
        }
        if (is_store && inst.getMetadata("nosanitize") == nullptr)
          later_stores[ptr] = bytes;
      }
    }
    return covered;
  }

  bool InstrumentFunction(Function& f) {
    alloca_escapes_.clear();
    Type* i64 = Type::getInt64Ty(ctx_);
    SmallVector<Access, 32> accesses;
    const auto covered = CoveredAccesses(f, dl_);
    for (Instruction& inst : instructions(f)) {
      if (inst.getMetadata("nosanitize") != nullptr) continue;  // e.g. UBSan checks
      if (covered.count(&inst) != 0) { ++counts_.skipped_covered; continue; }
      if (auto* load = dyn_cast<LoadInst>(&inst)) {
        if (load->isAtomic()) { ++counts_.skipped_atomic; continue; }
        if (load->hasMetadata(LLVMContext::MD_invariant_load)) {
          ++counts_.skipped_constant;
          continue;
        }
        TypeSize size = dl_.getTypeStoreSize(load->getType());
        if (size.isScalable()) { ++counts_.skipped_other; continue; }
        Verdict v = Classify(load->getPointerOperand());
        if (v != Verdict::kInstrument) { Count(v); continue; }
        accesses.push_back({load, load->getPointerOperand(),
                            ConstantInt::get(i64, FixedBytes(size)), false});
        ++counts_.loads;
      } else if (auto* store = dyn_cast<StoreInst>(&inst)) {
        if (store->isAtomic()) { ++counts_.skipped_atomic; continue; }
        TypeSize size =
            dl_.getTypeStoreSize(store->getValueOperand()->getType());
        if (size.isScalable()) { ++counts_.skipped_other; continue; }
        Verdict v = Classify(store->getPointerOperand());
        if (v != Verdict::kInstrument) { Count(v); continue; }
        accesses.push_back({store, store->getPointerOperand(),
                            ConstantInt::get(i64, FixedBytes(size)), true});
        ++counts_.stores;
      } else if (auto* mem = dyn_cast<MemIntrinsic>(&inst)) {
        // memcpy/memmove/memset (the element-wise atomic ones are not
        // MemIntrinsics). A zero length touches nothing.
        if (auto* len = dyn_cast<ConstantInt>(mem->getLength());
            len != nullptr && len->isZero())
          continue;
        bool any = false;
        if (auto* transfer = dyn_cast<MemTransferInst>(mem)) {
          Verdict v = Classify(transfer->getRawSource());
          if (v == Verdict::kInstrument) {
            accesses.push_back({mem, transfer->getRawSource(),
                                mem->getLength(), false});
            any = true;
          } else {
            Count(v);
          }
        }
        Verdict v = Classify(mem->getRawDest());
        if (v == Verdict::kInstrument) {
          accesses.push_back({mem, mem->getRawDest(), mem->getLength(), true});
          any = true;
        } else {
          Count(v);
        }
        if (any) ++counts_.memintrinsics;
      }
    }
    for (const Access& a : accesses) Instrument(a);
    return !accesses.empty();
  }

  // Before `a.inst`:  c = countdown - 1; countdown = c;
  //                   if (c <= 0) [unlikely] __trapsan_sample(addr, size, w, 0)
  void Instrument(const Access& a) {
    const DebugLoc& loc = a.inst->getDebugLoc();
    IRBuilder<> b(a.inst);
    b.SetCurrentDebugLocation(loc);
    Type* i32 = Type::getInt32Ty(ctx_);
    Value* countdown = Countdown();
#if LLVM_VERSION_MAJOR >= 17
    countdown = b.CreateThreadLocalAddress(countdown);
#endif
    Value* left = b.CreateSub(b.CreateLoad(i32, countdown, "trapsan.cd"),
                              ConstantInt::get(i32, 1), "trapsan.left");
    b.CreateStore(left, countdown);
    Value* due = b.CreateICmpSLE(left, ConstantInt::get(i32, 0), "trapsan.due");
    MDNode* unlikely = MDBuilder(ctx_).createBranchWeights(1, 1u << 20);
    Instruction* then = SplitBlockAndInsertIfThen(due, a.inst,
                                                  /*Unreachable=*/false,
                                                  unlikely);
    IRBuilder<> slow(then);
    slow.SetCurrentDebugLocation(loc);
    Value* size = slow.CreateZExtOrTrunc(a.size, Type::getInt64Ty(ctx_));
    Value* addr = slow.CreatePointerCast(a.addr, BytePtrTy(ctx_));
    CallInst* call = slow.CreateCall(
        Sample(), {addr, size, ConstantInt::get(i32, a.is_write ? 1 : 0),
                   ConstantPointerNull::get(
                       cast<PointerType>(BytePtrTy(ctx_)))});
    // The report's top frame is this call's return address: the access's line.
    call->setDebugLoc(loc);
  }

  Module& m_;
  LLVMContext& ctx_;
  const DataLayout& dl_;
  GlobalVariable* countdown_ = nullptr;
  FunctionCallee sample_;
  DenseMap<const AllocaInst*, bool> alloca_escapes_;
  Counts counts_;
};

struct TrapsanPass : PassInfoMixin<TrapsanPass> {
  PreservedAnalyses run(Module& m, ModuleAnalysisManager&) {
    return Instrumenter(m).Run() ? PreservedAnalyses::none()
                                 : PreservedAnalyses::all();
  }
  // Runs on optnone (-O0) functions too.
  static bool isRequired() { return true; }
};

}  // namespace

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo llvmGetPassPluginInfo() {
  return {LLVM_PLUGIN_API_VERSION, "trapsan", "0.1.0", [](PassBuilder& pb) {
            // After the optimizer, as ThreadSanitizer: only the accesses that
            // survive optimization are instrumented. In LLVM 14 to 16 clang's
            // -O0 pipeline runs this extension point too.
            pb.registerOptimizerLastEPCallback(
                [](ModulePassManager& mpm, OptimizationLevel
#if LLVM_VERSION_MAJOR >= 20
                   , ThinOrFullLTOPhase
#endif
                ) { mpm.addPass(TrapsanPass()); });
            // opt -load-pass-plugin=TrapsanPlugin.so -passes=trapsan
            pb.registerPipelineParsingCallback(
                [](StringRef name, ModulePassManager& mpm,
                   ArrayRef<PassBuilder::PipelineElement>) {
                  if (name != "trapsan") return false;
                  mpm.addPass(TrapsanPass());
                  return true;
                });
          }};
}
