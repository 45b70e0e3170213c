// The candidates of a trapped access. A hardware watchpoint's SIGTRAP gives
// the pc after the access and the registers after it; every instruction
// decoded backwards from that pc (ForEachBackwardCandidate, zydis_api.h) may
// be the one that trapped. For each: its memory operand, how many bytes it
// accesses, whether it writes, and whether the registers after the trap
// still give the address it accessed. The one place that decides that
// certainty, for every reader of a trap: report/decode.cpp (what the access
// was, did it touch the watched bytes) and report/sample_decode.cpp (read or
// write, how atomic, inside the SIGTRAP handler of runtime/preload's data
// lures).
//
// Async-signal-safe: everything lives on the stack (Zydis decodes there; the
// register context is a local), nothing is allocated or locked.
#ifndef TRAPSAN_RUNTIME_REPORT_TRAPPED_CANDIDATES_H_
#define TRAPSAN_RUNTIME_REPORT_TRAPPED_CANDIDATES_H_

#include <cstdint>

#include "runtime/core/access.h"
#include "runtime/report/zydis_api.h"

namespace trapsan {

struct TrappedCandidate {
  int length;  // it starts this many bytes before next_pc
  const ZydisDecodedInstruction& insn;
  const ZydisDecodedOperand* ops;
  const ZydisDecodedOperand& mem;  // its memory operand (MemoryOperand)
  uint32_t size;  // bytes the memory operand covers (0: Zydis gives none)
  bool writes;    // it writes memory (a read-modify-write too)
  // has_ea: the registers after the trap give an address, ea (with the fs
  // base added for fs: when it is known; else the offset alone). A guess
  // unless `certain`: the instruction may have changed those registers.
  bool has_ea;
  // certain: ea is the address it accessed. It writes none of the registers
  // its address is computed from (a load into its own base, a string
  // store's rdi), and its segment base is known (fs: only with the trapping
  // thread's fs base; gs: never).
  bool certain;
  uint64_t ea;  // 0 unless has_ea

  AccessKind kind() const {
    return writes ? AccessKind::kWrite : AccessKind::kRead;
  }
  // Whether [ea, ea + size) meets [addr, addr + len) (meaningful with
  // has_ea; proof only when certain).
  bool Overlaps(uint64_t addr, uint64_t len) const {
    return ea < addr + len && addr < ea + size;
  }
  // Known not to have touched [addr, addr + len): not the access that
  // trapped there.
  bool SurelyMisses(uint64_t addr, uint64_t len) const {
    return certain && !Overlaps(addr, len);
  }
};

// Calls fn(const TrappedCandidate&) for every backward candidate of the
// `length` bytes right before `next_pc` (ForEachBackwardCandidate: shortest
// first; stops when fn returns false). `registers`: the trap's, in the
// runtime's order (FillRegisterContext), or null (then no candidate has an
// address). `fs_base`: the trapping thread's fs base, 0 when not known.
template <typename Fn>
void ForEachTrappedCandidate(const ZydisApi& zydis, const uint8_t* bytes,
                             int length, uintptr_t next_pc,
                             const uint64_t* registers, uint64_t fs_base,
                             Fn&& fn) {
  ZydisRegisterContext context;
  if (registers != nullptr) FillRegisterContext(registers, &context);
  ForEachBackwardCandidate(
      zydis, bytes, length, [&](const BackwardCandidate& c) {
        const ZydisDecodedOperand& op = c.ops[c.mem];
        ZyanU64 ea = 0;
        const bool has_ea =
            registers != nullptr &&
            ZYAN_SUCCESS(zydis.absolute_address(c.insn, &op,
                                                next_pc - c.length, &context,
                                                &ea));
        if (!has_ea) ea = 0;
        const bool fs = op.mem.segment == ZYDIS_REGISTER_FS;
        if (has_ea && fs) ea += fs_base;
        const bool certain =
            has_ea && op.mem.segment != ZYDIS_REGISTER_GS &&
            !(fs && fs_base == 0) &&
            !WritesAddressRegister(zydis, *c.insn, c.ops, op);
        return fn(TrappedCandidate{
            c.length, *c.insn, c.ops, op, static_cast<uint32_t>(op.size / 8),
            (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0, has_ea,
            certain, static_cast<uint64_t>(ea)});
      });
}

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_TRAPPED_CANDIDATES_H_
