// What trapsan knows about one memory access: who made it, where, and the
// stack that led to it. Plain data, filled from the SIGTRAP handler as well as
// from ordinary code.
#ifndef TRAPSAN_RUNTIME_CORE_ACCESS_H_
#define TRAPSAN_RUNTIME_CORE_ACCESS_H_

#include <cstdint>

namespace trapsan {

inline constexpr int kMaxFrames = 32;

// Raw program counters, innermost first. Symbolized later, outside handlers.
struct StackTrace {
  uintptr_t pcs[kMaxFrames];
  int depth;
};

enum class AccessKind : uint8_t { kUnknown, kRead, kWrite };

struct AccessInfo {
  int tid;             // kernel thread id
  uint32_t thread_id;  // trapsan's thread number (T0 is the first thread)
  uintptr_t addr;      // the bytes accessed; for a trap, the watched bytes
  uint32_t size;       // 0 if unknown
  AccessKind kind;
  // True when pcs[0] is the instruction after the access (a hardware trap);
  // false when it is a return address into the code that made the access.
  bool pc_after_access;
  uint64_t time_ns;  // CLOCK_MONOTONIC
  StackTrace stack;
  // For a hardware trap: the general-purpose registers after the access
  // (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8-r15), to tell which
  // instruction made it when decoding backwards is ambiguous.
  bool has_registers;
  uint64_t registers[16];
  // For a hardware trap: the trapping thread's fs base (its TLS block), for
  // an fs:-relative instruction's address; 0 if not known.
  uint64_t fs_base = 0;
  // The access's source line when the top frame's own line is another one
  // (an instrumented site samples one of several accesses from one call);
  // 0: the top frame's line.
  uint32_t line = 0;
  // A hardware trap on a masked window (TRAPSAN_ASSERT_EXCLUSIVE_BITS): the
  // write changed bits of the mask (window.h, NoteMaskedTrap).
  bool changed_masked_bits = false;
};

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_ACCESS_H_
