#include "decode.h"

#include "runtime/report/trapped_candidates.h"
#include "runtime/report/zydis_api.h"

namespace trapsan {

bool DecodeAccessInBytes(const uint8_t* bytes, int length, uintptr_t next_pc,
                         const uint64_t* registers, uintptr_t watch_addr,
                         uint32_t watch_len, AccessKind* kind, uint32_t* size) {
  const ZydisApi* zydis = LoadZydis();
  if (zydis == nullptr) return false;
  struct Best {
    int length = 0;
    AccessKind kind = AccessKind::kUnknown;
    uint32_t size = 0;
    bool hits_watch = false;  // its effective address overlaps the watch
  } best;
  // No fs base: an fs: address is its offset, a guess like any address the
  // instruction may have changed; it only orders the candidates.
  ForEachTrappedCandidate(
      *zydis, bytes, length, next_pc, registers, /*fs_base=*/0,
      [&](const TrappedCandidate& c) {
        Best b;
        b.length = c.length;
        b.kind = c.kind();
        b.size = c.size;
        b.hits_watch = c.has_ea && c.Overlaps(watch_addr, watch_len);
        // Prefer a candidate that hits the watched bytes, then the longest.
        if (best.length == 0 || (b.hits_watch && !best.hits_watch) ||
            (b.hits_watch == best.hits_watch && b.length > best.length)) {
          best = b;
        }
        return true;
      });
  if (best.length == 0) return false;
  *kind = best.kind;
  *size = best.size;
  return true;
}

bool DecodeTrappedAccess(const AccessInfo& access, uintptr_t watch_addr,
                         uint32_t watch_len, AccessKind* kind, uint32_t* size) {
  if (access.stack.depth == 0) return false;
  const uintptr_t next_pc = access.stack.pcs[0];
  uint8_t bytes[kMaxInstructionLength];
  const int n = ReadBytesBefore(next_pc, bytes);
  return n > 0 && DecodeAccessInBytes(
                      bytes + kMaxInstructionLength - n, n, next_pc,
                      access.has_registers ? access.registers : nullptr,
                      watch_addr, watch_len, kind, size);
}

namespace {

// When no candidate has a data operand, only an implicit stack write can
// have trapped: a push, whose bytes are [rsp, rsp + size) after it (rsp is
// the registers' 5th). kMissed when every decoding ending there that touches
// memory at all is a push that missed [watch_addr, watch_addr + len); an
// instruction that touches no memory cannot have trapped. kUnknown otherwise
// (a pop, a call's slot: not judged). Seen natively in DataRaceBench's DRB105:
// a push of __trapsan_return_all's came with a window's cookie while its
// si_addr was the thread's own stack, and was reported as a race.
TrapOverlap JudgeStackPush(const ZydisApi& zydis, const uint8_t* bytes,
                           int length, const uint64_t* registers,
                           uintptr_t watch_addr, uint32_t len) {
  const uint64_t rsp = registers[4];
  int pushes = 0;
  bool unknown = false;
  ForEachBackwardInstruction(
      zydis, bytes, length,
      [&](int, const ZydisDecodedInstruction& insn,
          const ZydisDecodedOperand* ops) {
        bool memory = false;
        for (int i = 0; i < insn.operand_count; ++i) {
          memory |= ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY &&
                    ops[i].mem.type == ZYDIS_MEMOP_TYPE_MEM;
        }
        if (!memory) return true;
        const uint64_t size = insn.operand_width / 8;
        unknown = (insn.mnemonic != ZYDIS_MNEMONIC_PUSH &&
                   insn.mnemonic != ZYDIS_MNEMONIC_PUSHFQ) ||
                  size == 0 ||
                  (rsp < watch_addr + len && watch_addr < rsp + size);
        ++pushes;
        return !unknown;
      });
  return pushes > 0 && !unknown ? TrapOverlap::kMissed : TrapOverlap::kUnknown;
}

}  // namespace

TrapOverlap JudgeAccessInBytes(const uint8_t* bytes, int length,
                               uintptr_t next_pc, const uint64_t* registers,
                               uint64_t fs_base, uintptr_t watch_addr,
                               uint32_t sure_len, uint32_t maybe_len,
                               uint32_t* widest, bool writes_only) {
  if (widest != nullptr) *widest = 0;
  const ZydisApi* zydis = LoadZydis();
  if (zydis == nullptr) return TrapOverlap::kNoDecoder;
  if (registers == nullptr) return TrapOverlap::kUnknown;
  int candidates = 0;
  bool all_missed = true, touched = false;
  ForEachTrappedCandidate(
      *zydis, bytes, length, next_pc, registers, fs_base,
      [&](const TrappedCandidate& c) {
        ++candidates;
        if (writes_only && !c.writes) return true;  // not what trapped
        if (widest != nullptr && c.size > *widest) *widest = c.size;
        if (!c.certain || c.size == 0) {
          all_missed = false;
          return true;
        }
        if (c.Overlaps(watch_addr, sure_len)) touched = true;
        if (c.Overlaps(watch_addr, maybe_len)) all_missed = false;
        return true;
      });
  if (touched) return TrapOverlap::kTouched;
  if (candidates > 0 && all_missed) return TrapOverlap::kMissed;
  if (candidates == 0) {
    return JudgeStackPush(*zydis, bytes, length, registers, watch_addr,
                          maybe_len);
  }
  return TrapOverlap::kUnknown;
}

TrapOverlap JudgeTrappedAccess(const AccessInfo& access, uintptr_t watch_addr,
                               uint32_t sure_len, uint32_t maybe_len,
                               uint32_t* widest, bool writes_only) {
  if (widest != nullptr) *widest = 0;
  if (LoadZydis() == nullptr) return TrapOverlap::kNoDecoder;
  if (access.stack.depth == 0 || !access.has_registers) {
    return TrapOverlap::kUnknown;
  }
  const uintptr_t next_pc = access.stack.pcs[0];
  uint8_t bytes[kMaxInstructionLength];
  const int n = ReadBytesBefore(next_pc, bytes);
  if (n == 0) return TrapOverlap::kUnknown;
  return JudgeAccessInBytes(bytes + kMaxInstructionLength - n, n, next_pc,
                            access.registers, access.fs_base, watch_addr,
                            sure_len, maybe_len, widest, writes_only);
}

}  // namespace trapsan
