// The per-thread sampling countdown (__trapsan_countdown, initial-exec TLS)
// as the sites see it: its %fs offset, or a register through a loop (a phi
// at the loop's head, loaded on entry, stored back on each exit edge), or
// through a loop nest (a stack slot promoted to registers).
#include "Instrumenter.h"
#include "SiteFormat.h"

#include "llvm/Analysis/LoopInfo.h"
#include "llvm/IR/CFG.h"
#include "llvm/IR/InlineAsm.h"
#include "llvm/Transforms/Utils/BasicBlockUtils.h"
#include "llvm/Transforms/Utils/PromoteMemToReg.h"

namespace trapsan_plugin {

// The countdown's address as a %fs-relative pointer (address space 257
// is %fs on x86-64): no GOT load besides TlsOffset's.
Value* Instrumenter::CountdownPointer(IRBuilder<>& b, Function& f) {
  return b.CreateIntToPtr(
      TlsOffset(f), PointerType::get(Type::getInt32Ty(ctx_), 257),
      "trapsan.cd.addr");
}

// The TLS offset of __trapsan_countdown (initial-exec, through the GOT),
// loaded once at the function's entry.
Value* Instrumenter::TlsOffset(Function& f) {
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
Value* Instrumenter::PromotedCountdown(BasicBlock& bb, const DebugLoc& loc) {
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
PHINode* Instrumenter::CountdownPhi(BasicBlock& head,
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
      v = pb.CreateLoad(i32, CountdownAddress(pb, *head.getParent(), pred),
                        "trapsan.cd.entry");
    }
    phi->addIncoming(v, pred);
  }
  return phi;
}

// Stores a register-held countdown back to TLS on the loop exit edge
// from -> to (split for it).
StoreInst* Instrumenter::StoreCountdownOnExit(BasicBlock* from, BasicBlock* to,
                                Value* countdown, const DebugLoc& loc) {
  BasicBlock* edge = SplitEdge(from, to);
  // (An inner loop's exit into its register nest: the new block is in it.)
  if (NestSlot(from) != nullptr && NestSlot(to) != nullptr)
    nest_blocks_.insert(edge);
  IRBuilder<> eb(edge->getTerminator());
  eb.SetCurrentDebugLocation(loc);
  return eb.CreateStore(countdown,
                        CountdownAddress(eb, *from->getParent(), from));
}

// Where the countdown is kept at the end of block `at` (or on an edge from
// it): a register nest's slot, or TLS.
Value* Instrumenter::CountdownAddress(IRBuilder<>& b, Function& f,
                                      const BasicBlock* at) {
  if (AllocaInst* slot = NestSlot(at)) return slot;
  return CountdownPointer(b, f);
}

// Register nests: a loop with inner loops whose blocks, the inner loops'
// included, call nothing that may be instrumented (BlocksFitInRegister;
// an innermost one keeps its countdown in a register by itself:
// CountdownFitsInRegister) keeps the countdown in a register from its
// entry to its exits, so an outer loop's iterations carry no
// read-modify-write of TLS from one to the next (its store-to-load
// latency: std::sort's partition loop, whose two inner scans run a few
// iterations each, paid ~2% for it). Each edge into the nest copies TLS
// to a stack slot, each edge out of it copies the slot back; the nest's
// sites and checks work on the slot (register form: SiteEmission.cpp,
// EmitCheck), and PromoteRegisterNests turns it into registers. Run after
// segment planning (the edges split here hold no site) and before any
// site is emitted; `sited`: the blocks where a site goes (a nest without
// one keeps its code as it is).
void Instrumenter::PlanRegisterNests(
    Function& f, const SmallPtrSetImpl<const BasicBlock*>& sited) {
  nest_slot_ = nullptr;
  nest_blocks_.clear();
  if (!dt_) dt_.emplace(f);
  LoopInfo loops(*dt_);
  SmallVector<Loop*, 8> nests;
  SmallVector<Loop*, 16> work(loops.begin(), loops.end());
  while (!work.empty()) {
    Loop* loop = work.pop_back_val();
    if (loop->getSubLoops().empty()) continue;
    bool entries_split = true;  // (an invoke's or callbr's edge is not)
    for (BasicBlock* pred : predecessors(loop->getHeader()))
      if (!loop->contains(pred) && !isa<BranchInst>(pred->getTerminator()) &&
          !isa<SwitchInst>(pred->getTerminator()))
        entries_split = false;
    const bool has_site = any_of(loop->blocks(), [&](BasicBlock* bb) {
      return sited.count(bb) != 0;
    });
    if (!has_site) continue;
    if (entries_split && BlocksFitInRegister(*loop)) {
      nests.push_back(loop);
    } else {
      work.append(loop->begin(), loop->end());
    }
  }
  if (nests.empty()) return;
  SmallVector<std::pair<BasicBlock*, BasicBlock*>, 8> entries, exits;
  for (Loop* loop : nests) {
    for (BasicBlock* pred : predecessors(loop->getHeader()))
      if (!loop->contains(pred) &&
          !is_contained(entries, std::make_pair(pred, loop->getHeader())))
        entries.push_back({pred, loop->getHeader()});
    for (BasicBlock* bb : loop->blocks()) {
      nest_blocks_.insert(bb);
      for (BasicBlock* succ : successors(bb))  // (a switch: once per pair)
        if (!loop->contains(succ) &&
            !is_contained(exits, std::make_pair(bb, succ)))
          exits.push_back({bb, succ});
    }
  }
  Type* i32 = Type::getInt32Ty(ctx_);
  BasicBlock& entry = f.getEntryBlock();
  IRBuilder<> sb(&entry, entry.getFirstInsertionPt());
  nest_slot_ = sb.CreateAlloca(i32, nullptr, "trapsan.cd.nest");
  for (const auto& [from, to] : entries) {
    BasicBlock* edge = SplitEdge(from, to);
    IRBuilder<> b(edge->getTerminator());
    b.CreateStore(b.CreateLoad(i32, CountdownPointer(b, f), "trapsan.cd.entry"),
                  nest_slot_);
  }
  for (const auto& [from, to] : exits) {
    BasicBlock* edge = SplitEdge(from, to);
    IRBuilder<> b(edge->getTerminator());
    b.CreateStore(b.CreateLoad(i32, nest_slot_, "trapsan.cd.exit"),
                  CountdownPointer(b, f));
  }
  dt_.reset();  // (edges were split)
}

// The nests' slot becomes registers (phis where paths meet), once every
// site and check is in place.
void Instrumenter::PromoteRegisterNests(Function& f) {
  if (nest_slot_ == nullptr) return;
  DominatorTree dt(f);
  PromoteMemToReg({nest_slot_}, dt);
  nest_slot_ = nullptr;
  nest_blocks_.clear();
}

// After a site of a promoted block: its output is the countdown from
// there on; the block's last one feeds the back edge and is stored to TLS
// on the exit edge.
void Instrumenter::PromotedNext(BasicBlock& bb, Value* next, const DebugLoc& loc) {
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

}  // namespace trapsan_plugin
