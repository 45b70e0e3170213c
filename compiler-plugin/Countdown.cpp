// The per-thread sampling countdown (__trapsan_countdown, initial-exec TLS)
// as the sites see it: its %fs offset, or a register through a loop (a phi
// at the loop's head, loaded on entry, stored back on each exit edge).
#include "Instrumenter.h"
#include "SiteFormat.h"

#include "llvm/IR/CFG.h"
#include "llvm/IR/InlineAsm.h"
#include "llvm/Transforms/Utils/BasicBlockUtils.h"

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
      v = pb.CreateLoad(i32, CountdownPointer(pb, *head.getParent()),
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
  IRBuilder<> eb(edge->getTerminator());
  eb.SetCurrentDebugLocation(loc);
  return eb.CreateStore(countdown, CountdownPointer(eb, *from->getParent()));
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
