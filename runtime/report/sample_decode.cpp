#include "sample_decode.h"

#include <Zydis/Zydis.h>
#include <dlfcn.h>

#include <atomic>
#include <mutex>

#include "runtime/linux/safe_read.h"

namespace trapsan {
namespace {

constexpr int kMaxInstructionLength = 15;

// Zydis's entry points, looked up once (PrepareSampleDecoder), whether the
// runtime links it or loads it when it first decodes a trap.
struct ZydisCalls {
  decltype(&::ZydisDecoderInit) decoder_init;
  decltype(&::ZydisDecoderDecodeFull) decode_full;
  decltype(&::ZydisCalcAbsoluteAddressEx) absolute_address;
  decltype(&::ZydisRegisterGetLargestEnclosing) largest_enclosing;
};
ZydisCalls g_zydis;
ZydisDecoder g_decoder;
std::atomic<bool> g_ready{false};

void FillRegisterContext(const uint64_t* regs, ZydisRegisterContext* ctx) {
  static constexpr ZydisRegister kOrder[16] = {
      ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_RCX, ZYDIS_REGISTER_RDX,
      ZYDIS_REGISTER_RBX, ZYDIS_REGISTER_RSP, ZYDIS_REGISTER_RBP,
      ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_RDI, ZYDIS_REGISTER_R8,
      ZYDIS_REGISTER_R9,  ZYDIS_REGISTER_R10, ZYDIS_REGISTER_R11,
      ZYDIS_REGISTER_R12, ZYDIS_REGISTER_R13, ZYDIS_REGISTER_R14,
      ZYDIS_REGISTER_R15};
  for (auto& v : ctx->values) v = 0;
  for (int i = 0; i < 16; ++i) ctx->values[kOrder[i]] = regs[i];
}

// The one explicit memory operand that really touches memory (not lea, not
// a prefetch or nop hint, not push/call's implicit stack slot).
bool MemoryOperand(const ZydisDecodedInstruction& insn,
                   const ZydisDecodedOperand* ops, int* index) {
  if (insn.mnemonic == ZYDIS_MNEMONIC_LEA ||
      insn.mnemonic == ZYDIS_MNEMONIC_NOP ||
      insn.meta.category == ZYDIS_CATEGORY_PREFETCH) {
    return false;
  }
  int found = 0;
  for (int i = 0; i < insn.operand_count; ++i) {
    const ZydisDecodedOperand& op = ops[i];
    if (op.type != ZYDIS_OPERAND_TYPE_MEMORY ||
        op.mem.type != ZYDIS_MEMOP_TYPE_MEM) {
      continue;
    }
    if (op.visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN &&
        (op.mem.base == ZYDIS_REGISTER_RSP ||
         op.mem.base == ZYDIS_REGISTER_ESP)) {
      continue;
    }
    ++found;
    *index = i;
  }
  return found == 1;
}

ZydisRegister Widest(ZydisRegister r) {
  return r == ZYDIS_REGISTER_NONE
             ? r
             : g_zydis.largest_enclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
}

// Whether the instruction writes a register its address is computed from
// (then the registers after it do not give the address).
bool WritesAddressRegister(const ZydisDecodedInstruction& insn,
                           const ZydisDecodedOperand* ops,
                           const ZydisDecodedOperand& mem) {
  const ZydisRegister base = Widest(mem.mem.base),
                      index = Widest(mem.mem.index);
  for (int i = 0; i < insn.operand_count; ++i) {
    const ZydisDecodedOperand& op = ops[i];
    if (op.type != ZYDIS_OPERAND_TYPE_REGISTER ||
        !(op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)) {
      continue;
    }
    const ZydisRegister w = Widest(op.reg.value);
    if (w != ZYDIS_REGISTER_NONE && (w == base || w == index)) return true;
  }
  return false;
}

// What is mapped of the 15 bytes before next_pc, at the end of `bytes`.
int ReadBytesBefore(uintptr_t next_pc,
                    uint8_t (&bytes)[kMaxInstructionLength]) {
  for (int n = kMaxInstructionLength; n >= 1; --n) {
    if (SafeRead(next_pc - n, bytes + kMaxInstructionLength - n,
                 static_cast<size_t>(n))) {
      return n;
    }
  }
  return 0;
}

template <typename T>
bool Lookup(void* lib, const char* name, T* out) {
  *out = reinterpret_cast<T>(dlsym(lib, name));
  return *out != nullptr;
}

}  // namespace

bool PrepareSampleDecoder() {
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = nullptr;
    for (const char* name : {TRAPSAN_PRELOAD_ZYDIS_LIB,
                             TRAPSAN_PRELOAD_ZYDIS_SONAME}) {
      lib = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
      if (lib != nullptr) break;
    }
    if (lib == nullptr ||
        !Lookup(lib, "ZydisDecoderInit", &g_zydis.decoder_init) ||
        !Lookup(lib, "ZydisDecoderDecodeFull", &g_zydis.decode_full) ||
        !Lookup(lib, "ZydisCalcAbsoluteAddressEx", &g_zydis.absolute_address) ||
        !Lookup(lib, "ZydisRegisterGetLargestEnclosing",
                &g_zydis.largest_enclosing) ||
        ZYAN_FAILED(g_zydis.decoder_init(&g_decoder, ZYDIS_MACHINE_MODE_LONG_64,
                                         ZYDIS_STACK_WIDTH_64))) {
      return;
    }
    g_ready.store(true, std::memory_order_release);
  });
  return g_ready.load(std::memory_order_acquire);
}


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
  if (size > 8) return Atomicity::kPlain;
  if (ea_known && size > 1 && ea % size != 0) return Atomicity::kPlain;
  return Atomicity::kUnknown;
}

}  // namespace

SampleRefusal DecodeSampledInstruction(const uint8_t* bytes, int length,
                                       uintptr_t pc,
                                       const uint64_t* registers,
                                       SampledAccess* out) {
  if (!g_ready.load(std::memory_order_acquire)) {
    return SampleRefusal::kUndecodable;
  }
  ZydisDecodedInstruction insn;
  ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
  if (ZYAN_FAILED(g_zydis.decode_full(&g_decoder, bytes,
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
  if (ZYAN_FAILED(g_zydis.absolute_address(&insn, &op, pc, &context, &ea))) {
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
  if (access.stack.depth == 0 || !g_ready.load(std::memory_order_acquire)) {
    return Atomicity::kUnknown;
  }
  const uintptr_t next_pc = access.stack.pcs[0];
  uint8_t buffer[kMaxInstructionLength];
  const int length = ReadBytesBefore(next_pc, buffer);
  if (length == 0) return Atomicity::kUnknown;
  const uint8_t* bytes = buffer + kMaxInstructionLength - length;
  ZydisRegisterContext context;
  if (access.has_registers) FillRegisterContext(access.registers, &context);
  // Every candidate that may have made the access must agree.
  int agreeing = 0;
  Atomicity verdict = Atomicity::kUnknown;
  for (int n = 1; n <= length; ++n) {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (ZYAN_FAILED(g_zydis.decode_full(&g_decoder, bytes + length - n, n,
                                           &insn, ops)) ||
        insn.length != n) {
      continue;
    }
    int index;
    if (!MemoryOperand(insn, ops, &index)) continue;
    const ZydisDecodedOperand& op = ops[index];
    ZyanU64 ea = 0;
    const bool ea_known =
        access.has_registers && !WritesAddressRegister(insn, ops, op) &&
        op.mem.segment != ZYDIS_REGISTER_FS &&
        op.mem.segment != ZYDIS_REGISTER_GS &&
        ZYAN_SUCCESS(g_zydis.absolute_address(&insn, &op, next_pc - n,
                                                &context, &ea));
    // A candidate whose address is known to miss the watched bytes did not
    // make this access.
    if (ea_known && !(ea < watch_addr + watch_len && watch_addr < ea + op.size / 8)) {
      continue;
    }
    const Atomicity a = IsMasked(insn) ? Atomicity::kWideLoad
                                       : AtomicityOf(insn, op, ea, ea_known);
    if (agreeing == 0) {
      verdict = a;
    } else if (a != verdict) {
      return Atomicity::kUnknown;
    }
    ++agreeing;
  }
  return verdict;
}

}  // namespace trapsan
