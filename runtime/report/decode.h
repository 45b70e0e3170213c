// What a trapping instruction did. A hardware watchpoint's SIGTRAP gives
// only the address of the instruction *after* the access; x86 instructions
// have variable length, so this decodes backwards (with Zydis): every start
// 1..15 bytes before that address that decodes to exactly one instruction
// ending there with one memory operand is a candidate. With the registers
// after the trap, candidates whose effective address misses the watched
// bytes are dropped (a base register the access itself overwrote defeats
// this: then all candidates stay); the longest candidate wins, as prefixes
// (REX, operand size) only make the true instruction longer.
#ifndef TRAPSAN_RUNTIME_REPORT_DECODE_H_
#define TRAPSAN_RUNTIME_REPORT_DECODE_H_

#include <cstdint>

#include "runtime/core/access.h"

namespace trapsan {

// What the trapping access did, from access.stack.pcs[0] (the next
// instruction) and access.registers, given the watched bytes. False when no
// candidate is found. Reads code memory safely.
bool DecodeTrappedAccess(const AccessInfo& access, uintptr_t watch_addr,
                         uint32_t watch_len, AccessKind* kind, uint32_t* size);

// The same on a buffer holding the `length` bytes right before the next
// instruction, which is at `next_pc`. `registers` may be null.
bool DecodeAccessInBytes(const uint8_t* bytes, int length, uintptr_t next_pc,
                         const uint64_t* registers, uintptr_t watch_addr,
                         uint32_t watch_len, AccessKind* kind, uint32_t* size);

// Did the trapped instruction touch the watched bytes? A data breakpoint's
// trap names the breakpoint (si_addr), not the access, and does not prove
// that the access touched the watched bytes: in the lab guest (qemu 7.2, TCG)
// an unaligned access is checked against the debug registers as the aligned
// accesses of its size around it, so a 16-byte load 4 bytes past a watched
// 4-byte word traps (corpus race_free/partitioned, docs/corpus.md). Decoded
// backwards with the registers after the trap (and the trapping thread's fs
// base), every candidate instruction whose effective address is certain
// (registers known, no address register written by the instruction itself,
// no gs: segment; report/trapped_candidates.h) is checked against the
// watched bytes:
//   kTouched  some certain candidate's bytes overlap [watch_addr, +sure_len)
//   kMissed   every candidate is certain and misses [watch_addr, +maybe_len)
//   kUnknown  neither: e.g. a load into its own base register, no candidate,
//             code that cannot be read; the overlap cannot be established
//   kNoDecoder  Zydis could not be loaded: nothing can be judged
// `sure_len` <= `maybe_len`: the bytes surely watched and those that may be
// (a forgotten window's length is not known; its address is).
// `widest`, when given, receives the largest access size (bytes) of any
// candidate, certain or not (0: no candidate), for window_conflicts.cpp's
// judgement of a kUnknown trap on imprecise watchpoints.
// `writes_only`: the window watched writes only (its owner's access was a
// read). A candidate that only reads is then not the trapping access,
// certain or not: no read traps a write watchpoint, and a read is no race
// with the window's read either. A read that did trap got this window's
// cookie from an earlier read/write setting of the slot (a data lure's, in
// the lab guest: preload race_free_plain readonly, 3 of 12 runs reported
// two reads as a possible race before).
enum class TrapOverlap { kTouched, kMissed, kUnknown, kNoDecoder };

TrapOverlap JudgeTrappedAccess(const AccessInfo& access, uintptr_t watch_addr,
                               uint32_t sure_len, uint32_t maybe_len,
                               uint32_t* widest = nullptr,
                               bool writes_only = false);
// The same on the `length` bytes right before `next_pc`.
TrapOverlap JudgeAccessInBytes(const uint8_t* bytes, int length,
                               uintptr_t next_pc, const uint64_t* registers,
                               uint64_t fs_base, uintptr_t watch_addr,
                               uint32_t sure_len, uint32_t maybe_len,
                               uint32_t* widest = nullptr,
                               bool writes_only = false);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_DECODE_H_
