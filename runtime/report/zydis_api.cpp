#include "zydis_api.h"

#include <dlfcn.h>

#include <atomic>
#include <mutex>

#include "runtime/linux/safe_read.h"

namespace trapsan {
namespace {

ZydisApi g_api;
std::atomic<const ZydisApi*> g_loaded{nullptr};

template <typename T>
bool Lookup(void* lib, const char* name, T* out) {
  *out = reinterpret_cast<T>(dlsym(lib, name));
  return *out != nullptr;
}

}  // namespace

const ZydisApi* LoadZydis() {
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = nullptr;
    for (const char* name : {TRAPSAN_ZYDIS_LIB, TRAPSAN_ZYDIS_SONAME}) {
      lib = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
      if (lib != nullptr) break;
    }
    decltype(&::ZydisDecoderInit) decoder_init = nullptr;
    if (lib == nullptr || !Lookup(lib, "ZydisDecoderInit", &decoder_init) ||
        !Lookup(lib, "ZydisDecoderDecodeFull", &g_api.decode_full) ||
        !Lookup(lib, "ZydisCalcAbsoluteAddressEx", &g_api.absolute_address) ||
        !Lookup(lib, "ZydisRegisterGetLargestEnclosing",
                &g_api.largest_enclosing) ||
        ZYAN_FAILED(decoder_init(&g_api.decoder, ZYDIS_MACHINE_MODE_LONG_64,
                                 ZYDIS_STACK_WIDTH_64))) {
      return;
    }
    g_loaded.store(&g_api, std::memory_order_release);
  });
  return LoadedZydis();
}

const ZydisApi* LoadedZydis() {
  return g_loaded.load(std::memory_order_acquire);
}

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
    // Implicit stack accesses (push, call) are not the watched data.
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

bool WritesAddressRegister(const ZydisApi& zydis,
                           const ZydisDecodedInstruction& insn,
                           const ZydisDecodedOperand* ops,
                           const ZydisDecodedOperand& mem) {
  auto widest = [&zydis](ZydisRegister r) {
    return r == ZYDIS_REGISTER_NONE
               ? r
               : zydis.largest_enclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
  };
  const ZydisRegister base = widest(mem.mem.base),
                      index = widest(mem.mem.index);
  for (int i = 0; i < insn.operand_count; ++i) {
    const ZydisDecodedOperand& op = ops[i];
    if (op.type != ZYDIS_OPERAND_TYPE_REGISTER ||
        !(op.actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)) {
      continue;
    }
    const ZydisRegister w = widest(op.reg.value);
    if (w != ZYDIS_REGISTER_NONE && (w == base || w == index)) return true;
  }
  return false;
}

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

}  // namespace trapsan
