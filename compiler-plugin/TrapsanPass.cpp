// trapsan's LLVM pass plugin (new pass manager): instruments plain loads,
// stores and memcpy/memset/memmove with the inline sampling fast path of
// include/trapsan/compiler_abi.h, batched. The accesses of a segment (up to
// the next call that may synchronize, atomic or fence; moved across blocks
// where every path still counts them once) get one label site after them:
//
//     2: nop; <note>
//
// whose ELF note says in which registers or frame slots their addresses
// are. A region (a function's code outside loops, or one loop's body) gets
// one countdown check at its head, by the accesses a pass is expected to
// make:
//
//     subl $N, %fs:(tpoff); jg 1f
//     call *__trapsan_site@GOTPCREL(%rip); 2: <note>; 1:
//
// and the runtime (runtime/linux/labels.cpp) sets an execution breakpoint on
// one of the region's labels when it expires. Single-block loops keep a
// calling site (the check's asm after their accesses, naming them in its
// note, with the countdown in a register: runtime/linux/sites.cpp).
//
// Use: clang-14 -fpass-plugin=TrapsanPlugin.so -g -fno-omit-frame-pointer ...
// or opt-14 -load-pass-plugin=TrapsanPlugin.so -passes=trapsan.
// docs/compiler-plugin.md says what is instrumented and what is skipped.
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/PostOrderIterator.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Triple.h"
#include "llvm/Analysis/AliasAnalysis.h"
#include "llvm/Analysis/BlockFrequencyInfo.h"
#include "llvm/Analysis/BranchProbabilityInfo.h"
#include "llvm/Analysis/CaptureTracking.h"
#include "llvm/Analysis/LoopInfo.h"
#include "llvm/IR/Dominators.h"
#include "llvm/Analysis/ValueTracking.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/IR/CFG.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/DataLayout.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InlineAsm.h"
#include "llvm/IR/InstIterator.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/MDBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/PassManager.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Passes/PassPlugin.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"
#include "llvm/Transforms/Utils/BasicBlockUtils.h"

#include <algorithm>
#include <cstdlib>
#include <optional>

#if LLVM_VERSION_MAJOR < 14 || LLVM_VERSION_MAJOR > 16
#warning "trapsan's plugin is written for LLVM 14 to 16"
#endif

using namespace llvm;

namespace {

constexpr char kCountdownName[] = "__trapsan_countdown";
// How a check or calling site calls the runtime: through the GOT, never
// through a PLT. The site's registers, flags and vector state are all live
// (site_stub.S saves them), and a PLT's first, lazily bound call would run
// the dynamic linker's resolver first, which clobbers r10, r11 and flags
// (the program then loses live values on its first sample). A GOT entry is
// bound when the object is loaded (R_X86_64_GLOB_DAT) whatever the binding
// mode (-z lazy, -z now, dlopen); where the symbol is local (libtrapsan.a
// linked in) the linker relaxes this to a direct call (GOTPCRELX). The note's
// site is the return address, so the call's length (6 bytes) matters not.
constexpr char kSiteCall[] = "call *__trapsan_site@GOTPCREL(%rip)";
// The site note's layout: runtime/linux/sites.h.
constexpr uint32_t kSiteNoteType = 0x54534e01;
constexpr unsigned kSiteVersion = 4;
constexpr unsigned kNoOperandIndex = 0xff;
constexpr unsigned kSiteCountdownInRegister = 1;
constexpr unsigned kSiteLabel = 2;
constexpr unsigned kSiteCheck = 4;
// A label's weight is its expected accesses per pass through its region's
// check, in 1/kWeightUnit.
constexpr unsigned kWeightUnit = 1024;
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
    // The sites are x86-64 ELF assembly, the runtime x86-64 Linux.
    const Triple triple(m_.getTargetTriple());
    if (triple.getArch() != Triple::x86_64 || !triple.isOSBinFormatELF()) {
      errs() << "trapsan-plugin: warning: " << m_.getModuleIdentifier()
             << ": target " << m_.getTargetTriple()
             << " is not supported (x86-64 ELF only): not instrumented\n";
      return false;
    }
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
    // TRAPSAN_PLUGIN_VERIFY=1: check each instrumented function (tests).
    const char* verify_env = std::getenv("TRAPSAN_PLUGIN_VERIFY");
    const bool verify = verify_env != nullptr && verify_env[0] == '1';
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
      if (InstrumentFunction(f)) {
        changed = true;
        if (verify && verifyFunction(f, &errs()))
          report_fatal_error("trapsan-plugin: broken IR in " + f.getName());
      }
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

  // The countdown's address as a %fs-relative pointer (address space 257
  // is %fs on x86-64): no GOT load besides TlsOffset's.
  Value* CountdownPointer(IRBuilder<>& b, Function& f) {
    return b.CreateIntToPtr(
        TlsOffset(f), PointerType::get(Type::getInt32Ty(ctx_), 257),
        "trapsan.cd.addr");
  }

  // Whether an access to `addr` can race at all.
  enum class Verdict { kInstrument, kLocal, kConstant, kOther };
  Verdict Classify(Value* addr, const Instruction* at) {
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
      // Per-thread storage, and profiling counters (racy by design).
      if (g->isThreadLocal()) return Verdict::kLocal;
      if (g->getName().startswith("__llvm_gcov") ||
          g->getName().startswith("__llvm_profile"))
        return Verdict::kOther;
    }
    if (isa<AllocaInst>(base) || isNoAliasCall(base)) {
      // A stack slot, or memory fresh from an allocation function: no other
      // thread can reach it before its address escapes. Not at all...
      auto it = escapes_.find(base);
      if (it == escapes_.end()) {
        bool escapes = PointerMayBeCaptured(base, /*ReturnCaptures=*/true,
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
    escapes_.clear();
    peeled_.clear();
    dt_.reset();
    promoted_.clear();
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
    // Segments: the accesses of a block between two synchronization points
    // (calls, atomics, fences), updated and sampled together just before the
    // next one, while they are still unsynchronized with other threads.
    std::vector<Segment> segments;
    DenseMap<BasicBlock*, unsigned> leading, trailing;  // -> segment index
    size_t next = 0;
    for (BasicBlock& bb : f) {
      const bool promote = IsPromotableSelfLoop(bb);
      size_t begin = next;
      bool first = true;
      for (Instruction& inst : bb) {
        // Accesses were collected in instruction order. (A memintrinsic is
        // an access, not a sync point.)
        while (next < accesses.size() && accesses[next].inst == &inst) ++next;
        if (!inst.isTerminator() && !IsSyncPoint(inst)) continue;
        if (next > begin || (first && !promote)) {
          // (An empty leading segment is kept: accesses may move into it.)
          if (first) leading[&bb] = segments.size();
          if (inst.isTerminator()) trailing[&bb] = segments.size();
          segments.push_back(
              {SmallVector<Access, 8>(accesses.begin() + begin,
                                      accesses.begin() + next),
               &inst, promote, false});
        }
        first = false;
        begin = next;
      }
    }
    // Across blocks: a block's trailing accesses (after its last sync point)
    // move into its successors' leading segments when each successor is
    // entered only from it, so that every path still counts them once. A
    // successor without accesses of its own takes them only when it is the
    // only one (else a site would become two). In reverse post-order, so
    // they keep moving down straight-line code and diamonds.
    ReversePostOrderTraversal<Function*> rpo(&f);
    for (BasicBlock* bb : rpo) {
      auto t = trailing.find(bb);
      if (t == trailing.end()) continue;
      Segment& tail = segments[t->second];
      if (tail.accesses.empty() || tail.promote) continue;
      Instruction* term = bb->getTerminator();
      if (IsSyncPoint(*term)) continue;  // an invoke that may synchronize
      SmallVector<BasicBlock*, 4> succs;
      if (auto* invoke = dyn_cast<InvokeInst>(term)) {
        // (A non-sync call: if it throws, the accesses go uncounted.)
        succs.push_back(invoke->getNormalDest());
      } else if (isa<BranchInst>(term) || isa<SwitchInst>(term)) {
        succs.append(succ_begin(bb), succ_end(bb));
      } else {
        continue;
      }
      bool movable = !succs.empty();
      for (BasicBlock* s : succs) {
        if (s == bb || s->getSinglePredecessor() != bb || s->isEHPad() ||
            !leading.count(s) || segments[leading[s]].promote ||
            (succs.size() > 1 && segments[leading[s]].accesses.empty()))
          movable = false;
      }
      if (!movable) continue;
      for (BasicBlock* s : succs) {
        Segment& head = segments[leading[s]];
        head.accesses.insert(head.accesses.begin(), tail.accesses.begin(),
                             tail.accesses.end());
      }
      tail.accesses.clear();
    }
    // Joins: the trailing accesses of several predecessors become one site
    // in the join, with a variant per way in; each predecessor passes the
    // step of its variant in a register (a phi): ~5 bytes instead of its
    // own ~13-byte site. A predecessor qualifies when the join is its only
    // successor or its other successors take its accesses directly, and
    // the accesses' bases are available in the join. Done when it saves
    // bytes by that estimate.
    // (Label sites cost a byte: nothing to save.)
    std::vector<JoinSite> joins;
    for (BasicBlock* j : rpo) {
      if (use_labels_) break;
      if (j->getSinglePredecessor() != nullptr || j->isEHPad() ||
          !leading.count(j) || segments[leading[j]].promote)
        continue;
      SmallVector<BasicBlock*, 8> preds;
      bool ok = true;
      for (BasicBlock* p : predecessors(j)) {
        if (!is_contained(preds, p)) preds.push_back(p);
        Instruction* term = p->getTerminator();
        if (!isa<BranchInst>(term) && !isa<SwitchInst>(term) &&
            !isa<InvokeInst>(term))
          ok = false;
      }
      if (!ok || preds.size() < 2 || preds.size() > 16) continue;
      Segment& head = segments[leading[j]];
      SmallPtrSet<Value*, 8> values;
      AddOperandValues(head.accesses, values);
      SmallVector<BasicBlock*, 8> takers;
      for (BasicBlock* p : preds) {
        auto t = trailing.find(p);
        if (p == j || t == trailing.end()) continue;
        Segment& tail = segments[t->second];
        if (tail.accesses.empty() || tail.promote || tail.joined ||
            &tail == &head || IsSyncPoint(*p->getTerminator()))
          continue;
        if (auto* invoke = dyn_cast<InvokeInst>(p->getTerminator());
            invoke != nullptr && invoke->getNormalDest() != j)
          continue;
        bool others_take = true;
        if (!isa<InvokeInst>(p->getTerminator())) {
          for (BasicBlock* s : successors(p)) {
            if (s == j) continue;
            if (s == p || s->getSinglePredecessor() != p || s->isEHPad() ||
                !leading.count(s) || segments[leading[s]].promote ||
                segments[leading[s]].accesses.empty())
              others_take = false;
          }
        }
        if (!others_take) continue;
        SmallPtrSet<Value*, 8> grown = values;
        AddOperandValues(tail.accesses, grown);
        bool available = grown.size() + 1 <= kMaxOperands;
        for (Value* v : grown)
          if (!AvailableIn(v, j)) available = false;
        if (!available) continue;
        values = std::move(grown);
        takers.push_back(p);
      }
      const int saved = 13 * static_cast<int>(takers.size()) +
                        (head.accesses.empty() ? 0 : 13) - 13 -
                        5 * static_cast<int>(preds.size());
      if (takers.empty() || saved <= 0) continue;
      JoinSite join{j, leading[j], {}};
      for (BasicBlock* p : takers) {
        Segment& tail = segments[trailing[p]];
        if (!isa<InvokeInst>(p->getTerminator())) {
          for (BasicBlock* s : successors(p)) {
            if (s == j) continue;
            Segment& other = segments[leading[s]];
            other.accesses.insert(other.accesses.begin(),
                                  tail.accesses.begin(), tail.accesses.end());
          }
        }
        join.from.push_back({p, tail.accesses});
        tail.accesses.clear();
      }
      head.joined = true;
      joins.push_back(std::move(join));
    }
    // Labels and their regions' checks first (before the promoted loops'
    // sites split edges); single-block loops last: their entering blocks'
    // sites are in place.
    if (use_labels_) PlaceLabels(f, segments);
    for (int pass = 0; pass < 2; ++pass)
      for (const Segment& s : segments)
        if (s.promote == (pass == 1) && !s.accesses.empty() && !s.joined &&
            !s.labeled)
          InstrumentSegment(s.at, s.accesses, s.promote, nullptr);
    for (const JoinSite& join : joins) EmitJoin(join, segments[join.segment]);
    return !accesses.empty();
  }

  // The accesses of a block between two sync points, and where their site
  // goes (before `at`, the next sync point or the terminator).
  struct Segment {
    SmallVector<Access, 8> accesses;
    Instruction* at;
    bool promote;  // a single-block loop's: the countdown in a register
    bool joined;   // a join's, with variants (a JoinSite)
    bool labeled = false;  // placed as label sites (PlaceLabels)
  };

  // Where a label site belongs: its region's id, and how often a pass
  // through the region's check is expected to reach it (block frequencies).
  struct LabelInfo {
    uint64_t region;
    double per_pass;
  };

  // Label sites: a segment's site is a 1-byte nop with its note, and the
  // countdown is updated once per region (the function's blocks outside
  // loops, or one loop's blocks outside its inner loops) by a check at the
  // region's head (the function's entry, the loop's header), by the
  // accesses a pass through the region is expected to make. When a check
  // expires the runtime picks one of the region's labels (by weight) and
  // sets an execution breakpoint on its nop; when the thread gets there,
  // the registers hold the note's operands (runtime/linux/labels.cpp).
  // A segment whose region's head cannot take a check (a catchswitch)
  // keeps a calling site.
  void PlaceLabels(Function& f, std::vector<Segment>& segments) {
    if (!dt_) dt_.emplace(f);
    LoopInfo loops(*dt_);
    BranchProbabilityInfo probabilities(f, loops);
    BlockFrequencyInfo frequencies(f, probabilities, loops);
    struct Region {
      uint64_t id;
      double expected;  // accesses per pass
      Loop* loop;       // null: the function's region
    };
    MapVector<BasicBlock*, Region> regions;  // by head
    for (Segment& s : segments) {
      if (s.promote || s.joined || s.accesses.empty()) continue;
      BasicBlock* bb = s.at->getParent();
      Loop* loop = loops.getLoopFor(bb);
      BasicBlock* head = loop != nullptr ? loop->getHeader() : &f.getEntryBlock();
      if (head->getFirstInsertionPt() == head->end()) continue;
      auto [it, inserted] = regions.insert({head, Region{0, 0, loop}});
      if (inserted) it->second.id = RegionId(f, regions.size() - 1);
      const uint64_t head_freq = frequencies.getBlockFreq(head).getFrequency();
      double per_pass =
          head_freq == 0
              ? 1.0
              : static_cast<double>(
                    frequencies.getBlockFreq(bb).getFrequency()) /
                    static_cast<double>(head_freq);
      per_pass = std::max(per_pass, 1.0 / kWeightUnit);
      const LabelInfo label{it->second.id, per_pass};
      InstrumentSegment(s.at, s.accesses, false, &label);
      it->second.expected += per_pass * static_cast<double>(s.accesses.size());
      s.labeled = true;
    }
    // Exit edges of the loops whose countdown goes in a register, found
    // before any edge is split.
    DenseMap<BasicBlock*, SmallVector<std::pair<BasicBlock*, BasicBlock*>, 4>>
        exits;
    for (auto& [head, region] : regions) {
      if (region.loop != nullptr && CountdownFitsInRegister(*region.loop)) {
        auto& edges = exits[head];
        for (BasicBlock* bb : region.loop->blocks())
          for (BasicBlock* succ : successors(bb))  // (a switch: once per pair)
            if (!region.loop->contains(succ) &&
                !is_contained(edges, std::make_pair(bb, succ)))
              edges.push_back({bb, succ});
      }
    }
    for (auto& [head, region] : regions) {
      const double step = std::min(std::max(region.expected + 0.5, 1.0), 1e6);
      auto edges = exits.find(head);
      EmitCheck(f, *head, region.id, static_cast<unsigned>(step), region.loop,
                edges != exits.end() ? &edges->second : nullptr);
    }
    dt_.reset();  // (edges were split)
  }

  // Whether a loop's check can keep the countdown in a register, as a
  // single-block loop's calling site does: an innermost loop whose blocks
  // call nothing that may be instrumented (which would update the countdown
  // in memory meanwhile), and whose exit edges can be split. A loop-carried
  // update in memory costs the store-to-load latency per iteration.
  static bool CountdownFitsInRegister(const Loop& loop) {
    if (!loop.getSubLoops().empty() || loop.getHeader()->isEHPad())
      return false;
    for (BasicBlock* bb : loop.blocks()) {
      Instruction* term = bb->getTerminator();
      if (isa<IndirectBrInst>(term) || isa<CallBrInst>(term) ||
          isa<InvokeInst>(term) || bb->isEHPad())
        return false;
      for (BasicBlock* succ : successors(bb))
        if (!loop.contains(succ) && succ->isEHPad()) return false;
      for (Instruction& inst : *bb) {
        // (Inline asm, the labels' included, calls nothing instrumented.)
        auto* call = dyn_cast<CallBase>(&inst);
        if (call == nullptr || isa<IntrinsicInst>(call) || call->isInlineAsm())
          continue;
        const Function* callee = call->getCalledFunction();
        if (callee == nullptr ||
            !callee->isDeclaration() ||
            !IsNonSyncLibraryFunction(callee->getName()))
          return false;
      }
    }
    return true;
  }

  // A region's id: unique in the program with high probability (the
  // source file, the function and the head's number in it).
  uint64_t RegionId(const Function& f, size_t index) {
    std::string key = m_.getSourceFileName();
    key += '\0';
    key += f.getName();
    key += '\0';
    key += std::to_string(index);
    const uint64_t id = xxHash64(key);
    return id != 0 ? id : 1;
  }

  // A region's check, at its head: `subl $N, %fs:(tpoff); jg 1f; call
  // __trapsan_site` with a note saying it is a check, and of which region.
  //
  // With `exits` (a loop whose countdown fits in a register), the check
  // works on a register instead (the asm's tied operand, as a single-block
  // loop's calling site): a phi at the header, loaded from TLS on the edges
  // into the loop, stored back on each exit edge (split for it).
  void EmitCheck(
      Function& f, BasicBlock& head, uint64_t region, unsigned step,
      const Loop* loop,
      const SmallVectorImpl<std::pair<BasicBlock*, BasicBlock*>>* exits) {
    Value* tp = TlsOffset(f);
    Instruction* at = &*head.getFirstInsertionPt();
    if (&head == &f.getEntryBlock()) at = cast<Instruction>(tp)->getNextNode();
    DebugLoc loc;
    for (Instruction& inst : head)
      if (inst.getDebugLoc()) { loc = inst.getDebugLoc(); break; }
    const bool in_register = exits != nullptr;
    std::string text;
    raw_string_ostream os(text);
    os << "subl $$" << step << (in_register ? ", $0" : ", %fs:($0)")
       << "\njg 1f\n" << kSiteCall << "\n2:\n";
    EmitNoteHeader(os, f,
                   kSiteCheck | (in_register ? kSiteCountdownInRegister : 0u),
                   /*variants=*/1, /*operands=*/in_register ? 1 : 0,
                   kNoOperandIndex, /*accesses=*/0, step, region);
    os << ".long " << step << "\n.short 0, 0\n";
    if (in_register) os << ".byte 'r'\n.asciz \"$0\"\n";
    os << "4:\n.balign 4\n.popsection\n1:";
    const std::string clobbers = ",~{cc},~{memory},~{dirflag},~{fpsr},~{flags}";
    f.addFnAttr(Attribute::NoRedZone);
    IRBuilder<> b(at);
    b.SetCurrentDebugLocation(loc);
    if (!in_register) {
      FunctionType* type = FunctionType::get(Type::getVoidTy(ctx_),
                                             {Type::getInt64Ty(ctx_)}, false);
      InlineAsm* asm_ = InlineAsm::get(type, os.str(), "r" + clobbers,
                                       /*hasSideEffects=*/true);
      b.CreateCall(type, asm_, {tp})->setDebugLoc(loc);
      return;
    }
    Type* i32 = Type::getInt32Ty(ctx_);
    auto inside = [&](BasicBlock* pred) { return loop->contains(pred); };
    PHINode* phi = CountdownPhi(head, inside, loc);
    FunctionType* type = FunctionType::get(i32, {i32}, false);
    InlineAsm* asm_ = InlineAsm::get(type, os.str(), "=r,0" + clobbers,
                                     /*hasSideEffects=*/true);
    CallInst* next = b.CreateCall(type, asm_, {phi});
    next->setDebugLoc(loc);
    for (BasicBlock* pred : predecessors(&head))
      if (inside(pred)) phi->addIncoming(next, pred);  // the latches
    for (const auto& [from, to] : *exits)
      StoreCountdownOnExit(from, to, next, loc);
  }

  // A note's start, up to the variants (runtime/linux/sites.h); `2:` is the
  // site's pc, `3:` and `4:` delimit the desc (the caller ends it).
  void EmitNoteHeader(raw_ostream& os, const Function& f, unsigned flags,
                      size_t variants, unsigned operands, unsigned selector,
                      unsigned accesses, uint32_t weight, uint64_t region) {
    os << ".pushsection .note.trapsan,";
    if (const Comdat* c = f.getComdat()) {
      os << "\"aG\",@note," << c->getName() << ",comdat\n";
    } else {
      os << "\"a\",@note\n";
    }
    os << ".balign 4\n.long 8, 4f - 3f, " << kSiteNoteType
       << "\n.asciz \"trapsan\"\n3:\n.long 2b - .\n";
    os << ".byte " << kSiteVersion << ", " << flags << ", " << variants
       << ", " << operands << ", " << selector << ", 0\n.short " << accesses
       << "\n.long " << weight << "\n.quad " << region << "\n";
  }
  struct JoinSite {
    BasicBlock* block;
    unsigned segment;
    // Accesses each taking predecessor left (before the join's own).
    SmallVector<std::pair<BasicBlock*, SmallVector<Access, 8>>, 4> from;
  };

  // Whether `v` can be an operand of a site in `block`.
  bool AvailableIn(Value* v, BasicBlock* block) {
    auto* inst = dyn_cast<Instruction>(v);
    if (inst == nullptr) return true;  // arguments, constants, globals
    if (!dt_) dt_.emplace(*block->getParent());
    return dt_->properlyDominates(inst->getParent(), block);
  }

  // A join's site: one variant per distinct way in (a predecessor's
  // accesses, then the join's own), each with a distinct step (padded with
  // phantoms where two would be equal); the step comes from a phi.
  void EmitJoin(const JoinSite& join, const Segment& head) {
    SmallVector<Variant, 4> variants;
    DenseMap<BasicBlock*, unsigned> step_of;
    auto add = [&](ArrayRef<Access> before) {
      SmallVector<Access, 8> all(before.begin(), before.end());
      all.append(head.accesses.begin(), head.accesses.end());
      unsigned n = all.size();
      for (bool clash = true; clash;) {
        clash = false;
        for (const Variant& v : variants) clash |= v.n == n;
        if (clash) ++n;
      }
      variants.push_back({std::move(all), n});
      return n;
    };
    const unsigned own = add({});
    for (const auto& [pred, accesses] : join.from) step_of[pred] = add(accesses);
    BasicBlock* j = join.block;
    IRBuilder<> b(j, j->begin());
    PHINode* step = b.CreatePHI(Type::getInt32Ty(ctx_), 2, "trapsan.step");
    for (BasicBlock* p : predecessors(j)) {
      auto it = step_of.find(p);
      step->addIncoming(
          ConstantInt::get(Type::getInt32Ty(ctx_),
                           it != step_of.end() ? it->second : own),
          p);
    }
    EmitSite(head.at, variants, step, /*promote=*/false, nullptr);
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
    // Functions that cannot order other threads' accesses: no memory
    // access at all, nosync, or a known allocation or pure library function.
    // (Not free/delete/realloc: memory they release may be handed to
    // another thread at once.)
    if (call->isInlineAsm()) return true;
    if (call->doesNotAccessMemory() || call->hasFnAttr(Attribute::NoSync))
      return false;
    if (const Function* callee = call->getCalledFunction())
      return !IsNonSyncLibraryFunction(callee->getName());
    return true;
  }

  static bool IsNonSyncLibraryFunction(StringRef name) {
    static const StringRef kNames[] = {
        // Allocation: fresh memory, no release.
        "malloc", "calloc", "aligned_alloc", "memalign", "posix_memalign",
        "valloc", "pvalloc", "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t",
        "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
        "_ZnwmSt11align_val_tRKSt9nothrow_t",
        "_ZnamSt11align_val_tRKSt9nothrow_t",
        // Strings and numbers.
        "strlen", "strnlen", "strcmp", "strncmp", "memcmp", "bcmp", "strchr",
        "strrchr", "memchr", "strtol", "strtoul", "strtoll", "strtoull",
        "strtod", "strtof", "strtold", "atoi", "atol", "atoll", "atof",
        // libm (errno at most).
        "sqrt", "sqrtf", "cbrt", "cbrtf", "exp", "expf", "exp2", "exp2f",
        "log", "logf", "log2", "log2f", "log10", "log10f", "pow", "powf",
        "sin", "sinf", "cos", "cosf", "tan", "tanf", "asin", "asinf", "acos",
        "acosf", "atan", "atanf", "atan2", "atan2f", "sinh", "cosh", "tanh",
        "hypot", "hypotf", "fmod", "fmodf", "floor", "ceil", "round", "trunc",
        "fabs", "fmin", "fmax", "ldexp", "frexp"};
    for (StringRef n : kNames)
      if (name == n) return true;
    return false;
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

  // An access's base pointer and constant offset, as the note gives them.
  // Constant offsets are peeled off; so are the trailing constant indices of
  // a GEP with variable ones (`&b[j].vx` -> `&b[j]` + 16, one GEP made for
  // all of b[j]'s fields), so that the fields of one element share a
  // register.
  std::pair<Value*, int64_t> BaseOf(const Access& a) {
    int64_t offset = 0;
    Value* base = GetPointerBaseWithConstantOffset(a.addr, offset, dl_);
    if (auto* gep = dyn_cast<GetElementPtrInst>(base)) {
      if (auto [prefix, more] = PeelConstantIndices(gep); prefix != nullptr) {
        base = prefix;
        offset += more;
      }
    }
    if (offset < INT32_MIN || offset > INT32_MAX) return {a.addr, 0};
    return {base, offset};
  }

  // For `gep T, p, i0..ik-1, ck..cn` (the last indices constant, not all):
  // a GEP `gep T, p, i0..ik-1` (made once per pointer and indices, right
  // after `gep`) and the constant offset of the rest; {null, 0} otherwise.
  std::pair<Value*, int64_t> PeelConstantIndices(GetElementPtrInst* gep) {
    const unsigned indices = gep->getNumIndices();
    unsigned k = indices;
    while (k > 0 && isa<ConstantInt>(gep->getOperand(k))) --k;
    // k: the number of leading indices up to the last variable one.
    if (k == 0 || k == indices) return {nullptr, 0};
    SmallVector<Value*, 4> head(gep->idx_begin(), gep->idx_begin() + k);
    Type* head_type = GetElementPtrInst::getIndexedType(
        gep->getSourceElementType(), head);
    if (head_type == nullptr || !head_type->isSized()) return {nullptr, 0};
    SmallVector<Value*, 4> rest{
        ConstantInt::get(Type::getInt64Ty(ctx_), 0)};
    for (unsigned i = k + 1; i <= indices; ++i) {
      auto* c = cast<ConstantInt>(gep->getOperand(i));
      // Struct field numbers must stay i32.
      rest.push_back(c);
    }
    int64_t offset = 0;
    {
      SmallVector<Value*, 4> rest_indices(rest.begin(), rest.end());
      // getIndexedOffsetInType wants the indices into head_type.
      offset = dl_.getIndexedOffsetInType(head_type, rest_indices);
    }
    // One prefix GEP per (pointer, leading indices), where it dominates.
    SmallVector<Value*, 6> key{gep->getPointerOperand()};
    key.append(head.begin(), head.end());
    if (!dt_) dt_.emplace(*gep->getFunction());
    for (auto& [k_values, value] : peeled_) {
      if (k_values == key && dt_->dominates(value, gep)) return {value, offset};
    }
    IRBuilder<> b(gep->getNextNode());
    b.SetCurrentDebugLocation(gep->getDebugLoc());
    Value* prefix =
        gep->isInBounds()
            ? b.CreateInBoundsGEP(gep->getSourceElementType(),
                                  gep->getPointerOperand(), head,
                                  "trapsan.base")
            : b.CreateGEP(gep->getSourceElementType(),
                          gep->getPointerOperand(), head, "trapsan.base");
    peeled_.push_back({key, prefix});
    return {prefix, offset};
  }

  // The values a site needs in operands for these accesses.
  void AddOperandValues(ArrayRef<Access> accesses,
                        SmallPtrSetImpl<Value*>& values) {
    for (const Access& a : accesses) {
      values.insert(BaseOf(a).first);
      if (!isa<ConstantInt>(a.size)) values.insert(a.size);
    }
  }

  // At most kMaxOperands values per asm (register pressure).
  static constexpr unsigned kMaxOperands = 6;

  // A site's accesses on one way in: `n` is the countdown step (its number
  // of accesses, or more: then the last ones are phantoms, never sampled).
  struct Variant {
    SmallVector<Access, 8> accesses;
    unsigned n;
  };

  // A plain segment: longer ones are cut into chunks, each its own site.
  void InstrumentSegment(Instruction* at, ArrayRef<Access> accesses,
                         bool promote, const LabelInfo* label) {
    size_t begin = 0;
    while (begin < accesses.size()) {
      SmallPtrSet<Value*, 8> values;
      size_t end = begin;
      while (end < accesses.size()) {
        SmallPtrSet<Value*, 8> grown = values;
        AddOperandValues(accesses.slice(end, 1), grown);
        if (grown.size() > kMaxOperands && end > begin) break;
        values = std::move(grown);
        ++end;
      }
      Variant v{SmallVector<Access, 8>(accesses.begin() + begin,
                                       accesses.begin() + end),
                static_cast<unsigned>(end - begin)};
      EmitSite(at, v, nullptr, promote, label);
      begin = end;
    }
  }

  // One countdown update per segment, before `at` (its sync point or the
  // block's terminator), after its accesses, as one inline asm:
  //
  //     subl $N, %fs:(tpoff)        // or a register, in a promoted loop
  //     jg 1f
  //     call *__trapsan_site@GOTPCREL(%rip)  // no PLT; saves everything
  //   2: (an ELF note: the site's accesses, as register + offset)
  //   1:
  //
  // The note (runtime/linux/sites.h) gives, per access, the asm operand
  // holding its base pointer, a constant offset, its size (or the operand
  // holding it), read/write and its line; the runtime reads the registers
  // the stub saved and samples the access at which the countdown crossed
  // zero. No spills, no cold block: about 13 bytes per segment. In a
  // single-block loop without sync points the countdown is kept in a
  // register (the asm's tied operand): loaded before the loop, stored on
  // exit; the runtime rewrites the saved register when it refills it.
  // A join's site may have several variants (the accesses its
  // predecessors left to it): then N comes in a register, `selector`, a phi
  // of each way's distinct N, and the runtime picks the variant by it.
  //
  // A label site (`label` given; see PlaceLabels) is only `2: nop` and the
  // note, with the region and the label's weight.
  void EmitSite(Instruction* at, ArrayRef<Variant> variants, Value* selector,
                bool promote, const LabelInfo* label) {
    BasicBlock& bb = *at->getParent();
    Function& f = *bb.getParent();
    Type* i32 = Type::getInt32Ty(ctx_);
    Type* i64 = Type::getInt64Ty(ctx_);
    DebugLoc hot_loc;  // the first variant's (a join's own accesses) first
    for (const Variant& v : variants) {
      if (v.accesses.empty()) continue;
      hot_loc = v.accesses.back().inst->getDebugLoc();
      break;
    }
    // The asm calls (a label: the runtime sends the thread through a stub).
    f.addFnAttr(Attribute::NoRedZone);

    // Operand 0: the countdown (a tied register in a promoted loop: $0 out,
    // $1 in) or the TLS offset of __trapsan_countdown; then the values.
    SmallVector<Value*, 8> inputs;
    std::string constraints;
    unsigned first_value = 0;
    IRBuilder<> b(at);
    b.SetCurrentDebugLocation(hot_loc);
    if (label != nullptr) {
      first_value = 0;
    } else if (promote) {
      inputs.push_back(PromotedCountdown(bb, hot_loc));
      constraints = "=r,0";
      first_value = 2;
    } else {
      inputs.push_back(TlsOffset(f));
      constraints = "r";
      first_value = 1;
    }
    // How each value reaches the runtime: a register ("r"); a stack slot as
    // a frame-relative memory operand ("*m", printed "-40(%rbp)": no
    // register, no lea); a global of this object as a symbol ("i", emitted
    // PC-relative into the note). The note names each: 'r' + the printed
    // operand, or 'g' + a 32-bit PC-relative address.
    DenseMap<Value*, unsigned> operand_of;
    SmallVector<char, 8> kinds(first_value, 'r');
    SmallVector<std::pair<unsigned, Type*>, 4> element_types;  // arg, type
    SmallPtrSet<Value*, 4> sizes;
    auto operand = [&](Value* v) {
      auto it = operand_of.find(v);
      if (it != operand_of.end()) return it->second;
      unsigned index = inputs.size() + first_value - (label ? 0 : 1);
      char kind = 'r';
      auto* alloca = dyn_cast<AllocaInst>(v);
      auto* global = dyn_cast<GlobalVariable>(v);
      if (alloca != nullptr && alloca->isStaticAlloca()) {
        constraints += ",*m";
        element_types.push_back({static_cast<unsigned>(inputs.size()),
                                 alloca->getAllocatedType()});
      } else if (global != nullptr && global->isDSOLocal() &&
                 !global->isThreadLocal()) {
        constraints += ",i";
        kind = 'g';
      } else {
        constraints += ",r";
      }
      inputs.push_back(v);
      kinds.push_back(kind);
      operand_of[v] = index;
      return index;
    };
    const unsigned selector_operand =
        selector != nullptr ? operand(selector) : kNoOperandIndex;

    std::string text;
    raw_string_ostream os(text);
    std::string step = selector != nullptr
                           ? "$" + std::to_string(selector_operand)
                           : "$$" + std::to_string(variants[0].n);
    if (label != nullptr) {
      os << "2:\nnop\n";
    } else if (promote) {
      os << "subl " << step << ", $0\njg 1f\n" << kSiteCall << "\n2:\n";
    } else {
      os << "subl " << step << ", %fs:($0)\njg 1f\n" << kSiteCall << "\n2:\n";
    }
    std::string table;  // the variants (the accesses follow)
    raw_string_ostream ts(table);
    std::string access_table;
    raw_string_ostream at_os(access_table);
    unsigned total = 0;
    for (const Variant& v : variants) {
      ts << ".long " << v.n << "\n.short " << total << ", "
         << v.accesses.size() << "\n";
      for (const Access& a : v.accesses) {
        auto [base_value, offset] = BaseOf(a);
        unsigned base = operand(base_value);
        unsigned size_operand = kNoOperandIndex;
        uint64_t size = 0;
        if (auto* c = dyn_cast<ConstantInt>(a.size)) {
          size = std::min<uint64_t>(c->getZExtValue(), UINT32_MAX);
        } else {
          size_operand = operand(a.size);
          sizes.insert(a.size);
        }
        // The line, when the site's own location (the last access's) is in
        // the same function and inlining context; else the site's line holds.
        unsigned line = 0;
        const DebugLoc& loc = a.inst->getDebugLoc();
        if (loc && hot_loc && loc->getScope()->getSubprogram() ==
                                  hot_loc->getScope()->getSubprogram() &&
            loc->getInlinedAt() == hot_loc->getInlinedAt())
          line = loc.getLine();
        at_os << ".long " << offset << ", " << size << ", " << line
              << "\n.byte " << base << ", " << size_operand << ", "
              << (a.is_write ? 1 : 0) << ", 0\n";
        ++total;
      }
    }
    const unsigned operands = inputs.size() + first_value - (label ? 0 : 1);
    const unsigned flags = label != nullptr ? kSiteLabel
                           : promote        ? kSiteCountdownInRegister
                                            : 0u;
    uint32_t weight = 0;
    if (label != nullptr)
      weight = static_cast<uint32_t>(std::min(
          label->per_pass * total * kWeightUnit + 0.5, 1e9));
    EmitNoteHeader(os, f, flags, variants.size(), operands, selector_operand,
                   total, std::max<uint32_t>(weight, label ? 1 : 0),
                   label != nullptr ? label->region : 0);
    os << ts.str() << at_os.str();
    for (unsigned i = 0; i < operands; ++i) {
      if (kinds[i] == 'g') {
        os << ".byte 'g'\n.long ${" << i << ":c} - .\n";
      } else {
        os << ".byte 'r'\n.asciz \"$" << i << "\"\n";
      }
    }
    os << "4:\n.balign 4\n.popsection\n1:";
    constraints += label != nullptr
                       ? ",~{memory}"
                       : ",~{cc},~{memory},~{dirflag},~{fpsr},~{flags}";
    if (!constraints.empty() && constraints[0] == ',') constraints.erase(0, 1);

    // Sizes go in as 64-bit registers.
    for (Value*& v : inputs) {
      if (sizes.count(v) != 0) v = b.CreateZExtOrTrunc(v, i64);
    }
    SmallVector<Type*, 8> types;
    for (Value* v : inputs) types.push_back(v->getType());
    FunctionType* type = FunctionType::get(
        promote ? i32 : Type::getVoidTy(ctx_), types, false);
    InlineAsm* asm_ = InlineAsm::get(type, os.str(), constraints,
                                     /*hasSideEffects=*/true);
    CallInst* call = b.CreateCall(type, asm_, inputs);
    call->setDebugLoc(hot_loc);
    for (const auto& [arg, element] : element_types)
      call->addParamAttr(arg, Attribute::get(ctx_, Attribute::ElementType,
                                             element));
    if (promote) PromotedNext(bb, call, hot_loc);
  }

  // The TLS offset of __trapsan_countdown (initial-exec, through the GOT),
  // loaded once at the function's entry.
  Value* TlsOffset(Function& f) {
    if (tls_offset_ != nullptr && tls_offset_fn_ == &f) return tls_offset_;
    BasicBlock& entry = f.getEntryBlock();
    IRBuilder<> b(&entry, entry.getFirstInsertionPt());
    FunctionType* type = FunctionType::get(Type::getInt64Ty(ctx_), false);
    InlineAsm* load = InlineAsm::get(
        type, std::string("movq ") + kCountdownName + "@GOTTPOFF(%rip), $0",
        "=r", /*hasSideEffects=*/false);
    tls_offset_ = b.CreateCall(type, load, {}, "trapsan.tpoff");
    tls_offset_fn_ = &f;
    return tls_offset_;
  }

  // The countdown of a promoted loop block where the next site goes: a phi
  // at the block's top (loaded from TLS on each entering edge; PromotedNext
  // fills in the back edge) or the previous site's output.
  Value* PromotedCountdown(BasicBlock& bb, const DebugLoc& loc) {
    auto it = promoted_.find(&bb);
    if (it != promoted_.end()) return it->second.current;
    PHINode* phi = CountdownPhi(
        bb, [&](BasicBlock* pred) { return pred == &bb; }, loc);
    promoted_[&bb] = Promoted{phi, phi, nullptr};
    return phi;
  }

  // A countdown kept in a register through a loop: a phi at its `head`,
  // loaded from TLS at the end of each predecessor outside the loop (the
  // caller adds the incoming values of those `inside` it).
  PHINode* CountdownPhi(BasicBlock& head,
                        function_ref<bool(BasicBlock*)> inside,
                        const DebugLoc& loc) {
    Type* i32 = Type::getInt32Ty(ctx_);
    IRBuilder<> b(&head, head.begin());
    b.SetCurrentDebugLocation(loc);
    PHINode* phi = b.CreatePHI(i32, 2, "trapsan.cd");
    DenseMap<BasicBlock*, Value*> entry_loads;
    for (BasicBlock* pred : predecessors(&head)) {
      if (inside(pred)) continue;
      Value*& v = entry_loads[pred];
      if (v == nullptr) {
        IRBuilder<> pb(pred->getTerminator());
        pb.SetCurrentDebugLocation(loc);
        v = pb.CreateLoad(i32, CountdownPointer(pb, *head.getParent()),
                          "trapsan.cd.entry");
      }
      phi->addIncoming(v, pred);
    }
    return phi;
  }

  // Stores a register-held countdown back to TLS on the loop exit edge
  // from -> to (split for it).
  StoreInst* StoreCountdownOnExit(BasicBlock* from, BasicBlock* to,
                                  Value* countdown, const DebugLoc& loc) {
    BasicBlock* edge = SplitEdge(from, to);
    IRBuilder<> eb(edge->getTerminator());
    eb.SetCurrentDebugLocation(loc);
    return eb.CreateStore(countdown, CountdownPointer(eb, *from->getParent()));
  }

  // After a site of a promoted block: its output is the countdown from
  // there on; the block's last one feeds the back edge and is stored to TLS
  // on the exit edge.
  void PromotedNext(BasicBlock& bb, Value* next, const DebugLoc& loc) {
    Promoted& p = promoted_[&bb];
    p.current = next;
    if (p.exit_store != nullptr) {
      p.exit_store->setOperand(0, next);
      p.phi->setIncomingValueForBlock(&bb, next);
      return;
    }
    auto* br = cast<BranchInst>(bb.getTerminator());
    BasicBlock* exit = br->getSuccessor(0) == &bb ? br->getSuccessor(1)
                                                  : br->getSuccessor(0);
    p.exit_store = StoreCountdownOnExit(&bb, exit, next, loc);
    p.phi->addIncoming(next, &bb);
  }

  // Label sites (the default), or calling sites everywhere
  // (TRAPSAN_PLUGIN_SITES=call: for comparison and as a fallback).
  const bool use_labels_ = [] {
    const char* v = std::getenv("TRAPSAN_PLUGIN_SITES");
    return v == nullptr || std::string(v) != "call";
  }();
  Module& m_;
  LLVMContext& ctx_;
  const DataLayout& dl_;
  Value* tls_offset_ = nullptr;
  const Function* tls_offset_fn_ = nullptr;
  struct Promoted {
    PHINode* phi;
    Value* current;
    StoreInst* exit_store;
  };
  DenseMap<BasicBlock*, Promoted> promoted_;
  DenseMap<const Value*, bool> escapes_;
  std::vector<std::pair<SmallVector<Value*, 6>, Value*>> peeled_;
  std::optional<DominatorTree> dt_;
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
