// Label sites' regions (the function's code outside loops, or one loop's
// body) and the countdown check at each region's head, weighted by block
// frequencies: the runtime (runtime/linux/labels.cpp) picks one of the
// region's labels when its check expires.
#include "Instrumenter.h"
#include "SiteFormat.h"

#include "llvm/ADT/MapVector.h"
#include "llvm/Analysis/BlockFrequencyInfo.h"
#include "llvm/Analysis/BranchProbabilityInfo.h"
#include "llvm/Analysis/LoopInfo.h"
#include "llvm/IR/CFG.h"
#include "llvm/IR/InlineAsm.h"
#include "llvm/IR/IntrinsicInst.h"
#include "llvm/Support/xxhash.h"
#include <algorithm>

namespace trapsan_plugin {

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
void Instrumenter::PlaceLabels(Function& f, std::vector<Segment>& segments) {
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
bool Instrumenter::CountdownFitsInRegister(const Loop& loop) {
  return loop.getSubLoops().empty() && BlocksFitInRegister(loop);
}

// The same for a loop's blocks, its inner loops' included (a register
// nest's: Countdown.cpp).
bool Instrumenter::BlocksFitInRegister(const Loop& loop) {
  if (loop.getHeader()->isEHPad()) return false;
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
uint64_t Instrumenter::RegionId(const Function& f, size_t index) {
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
// into the loop, stored back on each exit edge (split for it). In a
// register nest (Countdown.cpp) it works on a register too: the nest's
// slot, loaded before it and stored after it.
void Instrumenter::EmitCheck(
    Function& f, BasicBlock& head, uint64_t region, unsigned step,
    const Loop* loop,
    const SmallVectorImpl<std::pair<BasicBlock*, BasicBlock*>>* exits) {
  Value* tp = TlsOffset(f);
  Instruction* at = &*head.getFirstInsertionPt();
  if (&head == &f.getEntryBlock()) at = cast<Instruction>(tp)->getNextNode();
  DebugLoc loc;
  for (Instruction& inst : head)
    if (inst.getDebugLoc()) { loc = inst.getDebugLoc(); break; }
  AllocaInst* slot = exits == nullptr ? NestSlot(&head) : nullptr;
  const bool in_register = exits != nullptr || slot != nullptr;
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
  FunctionType* type = FunctionType::get(i32, {i32}, false);
  InlineAsm* asm_ = InlineAsm::get(type, os.str(), "=r,0" + clobbers,
                                   /*hasSideEffects=*/true);
  if (slot != nullptr) {
    CallInst* next = b.CreateCall(type, asm_, {b.CreateLoad(i32, slot)});
    next->setDebugLoc(loc);
    b.CreateStore(next, slot);
    return;
  }
  auto inside = [&](BasicBlock* pred) { return loop->contains(pred); };
  PHINode* phi = CountdownPhi(head, inside, loc);
  CallInst* next = b.CreateCall(type, asm_, {phi});
  next->setDebugLoc(loc);
  for (BasicBlock* pred : predecessors(&head))
    if (inside(pred)) phi->addIncoming(next, pred);  // the latches
  for (const auto& [from, to] : *exits)
    StoreCountdownOnExit(from, to, next, loc);
}

}  // namespace trapsan_plugin
