#include "decode.h"

#include "runtime/report/zydis_api.h"

namespace trapsan {
namespace {

// A candidate's effective address, when the registers give it.
bool EffectiveAddress(const ZydisApi& zydis, const BackwardCandidate& c,
                      uintptr_t next_pc, const ZydisRegisterContext* context,
                      ZyanU64* ea) {
  return context != nullptr &&
         ZYAN_SUCCESS(zydis.absolute_address(c.insn, &c.ops[c.mem],
                                             next_pc - c.length, context, ea));
}

}  // namespace

bool DecodeAccessInBytes(const uint8_t* bytes, int length, uintptr_t next_pc,
                         const uint64_t* registers, uintptr_t watch_addr,
                         uint32_t watch_len, AccessKind* kind, uint32_t* size) {
  const ZydisApi* zydis = LoadZydis();
  if (zydis == nullptr) return false;
  ZydisRegisterContext context;
  if (registers != nullptr) FillRegisterContext(registers, &context);
  struct Best {
    int length = 0;
    AccessKind kind = AccessKind::kUnknown;
    uint32_t size = 0;
    bool hits_watch = false;  // its effective address overlaps the watch
  } best;
  ForEachBackwardCandidate(*zydis, bytes, length, [&](const BackwardCandidate& c) {
    const ZydisDecodedOperand& op = c.ops[c.mem];
    Best b;
    b.length = c.length;
    b.kind = (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) ? AccessKind::kWrite
                                                           : AccessKind::kRead;
    b.size = static_cast<uint32_t>(op.size / 8);
    ZyanU64 ea = 0;
    if (EffectiveAddress(*zydis, c, next_pc,
                         registers != nullptr ? &context : nullptr, &ea)) {
      b.hits_watch = ea < watch_addr + watch_len && watch_addr < ea + b.size;
    }
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

TrapOverlap JudgeAccessInBytes(const uint8_t* bytes, int length,
                               uintptr_t next_pc, const uint64_t* registers,
                               uint64_t fs_base, uintptr_t watch_addr,
                               uint32_t sure_len, uint32_t maybe_len,
                               uint32_t* widest) {
  if (widest != nullptr) *widest = 0;
  const ZydisApi* zydis = LoadZydis();
  if (zydis == nullptr) return TrapOverlap::kNoDecoder;
  if (registers == nullptr) return TrapOverlap::kUnknown;
  ZydisRegisterContext context;
  FillRegisterContext(registers, &context);
  int candidates = 0;
  bool all_missed = true, touched = false;
  ForEachBackwardCandidate(*zydis, bytes, length, [&](const BackwardCandidate& c) {
    const ZydisDecodedOperand& op = c.ops[c.mem];
    ++candidates;
    // Its address is certain only when the registers after it still hold
    // what it was computed from, and its segment base is known (fs: the
    // trapping thread's, when the handler read it; gs: never).
    ZyanU64 ea = 0;
    const bool fs = op.mem.segment == ZYDIS_REGISTER_FS;
    const uint32_t size = static_cast<uint32_t>(op.size / 8);
    if (widest != nullptr && size > *widest) *widest = size;
    if (WritesAddressRegister(*zydis, *c.insn, c.ops, op) || size == 0 ||
        op.mem.segment == ZYDIS_REGISTER_GS || (fs && fs_base == 0) ||
        !EffectiveAddress(*zydis, c, next_pc, &context, &ea)) {
      all_missed = false;
      return true;
    }
    if (fs) ea += fs_base;
    if (ea < watch_addr + sure_len && watch_addr < ea + size) touched = true;
    if (ea < watch_addr + maybe_len && watch_addr < ea + size) {
      all_missed = false;
    }
    return true;
  });
  if (touched) return TrapOverlap::kTouched;
  if (candidates > 0 && all_missed) return TrapOverlap::kMissed;
  return TrapOverlap::kUnknown;
}

TrapOverlap JudgeTrappedAccess(const AccessInfo& access, uintptr_t watch_addr,
                               uint32_t sure_len, uint32_t maybe_len,
                               uint32_t* widest) {
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
                            sure_len, maybe_len, widest);
}

}  // namespace trapsan
