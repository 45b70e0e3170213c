// Decoding for timer samples of code not built with trapsan
// (runtime/preload): the instruction a sample interrupted, before it runs,
// and how atomic an instruction may be (x86 relaxed, acquire and release
// atomic loads and stores are plain moves).
//
// Zydis (report/zydis_api.h, shared with report/decode.cpp) is loaded by
// PrepareSampleDecoder() in ordinary context, so that the SIGTRAP handler
// only calls into it: decoding is pure, on the stack.
#ifndef TRAPSAN_RUNTIME_REPORT_SAMPLE_DECODE_H_
#define TRAPSAN_RUNTIME_REPORT_SAMPLE_DECODE_H_

#include <cstdint>

#include "runtime/core/access.h"

namespace trapsan {

// Loads Zydis and sets up the decoder, once. False if it cannot be loaded
// (then nothing is sampled: DecodeSampledInstruction refuses everything).
// Thread-safe; not for signal handlers.
bool PrepareSampleDecoder();


// Whether an instruction can be a C++ atomic operation. On x86 relaxed,
// acquire and release loads and stores compile to plain moves, so a move of
// 1, 2, 4 or 8 naturally aligned bytes may be either (kUnknown). A
// lock-prefixed instruction, xchg with memory, cmpxchg or xadd is an atomic
// read-modify-write (kAtomic). A read-modify-write without lock, an access of
// more than 8 bytes, a misaligned one or a string instruction is never a
// C++ atomic (kPlain). A load of more than 8 bytes (a vector) or a masked
// vector access is kWideLoad: string functions load whole aligned vectors,
// past the bytes they need, so it says nothing about its neighbours.
enum class Atomicity : uint8_t { kUnknown, kPlain, kAtomic, kWideLoad };

// The memory access of the instruction a timer sample interrupted: it has
// not run yet, so the registers give its address exactly.
struct SampledAccess {
  uintptr_t addr = 0;
  uint32_t size = 0;
  AccessKind kind = AccessKind::kUnknown;
  Atomicity atomicity = Atomicity::kUnknown;
};

// Why DecodeSampledInstruction refused (for counters and tests).
enum class SampleRefusal : uint8_t {
  kNone,
  kUndecodable,    // no instruction could be decoded there
  kNoMemory,       // no single explicit memory operand (lea, nop, push,
                   // call, two memory operands, gathers...)
  kAtomic,         // lock-prefixed, xchg, cmpxchg, xadd: never a plain access
  kSegment,        // fs:/gs: (thread-local storage, the stack guard)
  kString,         // movs/stos/cmps..., rep prefixes: a range, not one access
  kNoAddress,      // the effective address could not be computed
  kWide,           // a vector load or a masked access (kWideLoad)
};

// Decodes the one instruction at the start of `bytes` (`length` bytes read
// at `pc`) with `registers` (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8-r15,
// before it runs). Async-signal-safe: Zydis decodes on the stack.
// kUndecodable until PrepareSampleDecoder() succeeded.
SampleRefusal DecodeSampledInstruction(const uint8_t* bytes, int length,
                                       uintptr_t pc,
                                       const uint64_t* registers,
                                       SampledAccess* out);

// How atomic the trapped instruction of `access` (a hardware trap: pcs[0] is
// the next instruction, registers after it) was: every backward-decoding
// candidate that may have touched the watched bytes must agree, else
// kUnknown (also before PrepareSampleDecoder). DecodeTrapInBytes's
// atomicity, without its check of the instruction at pcs[0]. Ordinary
// context (reads code memory safely).
Atomicity ClassifyTrappedAccess(const AccessInfo& access, uintptr_t watch_addr,
                                uint32_t watch_len);

// What a hardware trap's instruction did, decided inside the SIGTRAP handler
// (runtime/preload's data lures, whose read-write watchpoint traps reads and
// writes alike and must tell them apart there). Decoded backwards from the pc
// after the access, with the registers after it; every candidate that may
// have touched the watched bytes must agree, and doubt leans to the side that
// reports less (the candidates and the certainty of their addresses:
// report/trapped_candidates.h):
//  - kind kWrite only when every such candidate writes memory (a
//    read-modify-write too), is not a string instruction, and has an
//    effective address the registers give (it writes none of its address
//    registers, no fs:/gs:) that overlaps the watched bytes; kRead when every
//    such candidate only reads; else kUnknown (also when the instruction at
//    next_pc is a rep-prefixed string instruction: a trap in the middle of
//    one reports the pc of the instruction itself, so the bytes before it are
//    another instruction's);
//  - atomicity as ClassifyTrappedAccess, under the same agreement.
struct TrapDecode {
  AccessKind kind = AccessKind::kUnknown;
  Atomicity atomicity = Atomicity::kUnknown;
  uint32_t size = 0;  // 0 unless every candidate agrees
  // Some candidate is a vector load or a masked access (kWideLoad): it may
  // have read past the bytes it needed (string functions do).
  bool maybe_wide = false;
};

// `before`: the `length` bytes right before next_pc; `at`: the `at_length`
// bytes at next_pc (may be 0). Async-signal-safe (Zydis decodes on the
// stack); all kUnknown before PrepareSampleDecoder() succeeded.
TrapDecode DecodeTrapInBytes(const uint8_t* before, int length,
                             const uint8_t* at, int at_length,
                             uintptr_t next_pc, const uint64_t* registers,
                             uintptr_t watch_addr, uint32_t watch_len);

// The same reading the code (through the kernel: never faults).
// Async-signal-safe.
TrapDecode DecodeTrapInSignal(uintptr_t next_pc, const uint64_t* registers,
                              uintptr_t watch_addr, uint32_t watch_len);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_SAMPLE_DECODE_H_
