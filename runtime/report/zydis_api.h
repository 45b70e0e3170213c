// Zydis, shared by every decoder of the runtime: report/decode.cpp (what a
// hardware trap's instruction did, decoded backwards from the pc after it)
// and report/sample_decode.cpp (the instruction a timer sample interrupted,
// and how atomic an instruction may be).
//
// Zydis is loaded at its first use, not linked (issue 10: a process that
// never decodes does not load it): LoadZydis() in ordinary context, by the
// first trap to report or check, or when timer sampling runs and the
// process starts its second thread (runtime/preload: StartTimerReporterOnce)
// (whose SIGTRAP handler only calls into it, through LoadedZydis()).
#ifndef TRAPSAN_RUNTIME_REPORT_ZYDIS_API_H_
#define TRAPSAN_RUNTIME_REPORT_ZYDIS_API_H_

#include <Zydis/Zydis.h>

#include <cstdint>

namespace trapsan {

inline constexpr int kMaxInstructionLength = 15;

struct ZydisApi {
  decltype(&::ZydisDecoderDecodeFull) decode_full;
  decltype(&::ZydisCalcAbsoluteAddressEx) absolute_address;
  decltype(&::ZydisRegisterGetLargestEnclosing) largest_enclosing;
  ZydisDecoder decoder;  // 64-bit mode; read-only once initialized
};

// Loads Zydis and initializes the decoder, once; null if it cannot be
// loaded. Thread-safe; not for signal handlers.
const ZydisApi* LoadZydis();
// What LoadZydis() loaded, null before it succeeded. Async-signal-safe.
const ZydisApi* LoadedZydis();

// Registers in the order the runtime keeps them (rax, rcx, rdx, rbx, rsp,
// rbp, rsi, rdi, r8-r15) into Zydis's context.
void FillRegisterContext(const uint64_t* regs, ZydisRegisterContext* ctx);

// The one explicit memory operand that really touches memory (not lea, not
// a prefetch or nop hint, not push/call's implicit stack slot); false if
// there is not exactly one.
bool MemoryOperand(const ZydisDecodedInstruction& insn,
                   const ZydisDecodedOperand* ops, int* index);

// Whether the instruction writes a register its memory operand's address is
// computed from (a string store's rdi, a load into its own base): the
// registers after it then do not give the address it accessed.
bool WritesAddressRegister(const ZydisApi& zydis,
                           const ZydisDecodedInstruction& insn,
                           const ZydisDecodedOperand* ops,
                           const ZydisDecodedOperand& mem);

// Reads what is mapped of the 15 bytes before next_pc (a module's first
// instruction may start less than 15 bytes into its mapping) into the end
// of `bytes`; their count, 0 if none. Async-signal-safe (SafeRead).
int ReadBytesBefore(uintptr_t next_pc, uint8_t (&bytes)[kMaxInstructionLength]);

// One instruction that may be the one ending at next_pc (a hardware trap
// reports the pc after its access; x86 instructions have variable length).
struct BackwardCandidate {
  int length;  // it starts this many bytes before next_pc
  const ZydisDecodedInstruction* insn;
  const ZydisDecodedOperand* ops;
  int mem;  // index of its memory operand (MemoryOperand)
};

// Calls fn(n, insn, ops) for every start n = 1..length bytes before the end
// of `bytes` (the bytes right before next_pc) that decodes to exactly one
// instruction ending there; shortest first. Stops early when fn returns
// false.
template <typename Fn>
void ForEachBackwardInstruction(const ZydisApi& zydis, const uint8_t* bytes,
                                int length, Fn&& fn) {
  for (int n = 1; n <= length && n <= kMaxInstructionLength; ++n) {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (ZYAN_FAILED(zydis.decode_full(&zydis.decoder, bytes + length - n, n,
                                      &insn, ops)) ||
        insn.length != n) {
      continue;
    }
    if (!fn(n, static_cast<const ZydisDecodedInstruction&>(insn),
            static_cast<const ZydisDecodedOperand*>(ops))) {
      return;
    }
  }
}

// Calls fn(const BackwardCandidate&) for each of those instructions with one
// memory operand (MemoryOperand); shortest first. Stops early when fn
// returns false.
template <typename Fn>
void ForEachBackwardCandidate(const ZydisApi& zydis, const uint8_t* bytes,
                              int length, Fn&& fn) {
  ForEachBackwardInstruction(
      zydis, bytes, length,
      [&](int n, const ZydisDecodedInstruction& insn,
          const ZydisDecodedOperand* ops) {
        int index;
        if (!MemoryOperand(insn, ops, &index)) return true;
        return static_cast<bool>(fn(BackwardCandidate{n, &insn, ops, index}));
      });
}

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_ZYDIS_API_H_
