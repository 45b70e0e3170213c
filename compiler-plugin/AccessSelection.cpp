// Which accesses of a function are instrumented: plain loads, stores and
// memintrinsic operands that another thread can reach (not stack slots or
// fresh allocations before their address escapes, not constants or
// thread-locals whose address stays in their thread), less those a later
// store of the same block covers.
#include "Instrumenter.h"
#include "SiteFormat.h"

#include "llvm/Analysis/AliasAnalysis.h"
#include "llvm/Analysis/CaptureTracking.h"
#include "llvm/Analysis/ValueTracking.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/IntrinsicInst.h"

namespace trapsan_plugin {

// Whether `base` is only loaded from and stored to (volatile too), through
// casts and constant GEPs, and named by lifetime and debug intrinsics: its
// address reaches no other thread. LLVM's capture tracking counts a
// volatile access as a capture (the address becomes observable), so a
// `volatile int tmp` on the stack (ThreadSanitizer's lit tests have one in
// most functions) would be instrumented, and a cold label's sample, which
// prefers a write, would watch it instead of the shared data.
static bool OnlyAccessed(const Value* base) {
  SmallVector<const Value*, 8> work{base};
  SmallPtrSet<const Value*, 8> seen{base};
  while (!work.empty()) {
    const Value* v = work.pop_back_val();
    for (const Use& use : v->uses()) {
      const User* user = use.getUser();
      if (auto* load = dyn_cast<LoadInst>(user)) {
        (void)load;
        continue;
      }
      if (auto* store = dyn_cast<StoreInst>(user)) {
        if (store->getPointerOperand() != v) return false;  // stores it
        continue;
      }
      if (auto* ii = dyn_cast<IntrinsicInst>(user)) {
        if (ii->isLifetimeStartOrEnd() || isa<DbgInfoIntrinsic>(ii)) continue;
        return false;
      }
      if (isa<BitCastInst>(user) ||
          (isa<GetElementPtrInst>(user) &&
           cast<GetElementPtrInst>(user)->hasAllConstantIndices())) {
        if (seen.insert(user).second) work.push_back(user);
        continue;
      }
      return false;
    }
  }
  return true;
}

// Whether the address of thread-local `g` may be captured in this module.
// Capture tracking takes instruction users only, so constant expressions of
// it (LLVM 14's typed-pointer bitcasts: &tls_var passed as void*, constant
// GEPs into a thread-local array) are followed to theirs; any other user
// counts as an escape.
static bool ThreadLocalEscapes(const GlobalVariable* g) {
  SmallVector<const Value*, 8> work{g};
  for (size_t i = 0; i < work.size(); ++i) {
    const Value* v = work[i];
    bool instructions_only = true;
    for (const User* u : v->users()) {
      if (isa<Instruction>(u)) continue;
      instructions_only = false;
      if (!isa<ConstantExpr>(u)) return true;
      work.push_back(u);
    }
    if (instructions_only &&
        PointerMayBeCaptured(v, /*ReturnCaptures=*/true, /*StoreCaptures=*/true))
      return true;
    if (!instructions_only) {
      // Its instruction users, one by one (the constant users are in `work`).
      for (const Use& use : v->uses()) {
        if (!isa<Instruction>(use.getUser())) continue;
        if (!isa<LoadInst>(use.getUser()) &&
            !(isa<StoreInst>(use.getUser()) && use.getOperandNo() == 1))
          return true;  // anything but a plain load or store through it
      }
    }
  }
  return false;
}

Instrumenter::Verdict Instrumenter::Classify(Value* addr, const Instruction* at) {
  auto* type = dyn_cast<PointerType>(addr->getType());
  if (type == nullptr || type->getAddressSpace() != 0) return Verdict::kOther;
  if (addr->isSwiftError()) return Verdict::kOther;
  const Value* base = getUnderlyingObject(addr);
#if LLVM_VERSION_MAJOR >= 16
  // Thread-locals are reached through llvm.threadlocal.address.
  if (auto* tls = dyn_cast<IntrinsicInst>(base);
      tls != nullptr &&
      tls->getIntrinsicID() == Intrinsic::threadlocal_address)
    base = tls->getArgOperand(0)->stripPointerCasts();
#endif
  if (auto* g = dyn_cast<GlobalVariable>(base)) {
    if (g->getName() == kCountdownName) return Verdict::kOther;
    if (g->isConstant()) return Verdict::kConstant;
    // Per-thread storage, unless this module lets its address escape (a
    // thread passing &tls_var to another: ThreadSanitizer's tls_race), and
    // profiling counters (racy by design). (An escape in another module is
    // not seen: its accesses here stay unsampled, a miss, never a false
    // report.)
    if (g->isThreadLocal()) {
      auto it = escapes_.find(g);
      if (it == escapes_.end()) {
        it = escapes_.insert({g, ThreadLocalEscapes(g)}).first;
      }
      return it->second ? Verdict::kInstrument : Verdict::kLocal;
    }
    if (g->getName().startswith("__llvm_gcov") ||
        g->getName().startswith("__llvm_profile"))
      return Verdict::kOther;
  }
  if (isa<AllocaInst>(base) || isNoAliasCall(base)) {
    // A stack slot, or memory fresh from an allocation function: no other
    // thread can reach it before its address escapes. Not at all...
    auto it = escapes_.find(base);
    if (it == escapes_.end()) {
      bool escapes = !OnlyAccessed(base) &&
                     PointerMayBeCaptured(base, /*ReturnCaptures=*/true,
                                          /*StoreCaptures=*/true);
      it = escapes_.insert({base, escapes}).first;
    }
    if (!it->second) return Verdict::kLocal;
    // ... or not yet, at this access (e.g. an object being initialized
    // before it is passed on).
    if (!dt_) dt_.emplace(const_cast<Function&>(*at->getFunction()));
    if (!PointerMayBeCapturedBefore(base, /*ReturnCaptures=*/true,
                                    /*StoreCaptures=*/true, at, &*dt_,
                                    /*IncludeI=*/true))
      return Verdict::kLocal;
  }
  return Verdict::kInstrument;
}

void Instrumenter::Count(Verdict v) {
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
SmallPtrSet<const Instruction*, 16> Instrumenter::CoveredAccesses(
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

// The plain loads, stores and memintrinsic operands of `f` that can race
// (Classify), in instruction order, less those another access covers.
SmallVector<Instrumenter::Access, 32> Instrumenter::CollectAccesses(
    Function& f) {
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
      Verdict v = Classify(load->getPointerOperand(), &inst);
      if (v != Verdict::kInstrument) { Count(v); continue; }
      accesses.push_back({load, load->getPointerOperand(),
                          ConstantInt::get(i64, FixedBytes(size)), false});
      ++counts_.loads;
    } else if (auto* store = dyn_cast<StoreInst>(&inst)) {
      if (store->isAtomic()) { ++counts_.skipped_atomic; continue; }
      TypeSize size =
          dl_.getTypeStoreSize(store->getValueOperand()->getType());
      if (size.isScalable()) { ++counts_.skipped_other; continue; }
      Verdict v = Classify(store->getPointerOperand(), &inst);
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
        Verdict v = Classify(transfer->getRawSource(), &inst);
        if (v == Verdict::kInstrument) {
          accesses.push_back({mem, transfer->getRawSource(),
                              mem->getLength(), false});
          any = true;
        } else {
          Count(v);
        }
      }
      Verdict v = Classify(mem->getRawDest(), &inst);
      if (v == Verdict::kInstrument) {
        accesses.push_back({mem, mem->getRawDest(), mem->getLength(), true});
        any = true;
      } else {
        Count(v);
      }
      if (any) ++counts_.memintrinsics;
    }
  }
  return accesses;
}

}  // namespace trapsan_plugin
