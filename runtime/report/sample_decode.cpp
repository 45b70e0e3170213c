#include "sample_decode.h"

#include "runtime/linux/safe_read.h"
#include "runtime/report/trapped_candidates.h"
#include "runtime/report/zydis_api.h"

namespace trapsan {

bool PrepareSampleDecoder() { return LoadZydis() != nullptr; }

namespace {

bool IsAtomicInstruction(const ZydisDecodedInstruction& insn) {
  if (insn.attributes & ZYDIS_ATTRIB_HAS_LOCK) return true;
  switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_XCHG:  // with a memory operand: locked implicitly
    case ZYDIS_MNEMONIC_CMPXCHG:
    case ZYDIS_MNEMONIC_CMPXCHG8B:
    case ZYDIS_MNEMONIC_CMPXCHG16B:
    case ZYDIS_MNEMONIC_XADD:
      return true;
    default:
      return false;
  }
}

// A vector access with a lane mask (AVX-512 {k}, vmaskmov, vpmaskmov):
// only some of its bytes are accessed, and the operand does not say which.
bool IsMasked(const ZydisDecodedInstruction& insn) {
  if (insn.avx.mask.reg != ZYDIS_REGISTER_NONE &&
      insn.avx.mask.reg != ZYDIS_REGISTER_K0) {
    return true;
  }
  switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_VMASKMOVPS:
    case ZYDIS_MNEMONIC_VMASKMOVPD:
    case ZYDIS_MNEMONIC_VPMASKMOVD:
    case ZYDIS_MNEMONIC_VPMASKMOVQ:
    case ZYDIS_MNEMONIC_MASKMOVDQU:
    case ZYDIS_MNEMONIC_VMASKMOVDQU:
    case ZYDIS_MNEMONIC_MASKMOVQ:
      return true;
    default:
      return false;
  }
}

// The aligned 16-byte moves (they fault on a misaligned address).
bool IsAlignedVectorMove(const ZydisDecodedInstruction& insn) {
  switch (insn.mnemonic) {
    case ZYDIS_MNEMONIC_MOVDQA:
    case ZYDIS_MNEMONIC_VMOVDQA:
    case ZYDIS_MNEMONIC_VMOVDQA32:
    case ZYDIS_MNEMONIC_VMOVDQA64:
    case ZYDIS_MNEMONIC_MOVAPS:
    case ZYDIS_MNEMONIC_VMOVAPS:
    case ZYDIS_MNEMONIC_MOVAPD:
    case ZYDIS_MNEMONIC_VMOVAPD:
    case ZYDIS_MNEMONIC_MOVNTDQ:
    case ZYDIS_MNEMONIC_VMOVNTDQ:
      return true;
    default:
      return false;
  }
}

bool IsStringInstruction(const ZydisDecodedInstruction& insn) {
  return insn.meta.category == ZYDIS_CATEGORY_STRINGOP ||
         (insn.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE |
                             ZYDIS_ATTRIB_HAS_REPNE)) != 0;
}

// An access that no C++ atomic compiles to (Atomicity, decode.h).
Atomicity AtomicityOf(const ZydisDecodedInstruction& insn,
                      const ZydisDecodedOperand& op, uint64_t ea,
                      bool ea_known) {
  if (IsAtomicInstruction(insn)) return Atomicity::kAtomic;
  if (IsStringInstruction(insn)) return Atomicity::kPlain;
  const uint64_t size = op.size / 8;
  const bool reads = (op.actions & ZYDIS_OPERAND_ACTION_MASK_READ) != 0;
  const bool writes = (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) != 0;
  if (reads && writes) return Atomicity::kPlain;  // an unlocked RMW
  // String functions (strlen, memchr...) load whole aligned vectors, past
  // the bytes they need: such a load says nothing about its neighbours.
  if (size > 8 && !writes) return Atomicity::kWideLoad;
  if (ea_known && size > 1 && ea % size != 0) return Atomicity::kPlain;
  // Where AVX makes aligned 16-byte accesses atomic, 16-byte atomics are
  // loaded and stored with vmovdqa (Rust's portable-atomic; GCC 13's
  // libatomic loads that way): an aligned 16-byte vector store may be one.
  // Any other store wider than 8 bytes is not.
  if (size == 16 && IsAlignedVectorMove(insn)) return Atomicity::kUnknown;
  if (size > 8) return Atomicity::kPlain;
  return Atomicity::kUnknown;
}

}  // namespace

SampleRefusal DecodeSampledInstruction(const uint8_t* bytes, int length,
                                       uintptr_t pc,
                                       const uint64_t* registers,
                                       SampledAccess* out) {
  const ZydisApi* zydis = LoadedZydis();
  if (zydis == nullptr) return SampleRefusal::kUndecodable;
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  if (ZYAN_FAILED(zydis->decode_full(&zydis->decoder, bytes,
                                     static_cast<ZyanUSize>(length), &insn,
                                     ops))) {
    return SampleRefusal::kUndecodable;
  }
  int index;
  if (!MemoryOperand(insn, ops, &index)) return SampleRefusal::kNoMemory;
  if (IsAtomicInstruction(insn)) return SampleRefusal::kAtomic;
  if (IsStringInstruction(insn)) return SampleRefusal::kString;
  if (IsMasked(insn)) return SampleRefusal::kWide;
  const ZydisDecodedOperand& op = ops[index];
  if (op.mem.segment == ZYDIS_REGISTER_FS ||
      op.mem.segment == ZYDIS_REGISTER_GS) {
    return SampleRefusal::kSegment;
  }
  if (op.size == 0) return SampleRefusal::kNoMemory;
  ZydisRegisterContext context;
  FillRegisterContext(registers, &context);
  ZyanU64 ea = 0;
  if (ZYAN_FAILED(zydis->absolute_address(&insn, &op, pc, &context, &ea))) {
    return SampleRefusal::kNoAddress;
  }
  out->addr = static_cast<uintptr_t>(ea);
  out->size = static_cast<uint32_t>(op.size / 8);
  out->kind = (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
                  ? AccessKind::kWrite
                  : AccessKind::kRead;
  out->atomicity = AtomicityOf(insn, op, ea, true);
  if (out->atomicity == Atomicity::kWideLoad) return SampleRefusal::kWide;
  return SampleRefusal::kNone;
}

Atomicity ClassifyTrappedAccess(const AccessInfo& access, uintptr_t watch_addr,
                                uint32_t watch_len) {
  if (access.stack.depth == 0 || LoadedZydis() == nullptr) {
    return Atomicity::kUnknown;
  }
  const uintptr_t next_pc = access.stack.pcs[0];
  uint8_t buffer[kMaxInstructionLength];
  const int length = ReadBytesBefore(next_pc, buffer);
  // No bytes at next_pc (at_length 0): unlike the data lures' decode, a trap
  // inside a rep string instruction is judged like any other.
  return DecodeTrapInBytes(buffer + kMaxInstructionLength - length, length,
                           nullptr, 0, next_pc,
                           access.has_registers ? access.registers : nullptr,
                           watch_addr, watch_len)
      .atomicity;
}

TrapDecode DecodeTrapInBytes(const uint8_t* before, int length,
                             const uint8_t* at, int at_length,
                             uintptr_t next_pc, const uint64_t* registers,
                             uintptr_t watch_addr, uint32_t watch_len) {
  TrapDecode out;
  const ZydisApi* zydis = LoadedZydis();
  if (zydis == nullptr || length <= 0) return out;
  if (at_length > 0) {
    // In the middle of a rep string instruction: the pc is its own.
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (ZYAN_SUCCESS(zydis->decode_full(&zydis->decoder, at,
                                        static_cast<ZyanUSize>(at_length),
                                        &insn, ops)) &&
        IsStringInstruction(insn)) {
      return out;
    }
  }
  int counted = 0;
  bool all_read = true, all_sure_write = true, same_size = true;
  uint32_t size = 0;
  Atomicity verdict = Atomicity::kUnknown;
  bool atomicity_agrees = true;
  // No fs base here: an fs: address is never certain.
  ForEachTrappedCandidate(
      *zydis, before, length, next_pc, registers, /*fs_base=*/0,
      [&](const TrappedCandidate& c) {
        // Known to miss the watched bytes: not the trapping instruction.
        if (c.SurelyMisses(watch_addr, watch_len)) return true;
        if (c.writes) all_read = false;
        if (!c.writes || !c.certain || IsStringInstruction(c.insn)) {
          all_sure_write = false;
        }
        const Atomicity a = IsMasked(c.insn)
                                ? Atomicity::kWideLoad
                                : AtomicityOf(c.insn, c.mem, c.ea, c.certain);
        if (a == Atomicity::kWideLoad) out.maybe_wide = true;
        if (counted == 0) {
          verdict = a;
          size = c.size;
        } else {
          if (a != verdict) atomicity_agrees = false;
          if (c.size != size) same_size = false;
        }
        ++counted;
        return true;
      });
  if (counted == 0) return out;
  if (all_sure_write) {
    out.kind = AccessKind::kWrite;
  } else if (all_read) {
    out.kind = AccessKind::kRead;
  }
  if (atomicity_agrees) out.atomicity = verdict;
  if (same_size) out.size = size;
  return out;
}

TrapDecode DecodeTrapInSignal(uintptr_t next_pc, const uint64_t* registers,
                              uintptr_t watch_addr, uint32_t watch_len) {
  if (LoadedZydis() == nullptr) return TrapDecode{};
  uint8_t before[kMaxInstructionLength];
  const int length = ReadBytesBefore(next_pc, before);
  uint8_t at[kMaxInstructionLength];
  int at_length = 0;
  for (int n = kMaxInstructionLength; n >= 1 && at_length == 0; --n) {
    if (SafeRead(next_pc, at, static_cast<size_t>(n))) at_length = n;
  }
  return DecodeTrapInBytes(before + kMaxInstructionLength - length, length, at,
                           at_length, next_pc, registers, watch_addr,
                           watch_len);
}

}  // namespace trapsan
