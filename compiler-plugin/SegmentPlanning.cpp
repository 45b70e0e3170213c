// A function's segments: its accesses between two sync points (calls that
// may synchronize, atomics, fences), each sampled by one site before the
// next sync point; trailing accesses moved into successors where every path
// still counts them once, and merged into one site at joins (calling sites).
#include "Instrumenter.h"
#include "SiteFormat.h"

#include "llvm/ADT/PostOrderIterator.h"
#include "llvm/IR/CFG.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/IR/IntrinsicsX86.h"
#include <algorithm>

namespace trapsan_plugin {

bool Instrumenter::InstrumentFunction(Function& f) {
  escapes_.clear();
  peeled_.clear();
  dt_.reset();
  promoted_.clear();
  const SmallVector<Access, 32> accesses = CollectAccesses(f);
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
  // Register nests' edges first: their copies go before any site there.
  SmallPtrSet<const BasicBlock*, 16> sited;
  for (const Segment& s : segments)
    if (!s.accesses.empty()) sited.insert(s.at->getParent());
  PlanRegisterNests(f, sited);
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
  PromoteRegisterNests(f);
  return !accesses.empty();
}

// Whether `v` can be an operand of a site in `block`.
bool Instrumenter::AvailableIn(Value* v, BasicBlock* block) {
  auto* inst = dyn_cast<Instruction>(v);
  if (inst == nullptr) return true;  // arguments, constants, globals
  if (!dt_) dt_.emplace(*block->getParent());
  return dt_->properlyDominates(inst->getParent(), block);
}

// Where sampling must happen before: after it another thread may be
// allowed to touch what the segment accessed. Calls (but not the
// intrinsics that do nothing to memory, nor the memintrinsics, which are
// accesses), atomics and fences.
bool Instrumenter::IsSyncPoint(const Instruction& inst) {
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
      // A spin-wait hint (_mm_pause, __builtin_ia32_pause): no memory effect,
      // so it orders nothing (a spin on a relaxed load with a pause is no
      // release: its held windows stay open).
      case Intrinsic::x86_sse2_pause:
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

bool Instrumenter::IsNonSyncLibraryFunction(StringRef name) {
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
bool Instrumenter::IsPromotableSelfLoop(BasicBlock& bb) {
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

}  // namespace trapsan_plugin
