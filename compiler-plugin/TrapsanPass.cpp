// trapsan's LLVM pass plugin (new pass manager): instruments plain loads,
// stores and memcpy/memset/memmove with the inline sampling fast path of
// include/trapsan/compiler_abi.h, batched: one countdown update for all the
// accesses of a block up to its next call, atomic or fence (a segment),
// placed after them, that samples one of them:
//
//     if ((__trapsan_countdown -= N) <= 0)       // initial-exec TLS
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
#include "llvm/IR/CFG.h"
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

#include <algorithm>
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
    // Segments: the accesses of a block between two synchronization points
    // (calls, atomics, fences), updated and sampled together just before the
    // next one, while they are still unsynchronized with other threads.
    // Single-block loops without any are done last (their entering blocks
    // have their own updates in place by then).
    struct Segment {
      size_t begin, end;  // in `accesses`
      Instruction* at;
      bool promote;
    };
    SmallVector<Segment, 16> segments;
    size_t next = 0;
    for (BasicBlock& bb : f) {
      const bool promote = IsPromotableSelfLoop(bb);
      size_t begin = next;
      for (Instruction& inst : bb) {
        // Accesses were collected in instruction order. (A memintrinsic is
        // an access, not a sync point.)
        while (next < accesses.size() && accesses[next].inst == &inst) ++next;
        if (!inst.isTerminator() && !IsSyncPoint(inst)) continue;
        if (next > begin) segments.push_back({begin, next, &inst, promote});
        begin = next;
      }
    }
    for (int pass = 0; pass < 2; ++pass)
      for (const Segment& s : segments)
        if (s.promote == (pass == 1))
          InstrumentSegment(s.at, ArrayRef<Access>(accesses).slice(
                                      s.begin, s.end - s.begin),
                            s.promote);
    return !accesses.empty();
  }

  // Where sampling must happen before: after it another thread may be
  // allowed to touch what the segment accessed. Calls (but not the
  // intrinsics that do nothing to memory, nor the memintrinsics, which are
  // accesses), atomics and fences.
  static bool IsSyncPoint(const Instruction& inst) {
    if (inst.isAtomic()) return true;
    auto* call = dyn_cast<CallBase>(&inst);
    if (call == nullptr) return false;
    if (isa<DbgInfoIntrinsic>(call) || isa<MemIntrinsic>(call)) return false;
    if (auto* intrinsic = dyn_cast<IntrinsicInst>(call)) {
      switch (intrinsic->getIntrinsicID()) {
        case Intrinsic::lifetime_start:
        case Intrinsic::lifetime_end:
        case Intrinsic::assume:
        case Intrinsic::experimental_noalias_scope_decl:
          return false;
        default:
          return intrinsic->mayHaveSideEffects();
      }
    }
    return true;
  }

  // A single-block loop (the block branches back to itself) with no sync
  // point: its countdown can live in a register across iterations.
  static bool IsPromotableSelfLoop(BasicBlock& bb) {
    if (bb.isEHPad() || &bb == &bb.getParent()->getEntryBlock()) return false;
    auto* br = dyn_cast<BranchInst>(bb.getTerminator());
    if (br == nullptr || !br->isConditional()) return false;
    if ((br->getSuccessor(0) == &bb) == (br->getSuccessor(1) == &bb))
      return false;
    for (Instruction& inst : bb)
      if (IsSyncPoint(inst)) return false;
    for (BasicBlock* pred : predecessors(&bb)) {
      if (pred == &bb) continue;
      if (isa<CatchSwitchInst>(pred->getTerminator())) return false;
    }
    return true;
  }

  // One countdown update per segment, before `at` (its sync point or the
  // block's terminator), after its accesses:
  //
  //     c = countdown - N; countdown = c;      // N: the segment's accesses
  //     if (c <= 0) [unlikely]                 // crossed zero at access i:
  //       i = N - 1 - ((-c) mod N);            // the crossing one, or any
  //       __trapsan_sample(addr[i], size[i], write[i], 0)   // !dbg = access i
  //
  // The cold block has one call per distinct source line among the
  // segment's accesses (usually one), each with that line as its location; a
  // switch on i picks it and selects pick the access's address, size and
  // kind. In a single-block loop without sync points the countdown is kept
  // in a register: loaded before the loop, stored back on exit and around
  // the call.
  void InstrumentSegment(Instruction* at, ArrayRef<Access> accesses,
                         bool promote) {
    BasicBlock& bb = *at->getParent();
    Type* i32 = Type::getInt32Ty(ctx_);
    Type* i64 = Type::getInt64Ty(ctx_);
    const unsigned n = accesses.size();
    Value* countdown = Countdown();
    DebugLoc hot_loc = accesses.back().inst->getDebugLoc();
    IRBuilder<> b(at);
    b.SetCurrentDebugLocation(hot_loc);
#if LLVM_VERSION_MAJOR >= 17
    Value* countdown_addr = b.CreateThreadLocalAddress(countdown);
#else
    Value* countdown_addr = countdown;
#endif
    PHINode* carried = nullptr;
    Value* before;
    if (promote) {
      IRBuilder<> head(&bb, bb.begin());
      head.SetCurrentDebugLocation(hot_loc);
      carried = head.CreatePHI(i32, 2, "trapsan.cd");
      before = carried;
    } else {
      before = b.CreateLoad(i32, countdown_addr, "trapsan.cd");
    }
    Value* left =
        b.CreateSub(before, ConstantInt::get(i32, n), "trapsan.left");
    if (!promote) b.CreateStore(left, countdown_addr);
    Value* due = b.CreateICmpSLE(left, ConstantInt::get(i32, 0), "trapsan.due");
    MDNode* unlikely = MDBuilder(ctx_).createBranchWeights(1, 1u << 20);
    Instruction* then =
        SplitBlockAndInsertIfThen(due, at, /*Unreachable=*/false, unlikely);
    BasicBlock* cold = then->getParent();
    BasicBlock* tail = cold->getSingleSuccessor();

    IRBuilder<> c(then);
    c.SetCurrentDebugLocation(accesses.front().inst->getDebugLoc());
    if (promote) c.CreateStore(left, countdown_addr);
    // The access to sample: the one at which the countdown crossed zero.
    Value* index = nullptr;
    if (n > 1) {
      Value* over = c.CreateNeg(left, "trapsan.over");
      Value* rem = c.CreateURem(over, ConstantInt::get(i32, n));
      index = c.CreateSub(ConstantInt::get(i32, n - 1), rem, "trapsan.index");
    }
    // Group the accesses by source line (and inlining context).
    struct Group {
      DebugLoc loc;
      SmallVector<unsigned, 8> members;
    };
    SmallVector<Group, 4> groups;
    for (unsigned i = 0; i < n; ++i) {
      const DebugLoc& loc = accesses[i].inst->getDebugLoc();
      Group* found = nullptr;
      for (Group& g : groups) {
        if (SameLine(g.loc, loc)) { found = &g; break; }
      }
      if (found == nullptr) {
        groups.push_back({loc, {}});
        found = &groups.back();
      }
      found->members.push_back(i);
    }
    auto emit_call = [&](IRBuilder<>& cb, const Group& g) {
      // Selects, last member first: member k when index == k.
      auto pick = [&](auto value_of) {
        Value* v = value_of(accesses[g.members.back()]);
        for (size_t k = g.members.size() - 1; k-- > 0;) {
          Value* other = value_of(accesses[g.members[k]]);
          if (other == v) continue;
          v = cb.CreateSelect(
              cb.CreateICmpEQ(index, ConstantInt::get(i32, g.members[k])),
              other, v);
        }
        return v;
      };
      Value* addr = pick([&](const Access& a) {
        return cb.CreatePointerCast(a.addr, BytePtrTy(ctx_));
      });
      Value* size = pick([&](const Access& a) {
        return cb.CreateZExtOrTrunc(a.size, i64);
      });
      Value* write = pick([&](const Access& a) -> Value* {
        return ConstantInt::get(i32, a.is_write ? 1 : 0);
      });
      CallInst* call = cb.CreateCall(
          Sample(), {addr, size, write,
                     ConstantPointerNull::get(
                         cast<PointerType>(BytePtrTy(ctx_)))});
      // The report's top frame is this call's return address: the access's
      // line.
      call->setDebugLoc(g.loc);
    };
    if (groups.size() == 1) {
      c.SetCurrentDebugLocation(groups[0].loc);
      emit_call(c, groups[0]);
    } else {
      // A switch on the index to one call block per line.
      BasicBlock* join = cold->splitBasicBlock(then, "trapsan.sampled");
      cold->getTerminator()->eraseFromParent();
      IRBuilder<> sb(cold);
      sb.SetCurrentDebugLocation(groups[0].loc);
      SmallVector<BasicBlock*, 4> blocks;
      for (const Group& g : groups) {
        BasicBlock* gb = BasicBlock::Create(ctx_, "trapsan.sample", bb.getParent(), join);
        IRBuilder<> gbld(gb);
        gbld.SetCurrentDebugLocation(g.loc);
        emit_call(gbld, g);
        gbld.CreateBr(join);
        blocks.push_back(gb);
      }
      SwitchInst* sw = sb.CreateSwitch(index, blocks.back(), n);
      for (size_t k = 0; k + 1 < groups.size(); ++k)
        for (unsigned i : groups[k].members)
          sw->addCase(ConstantInt::get(cast<IntegerType>(i32), i), blocks[k]);
    }
    if (!promote) return;

    // The loop-carried countdown: reloaded after a sample (the runtime
    // refilled it), loaded in every entering block, stored on every exit.
    BasicBlock* sampled_end = nullptr;
    for (BasicBlock* pred : predecessors(tail))
      if (pred != &bb) sampled_end = pred;
    IRBuilder<> rl(sampled_end->getTerminator());
    rl.SetCurrentDebugLocation(hot_loc);
    Value* refilled = rl.CreateLoad(i32, countdown_addr, "trapsan.refilled");
    IRBuilder<> tb(tail, tail->begin());
    tb.SetCurrentDebugLocation(hot_loc);
    PHINode* next = tb.CreatePHI(i32, 2, "trapsan.next");
    next->addIncoming(left, &bb);
    next->addIncoming(refilled, sampled_end);
    DenseMap<BasicBlock*, Value*> entry_loads;
    SmallVector<BasicBlock*, 4> preds(predecessors(&bb));
    for (BasicBlock* pred : preds) {
      if (pred == tail) {
        carried->addIncoming(next, tail);
        continue;
      }
      Value*& v = entry_loads[pred];
      if (v == nullptr) {
        IRBuilder<> pb(pred->getTerminator());
        pb.SetCurrentDebugLocation(hot_loc);
        v = pb.CreateLoad(i32, countdown_addr, "trapsan.cd.entry");
      }
      carried->addIncoming(v, pred);
    }
    auto* br = cast<BranchInst>(tail->getTerminator());
    BasicBlock* exit = br->getSuccessor(0) == &bb ? br->getSuccessor(1)
                                                  : br->getSuccessor(0);
    BasicBlock* exit_edge = SplitEdge(tail, exit);
    IRBuilder<> eb(exit_edge->getTerminator());
    eb.SetCurrentDebugLocation(hot_loc);
    eb.CreateStore(next, countdown_addr);
  }

  static bool SameLine(const DebugLoc& a, const DebugLoc& b) {
    if (!a || !b) return !a && !b;
    return a.getLine() == b.getLine() && a->getScope() == b->getScope() &&
           a->getInlinedAt() == b->getInlinedAt();
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
