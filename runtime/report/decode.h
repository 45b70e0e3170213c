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

// True when the trapped instruction (ending at the access's first pc, its
// registers as the trap left them) is a store that writes none of its own
// address registers and whose effective address misses the watched bytes:
// every backward-decoding candidate must agree. Such a trap did not touch the
// window's bytes (a trap raised for another address, seen in the lab guest),
// so it is no race with that window. False whenever in doubt.
bool TrapMissedWatch(const AccessInfo& access, uintptr_t watch_addr,
                     uint32_t watch_len);
bool StoreMissesWatchInBytes(const uint8_t* bytes, int length,
                             uintptr_t next_pc, const uint64_t* registers,
                             uintptr_t watch_addr, uint32_t watch_len);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_DECODE_H_
