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

bool StoreMissesWatchInBytes(const uint8_t* bytes, int length,
                             uintptr_t next_pc, const uint64_t* registers,
                             uintptr_t watch_addr, uint32_t watch_len) {
  if (registers == nullptr) return false;
  const ZydisApi* zydis = LoadZydis();
  if (zydis == nullptr) return false;
  ZydisRegisterContext context;
  FillRegisterContext(registers, &context);
  int candidates = 0;
  bool misses = true;
  ForEachBackwardCandidate(*zydis, bytes, length, [&](const BackwardCandidate& c) {
    const ZydisDecodedOperand& op = c.ops[c.mem];
    ++candidates;
    // Every candidate must be a plain store whose address is known and
    // misses; any doubt keeps the trap.
    // (fs:/gs: addresses need a segment base the registers do not hold.)
    ZyanU64 ea = 0;
    if (!(op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) ||
        WritesAddressRegister(*zydis, *c.insn, c.ops, op) || op.size == 0 ||
        op.mem.segment == ZYDIS_REGISTER_FS ||
        op.mem.segment == ZYDIS_REGISTER_GS ||
        !EffectiveAddress(*zydis, c, next_pc, &context, &ea) ||
        (ea < watch_addr + watch_len && watch_addr < ea + op.size / 8)) {
      misses = false;
    }
    return misses;
  });
  return misses && candidates > 0;
}

bool TrapMissedWatch(const AccessInfo& access, uintptr_t watch_addr,
                     uint32_t watch_len) {
  if (access.stack.depth == 0 || !access.has_registers) return false;
  const uintptr_t next_pc = access.stack.pcs[0];
  uint8_t bytes[kMaxInstructionLength];
  const int n = ReadBytesBefore(next_pc, bytes);
  return n > 0 && StoreMissesWatchInBytes(bytes + kMaxInstructionLength - n, n,
                                          next_pc, access.registers,
                                          watch_addr, watch_len);
}

}  // namespace trapsan
