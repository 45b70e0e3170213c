// The start-up probe: before trusting the hardware backend, trapsan arms one
// watchpoint on a variable of its own, writes it, and checks that the
// SIGTRAP arrived once, synchronously, in this thread, carrying the cookie
// and the address. Takes tens of microseconds (budget: 5 ms).
#ifndef TRAPSAN_RUNTIME_LINUX_PROBE_H_
#define TRAPSAN_RUNTIME_LINUX_PROBE_H_

#include <cstdint>
#include <string>

namespace trapsan {

struct ProbeResult {
  bool ok = false;
  std::string evidence;  // what was seen, for the start-up line
  uint64_t elapsed_ns = 0;
  bool skipped = false;  // a debugger is attached: no self-test trap
};

// TRAPSAN_TESTONLY_WATCHPOINTS=undelivered in the environment leaves out
// the self-test's write (a machine whose watchpoints do not deliver, for
// tests). Needs the SIGTRAP handler installed and at least one slot open
// (SlotCount() > 0). Leaves the slot disarmed and the conflict table empty.
// Under a debugger (a tracer attached), the self-test trap would stop the
// program at start-up: it is skipped, and the result says so (ok = true).
ProbeResult ProbeHardware();

// After a passed self-test: whether a watchpoint traps accesses that do not
// touch its bytes (an unaligned 8-byte load right after 4 watched bytes
// trapped: qemu 7.2's TCG). Then a trap whose instruction's address cannot be
// recomputed is no proof of a race (core/window_conflicts.cpp).
bool WatchpointsImprecise();

// Imprecise watchpoints whose extra traps stay within aligned blocks of the
// access's own size that hold a byte of the access (qemu's TCG): an access
// no wider than an aligned watched block traps only when it touched a
// watched byte. Checked at start-up: with 8 aligned bytes watched, an
// unaligned 8-byte load 12 bytes on and a 4-byte load 8 bytes on must not
// trap. False where watchpoints are precise or coarser than that.
bool ImprecisionWithinAccessSize();

// Whether a debugger is attached (TracerPid of /proc/self/status).
bool BeingTraced();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_PROBE_H_
