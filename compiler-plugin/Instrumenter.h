// The pass's instrumenter: one per module (TrapsanPass.cpp runs it). What
// it does, in the order it does it, file by file:
//   Instrumenter.cpp     which functions (attributes, opt-outs, options)
//   AccessSelection.cpp  which of their accesses can race
//   SegmentPlanning.cpp  segments between sync points, moved across blocks
//                        and merged at joins
//   LabelRegions.cpp     label sites' regions and their countdown checks
//   SiteEmission.cpp     a site's inline asm and its ELF note
//   Countdown.cpp        the countdown in TLS or in a register
//   SyncState.cpp        the sync-state word and entry notes (off by default)
// SiteFormat.h holds what the runtime reads (runtime/linux/sites.h).
#ifndef TRAPSAN_COMPILER_PLUGIN_INSTRUMENTER_H_
#define TRAPSAN_COMPILER_PLUGIN_INSTRUMENTER_H_

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/IR/DataLayout.h"
#include "llvm/IR/DebugLoc.h"
#include "llvm/IR/Dominators.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/TypeSize.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#if LLVM_VERSION_MAJOR < 14 || LLVM_VERSION_MAJOR > 16
#warning "trapsan's plugin is written for LLVM 14 to 16"
#endif

namespace llvm {
class Loop;
}

namespace trapsan_plugin {

using namespace llvm;

// What the pass did, for TRAPSAN_PLUGIN_VERBOSE=1 (one line per module).
struct Counts {
  unsigned functions = 0, functions_skipped = 0;
  unsigned loads = 0, stores = 0, memintrinsics = 0;
  unsigned skipped_atomic = 0, skipped_local = 0, skipped_constant = 0,
           skipped_covered = 0, skipped_other = 0;
};

inline uint64_t FixedBytes(TypeSize size) {
#if LLVM_VERSION_MAJOR >= 16
  return size.getFixedValue();
#else
  return size.getFixedSize();
#endif
}

class Instrumenter {
 public:
  // Where another thread may become ordered with this one: a call that may
  // synchronize, an atomic, a fence (SegmentPlanning.cpp). Also the base of
  // ReleasePoints.cpp's release points.
  static bool IsSyncPoint(const Instruction& inst);

  explicit Instrumenter(Module& m)
      : m_(m), ctx_(m.getContext()), dl_(m.getDataLayout()) {}

  // Instruments the module; whether it changed anything.
  bool Run();

 private:
  struct Access {
    Instruction* inst;
    Value* addr;
    Value* size;  // i64
    bool is_write;
  };

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

  struct JoinSite {
    BasicBlock* block;
    unsigned segment;
    // Accesses each taking predecessor left (before the join's own).
    SmallVector<std::pair<BasicBlock*, SmallVector<Access, 8>>, 4> from;
  };

  // A site's accesses on one way in: `n` is the countdown step (its number
  // of accesses, or more: then the last ones are phantoms, never sampled).
  struct Variant {
    SmallVector<Access, 8> accesses;
    unsigned n;
  };

  // At most kMaxOperands values per asm (register pressure).
  static constexpr unsigned kMaxOperands = 6;

  // AccessSelection.cpp. Whether an access to `addr` can race at all.
  enum class Verdict { kInstrument, kLocal, kConstant, kOther };
  Verdict Classify(Value* addr, const Instruction* at);
  void Count(Verdict v);
  static SmallPtrSet<const Instruction*, 16> CoveredAccesses(
      Function& f, const DataLayout& dl);
  SmallVector<Access, 32> CollectAccesses(Function& f);

  // SegmentPlanning.cpp.
  bool InstrumentFunction(Function& f);
  bool AvailableIn(Value* v, BasicBlock* block);
  static bool IsNonSyncLibraryFunction(StringRef name);
  static bool IsPromotableSelfLoop(BasicBlock& bb);

  // LabelRegions.cpp.
  void PlaceLabels(Function& f, std::vector<Segment>& segments);
  static bool CountdownFitsInRegister(const Loop& loop);
  static bool BlocksFitInRegister(const Loop& loop);
  uint64_t RegionId(const Function& f, size_t index);
  void EmitCheck(
      Function& f, BasicBlock& head, uint64_t region, unsigned step,
      const Loop* loop,
      const SmallVectorImpl<std::pair<BasicBlock*, BasicBlock*>>* exits);

  // SiteEmission.cpp.
  void EmitNoteHeader(raw_ostream& os, const Function& f, unsigned flags,
                      size_t variants, unsigned operands, unsigned selector,
                      unsigned accesses, uint32_t weight, uint64_t region);
  void EmitJoin(const JoinSite& join, const Segment& head);
  std::pair<Value*, int64_t> BaseOf(const Access& a);
  std::pair<Value*, int64_t> PeelConstantIndices(GetElementPtrInst* gep);
  void AddOperandValues(ArrayRef<Access> accesses,
                        SmallPtrSetImpl<Value*>& values);
  void InstrumentSegment(Instruction* at, ArrayRef<Access> accesses,
                         bool promote, const LabelInfo* label);
  void EmitSite(Instruction* at, ArrayRef<Variant> variants, Value* selector,
                bool promote, const LabelInfo* label);

  // Countdown.cpp.
  Value* CountdownPointer(IRBuilder<>& b, Function& f);
  Value* TlsOffset(Function& f);
  Value* PromotedCountdown(BasicBlock& bb, const DebugLoc& loc);
  PHINode* CountdownPhi(BasicBlock& head,
                        function_ref<bool(BasicBlock*)> inside,
                        const DebugLoc& loc);
  StoreInst* StoreCountdownOnExit(BasicBlock* from, BasicBlock* to,
                                  Value* countdown, const DebugLoc& loc);
  void PromotedNext(BasicBlock& bb, Value* next, const DebugLoc& loc);
  // Loop nests that keep the countdown in a register (Countdown.cpp): the
  // sites and checks of their blocks work on a stack slot, promoted to
  // registers once the function is instrumented.
  void PlanRegisterNests(Function& f,
                         const SmallPtrSetImpl<const BasicBlock*>& sited);
  void PromoteRegisterNests(Function& f);
  Value* CountdownAddress(IRBuilder<>& b, Function& f, const BasicBlock* at);
  AllocaInst* NestSlot(const BasicBlock* bb) const {
    return nest_blocks_.count(bb) != 0 ? nest_slot_ : nullptr;
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
  AllocaInst* nest_slot_ = nullptr;
  SmallPtrSet<const BasicBlock*, 16> nest_blocks_;
  DenseMap<const Value*, bool> escapes_;
  std::vector<std::pair<SmallVector<Value*, 6>, Value*>> peeled_;
  std::optional<DominatorTree> dt_;
  Counts counts_;
};

}  // namespace trapsan_plugin

#endif  // TRAPSAN_COMPILER_PLUGIN_INSTRUMENTER_H_
