#include "decode.h"

#include <Zydis/Zydis.h>
#include <dlfcn.h>

#include <initializer_list>

#include "runtime/linux/safe_read.h"

namespace trapsan {
namespace {

constexpr int kMaxInstructionLength = 15;

// Zydis, loaded at the first decode (a trap to report or to check) rather
// than with the runtime: a process that never has a trap to decode does not
// load it (issue 10: a per-process cost). Null if it cannot be loaded: then
// nothing is decoded (a report says "access", a trap is kept).
struct ZydisApi {
  decltype(&::ZydisDecoderInit) decoder_init;
  decltype(&::ZydisDecoderDecodeFull) decode_full;
  decltype(&::ZydisCalcAbsoluteAddressEx) absolute_address;
  decltype(&::ZydisRegisterGetLargestEnclosing) largest_enclosing;
};

const ZydisApi* Zydis() {
  static const ZydisApi* api = []() -> const ZydisApi* {
    void* lib = nullptr;
    for (const char* name : {TRAPSAN_ZYDIS_LIB, TRAPSAN_ZYDIS_SONAME}) {
      lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (lib != nullptr) break;
    }
    if (lib == nullptr) return nullptr;
    static ZydisApi loaded;
    loaded.decoder_init = reinterpret_cast<decltype(loaded.decoder_init)>(
        dlsym(lib, "ZydisDecoderInit"));
    loaded.decode_full = reinterpret_cast<decltype(loaded.decode_full)>(
        dlsym(lib, "ZydisDecoderDecodeFull"));
    loaded.absolute_address =
        reinterpret_cast<decltype(loaded.absolute_address)>(
            dlsym(lib, "ZydisCalcAbsoluteAddressEx"));
    loaded.largest_enclosing =
        reinterpret_cast<decltype(loaded.largest_enclosing)>(
            dlsym(lib, "ZydisRegisterGetLargestEnclosing"));
    if (loaded.decoder_init == nullptr || loaded.decode_full == nullptr ||
        loaded.absolute_address == nullptr ||
        loaded.largest_enclosing == nullptr)
      return nullptr;
    return &loaded;
  }();
  return api;
}

struct Candidate {
  int length;
  AccessKind kind;
  uint32_t size;
  bool hits_watch;  // its effective address overlaps the watched bytes
};

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

// The memory operand of one decoded instruction, if it has exactly one that
// really touches memory (not lea, not prefetch/nop hints).
bool MemoryOperand(const ZydisDecodedInstruction& insn,
                   const ZydisDecodedOperand* ops, int* index) {
  if (insn.mnemonic == ZYDIS_MNEMONIC_LEA || insn.mnemonic == ZYDIS_MNEMONIC_NOP ||
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
    // Implicit stack accesses (push, call) are not the watched data.
    if (op.visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN &&
        (op.mem.base == ZYDIS_REGISTER_RSP || op.mem.base == ZYDIS_REGISTER_ESP)) {
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
             : Zydis()->largest_enclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
}

// Whether the instruction writes a register its memory operand's address is
// computed from (a string store's rdi, a load into its own base): the
// registers after the trap then do not give the address it accessed.
bool WritesAddressRegister(const ZydisDecodedInstruction& insn,
                           const ZydisDecodedOperand* ops,
                           const ZydisDecodedOperand& mem) {
  const ZydisRegister base = Widest(mem.mem.base), index = Widest(mem.mem.index);
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

}  // namespace

bool DecodeAccessInBytes(const uint8_t* bytes, int length, uintptr_t next_pc,
                         const uint64_t* registers, uintptr_t watch_addr,
                         uint32_t watch_len, AccessKind* kind, uint32_t* size) {
  const ZydisApi* zydis = Zydis();
  ZydisDecoder decoder;
  if (zydis == nullptr ||
      ZYAN_FAILED(zydis->decoder_init(&decoder, ZYDIS_MACHINE_MODE_LONG_64,
                                      ZYDIS_STACK_WIDTH_64))) {
    return false;
  }
  ZydisRegisterContext context;
  if (registers != nullptr) FillRegisterContext(registers, &context);
  Candidate best{0, AccessKind::kUnknown, 0, false};
  for (int n = 1; n <= length && n <= kMaxInstructionLength; ++n) {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (ZYAN_FAILED(zydis->decode_full(&decoder, bytes + length - n, n,
                                       &insn, ops)) ||
        insn.length != n) {
      continue;
    }
    int index;
    if (!MemoryOperand(insn, ops, &index)) continue;
    const ZydisDecodedOperand& op = ops[index];
    Candidate c{n,
                (op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
                    ? AccessKind::kWrite
                    : AccessKind::kRead,
                static_cast<uint32_t>(op.size / 8), false};
    ZyanU64 ea = 0;
    if (registers != nullptr &&
        ZYAN_SUCCESS(zydis->absolute_address(&insn, &op, next_pc - n,
                                             &context, &ea))) {
      c.hits_watch = ea < watch_addr + watch_len && watch_addr < ea + c.size;
    }
    // Prefer a candidate that hits the watched bytes, then the longest.
    if (best.length == 0 || (c.hits_watch && !best.hits_watch) ||
        (c.hits_watch == best.hits_watch && c.length > best.length)) {
      best = c;
    }
  }
  if (best.length == 0) return false;
  *kind = best.kind;
  *size = best.size;
  return true;
}

namespace {
// Reads what is mapped of the 15 bytes before next_pc (a module's first
// instruction may start less than 15 bytes into its mapping) into the end
// of `bytes`; their count, 0 if none.
int ReadBytesBefore(uintptr_t next_pc, uint8_t (&bytes)[kMaxInstructionLength]) {
  for (int n = kMaxInstructionLength; n >= 1; --n) {
    if (SafeRead(next_pc - n, bytes + kMaxInstructionLength - n,
                 static_cast<size_t>(n))) {
      return n;
    }
  }
  return 0;
}
}  // namespace

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
  const ZydisApi* zydis = Zydis();
  ZydisDecoder decoder;
  if (zydis == nullptr ||
      ZYAN_FAILED(zydis->decoder_init(&decoder, ZYDIS_MACHINE_MODE_LONG_64,
                                      ZYDIS_STACK_WIDTH_64))) {
    return false;
  }
  ZydisRegisterContext context;
  FillRegisterContext(registers, &context);
  int candidates = 0;
  for (int n = 1; n <= length && n <= kMaxInstructionLength; ++n) {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (ZYAN_FAILED(zydis->decode_full(&decoder, bytes + length - n, n,
                                       &insn, ops)) ||
        insn.length != n) {
      continue;
    }
    int index;
    if (!MemoryOperand(insn, ops, &index)) continue;
    const ZydisDecodedOperand& op = ops[index];
    ++candidates;
    // Every candidate must be a plain store whose address is known and
    // misses; any doubt keeps the trap.
    // (fs:/gs: addresses need a segment base the registers do not hold.)
    if (!(op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) ||
        WritesAddressRegister(insn, ops, op) || op.size == 0 ||
        op.mem.segment == ZYDIS_REGISTER_FS ||
        op.mem.segment == ZYDIS_REGISTER_GS) {
      return false;
    }
    ZyanU64 ea = 0;
    if (ZYAN_FAILED(zydis->absolute_address(&insn, &op, next_pc - n,
                                            &context, &ea))) {
      return false;
    }
    const uint64_t size = op.size / 8;
    if (ea < watch_addr + watch_len && watch_addr < ea + size) return false;
  }
  return candidates > 0;
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
