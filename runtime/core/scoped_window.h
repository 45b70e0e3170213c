// Scoped exclusivity assertions (TRAPSAN_ASSERT_EXCLUSIVE_*_SCOPED,
// docs/annotations.md): a window of the asserting thread on the variable,
// open from the scope's entry to its end.
//
//   entry: a window as for the plain assertion (arm, snapshot, stall of
//          delay_us, the stall's value change judged), then kept open:
//          slot.hold = kScoped, owned by this thread;
//   meanwhile: other threads' accesses meet it as any window (a hardware
//          trap; in the soft backend their checked accesses and samples);
//          the owner's own accesses are no conflict (its traps count as self
//          traps, its soft records are dropped when the window closes);
//   end:   a new snapshot, a stall of delay_us (the exit check), close and
//          report, with both stacks, the assertion's first.
//
// A scoped window is never stolen for a newer sample, never expires
// (max_window_ms) and is not closed at release points: it is the program's
// own request. It is closed at the scope's end, or at its thread's exit or
// the process's exit (a scope left by longjmp or pthread_exit). Every slot
// busy at the entry: no window (skipped_no_slot) and the end does nothing.
#ifndef TRAPSAN_RUNTIME_CORE_SCOPED_WINDOW_H_
#define TRAPSAN_RUNTIME_CORE_SCOPED_WINDOW_H_

#include <cstdint>

#include "access.h"

namespace trapsan {

// Opens the scoped window for `access` (ordinary context, inside the
// runtime, cancellation held). Returns its cookie, 0 if none opened; its
// cost (for the budget) in *cost_ns.
uint64_t BeginScopedWindow(const AccessInfo& access, uint64_t value_mask,
                           uint64_t* cost_ns);

// Ends the calling thread's scoped window `cookie`: the exit check, then
// the report. Nothing if it is not (any more) this thread's open scoped
// window (closed at a fork, or `cookie` is 0). Returns its cost.
uint64_t EndScopedWindow(uint64_t cookie);

// The SIGTRAP handler: the trap is the calling thread's own access to its
// open scoped window `cookie` (no conflict). Async-signal-safe.
bool OwnScopedWindowTrap(uint64_t cookie);

// At a thread's exit: its scoped windows, closed (without the exit check).
void CloseScopedWindowsOfThread();
// At the process's exit: every thread's.
void CloseAllScopedWindows();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_SCOPED_WINDOW_H_
