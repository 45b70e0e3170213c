// The steps a window takes on its slot, shared by the ordinary path
// (window.cpp) and a timer sample's window in a signal handler
// (signal_window.cpp): claiming a free slot, describing the window and
// publishing it, the randomized stall, waiting for trap handlers in flight.
// Async-signal-safe, all of it.
#ifndef TRAPSAN_RUNTIME_CORE_WINDOW_SLOT_H_
#define TRAPSAN_RUNTIME_CORE_WINDOW_SLOT_H_

#include <cstdint>

#include "access.h"
#include "options.h"
#include "slots.h"
#include "thread_state.h"

namespace trapsan {

// Handlers still running when the window closes get this long to finish;
// whatever comes later is reported as a late trap.
constexpr uint64_t kHandlerGraceNs = 2000000;  // 2 ms

// A value change with no trap: how long to wait for a late handler.
constexpr uint64_t kLateTrapWaitNs = 2000000;  // 2 ms
constexpr uint64_t kLateTrapPollNs = 50000;    // 50 us
// ... and at most this long while a handler or record is still in flight.
constexpr uint64_t kInFlightRecordWaitNs = 20000000;  // 20 ms

// A free slot, claimed (busy); -1 if none.
int ClaimSlot();

// Fills in `window` (its flags set by the caller: masked, timer_sample,
// known_plain) for `access` watched at [base, base + len) on the claimed
// slot `index`: a new generation's cookie; publishes it (LookupWindow finds
// it) and sets the slot's watch range and owner (thread `t`). Not active
// yet: MakeWindowActive.
void DescribeWindow(int index, ThreadState& t, const AccessInfo& access,
                    uintptr_t base, int len, WindowInfo* window);

// Publishes the range set above to other threads' overlap checks
// (ConflictingWindow: release), and marks `t` the window's watcher.
void MakeWindowActive(Slot& slot, ThreadState& t, const WindowInfo& window);

// The stall a window asks for: delay_us +-50% (0: none).
uint64_t StallNs(ThreadState& t, const Options& options);

// Sleeping lets another thread run on this CPU (and race); with few CPUs that
// catches more than spinning. EINTR (a user's signal) does not cut it short.
// Returns how long the thread was away, which is what the budget is charged:
// a sleep of 50 us takes 100-170 us here (the timer slack and the wake-up
// come on top). At most 3 times the request: a watcher preempted after its
// sleep by the program's own threads is not charged for that.
uint64_t Stall(uint64_t delay_ns);

// Waits (at most kHandlerGraceNs from `since`) for the trap handlers and
// soft checks running on the slot's window to finish.
void WaitForHandlers(const Slot& slot, uint64_t since);

// Records `access`, made in ordinary context by a thread that found window
// `cookie` open on `slot` (a soft check, or a sampled access meeting
// another thread's window), only while that window is still open: its
// watcher clears active_cookie and then waits for handlers_in_flight to drop
// to 0 before its last take of conflicts, so the record is either taken by
// that window or not made at all (both sides seq_cst: one of them sees the
// other). Returns false when the window had closed. A full table loses the
// record (traps_dropped) but still counts as made.
bool RecordWhileOpen(Slot& slot, uint64_t cookie, const AccessInfo& access);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_WINDOW_SLOT_H_
