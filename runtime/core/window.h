// The watch window: the path of one sampled access.
//
//   software overlap check against open windows (a conflict found here is
//   recorded at once, no window needed) -> claim a slot -> describe the
//   window -> arm the watchpoint -> snapshot the value -> stall for the
//   randomized delay -> disarm -> wait for handlers in flight -> re-read the
//   value -> take the conflicts recorded for this window -> release the slot
//   -> report.
//
// Thread-safe. Runs in ordinary context (never in a signal handler), inside
// an InRuntime guard, with t_thread.current_access pointing at the access.
//
// Where it lives: window.cpp (opening, holding and closing a window),
// window_slot.h (the slot steps every window takes), watch_backend.h (the
// hardware or soft watching it calls), watched_value.h (the watched range
// and its value), window_conflicts.h (judging and reporting what a window
// found), signal_window.{h,cpp} (a timer sample's window, in a signal
// handler, and the parts other handler-run windows share).
#ifndef TRAPSAN_RUNTIME_CORE_WINDOW_H_
#define TRAPSAN_RUNTIME_CORE_WINDOW_H_

#include <cstddef>
#include <cstdint>

#include "access.h"

namespace trapsan {

enum class Backend : int { kOff = 0, kSoft = 1, kHw = 2 };
Backend ActiveBackend();
void SetActiveBackend(Backend backend);
const char* BackendName(Backend backend);

// The watchpoint for an access of `size` bytes at `addr`: the largest
// naturally aligned 8/4/2/1-byte range inside the access (never beyond it, so
// neighbouring data cannot produce a false report). False if size is 0.
bool ChooseWatchRange(uintptr_t addr, size_t size, uintptr_t* base, int* len);

// True when [addr, addr + len) overlaps the calling thread's errno. No
// window watches it: trapsan's signal handlers save and restore errno, and a
// SIGTRAP handler that writes a watched word traps again as it returns, for
// ever (a timer storm's `while (...) == -1 && errno == EINTR` sampled: each
// SIGALRM during the window's stall made glibc write EINTR there).
bool CoversOwnErrno(uintptr_t addr, size_t len);

// Cheap: false when WatchAccess() would surely do nothing for this access
// (every slot busy and no open window it could conflict with), so the
// sampler can skip capturing a stack. Counts skipped_no_slot then.
bool WindowPossible(uintptr_t addr, size_t size, bool is_write);

// Opens a window for `access` (addr, size and kind set) and reports what it
// finds. Returns the window's cost for the budget: the CPU time this thread
// spent in it (arming, disarming, collecting, reporting) plus the stall it
// asked for; 0 if no window opened (a conflict found in software, or no
// free slot). Time the thread spent preempted is not the window's cost.
// `may_hold`: the sample came from code whose release points are marked (a
// compiler-plugin site): with release_windows=1 the window is then held
// open past this call, until the thread's next release (release.h), and
// costs no stall.
uint64_t WatchAccess(const AccessInfo& access, bool may_hold = false);

// What an exclusivity assertion (abi/annotations.cpp) asks of its window.
struct WindowRequest {
  bool may_hold = false;  // as above
  // Bits of the access's value that matter (bit i is bit i % 8 of the
  // access's byte i / 8; TRAPSAN_ASSERT_EXCLUSIVE_BITS): a write that
  // changes none of them is no conflict (KCSAN's semantics). 0: every bit.
  uint64_t value_mask = 0;
  // A scoped assertion's window (scoped_window.h): after its entry stall it
  // stays open, owned by this thread, until FinishScopedWindow.
  bool scoped = false;
};
// As above; a scoped window's cookie in *scoped_cookie (0 if none opened).
uint64_t WatchAccess(const AccessInfo& access, const WindowRequest& request,
                     uint64_t* scoped_cookie);

// Ends a scoped window (slot `index`, claimed kClosing by the caller):
// with `exit_check`, a new snapshot of the value and a stall of delay_us
// first (the owner is inside trapsan meanwhile, so a value change there is
// another thread's), then CloseWindow. Returns its cost for the budget.
uint64_t FinishScopedWindow(int index, bool exit_check);

// The SIGTRAP handler, for a trap carrying `cookie` on slot `index`: on a
// masked window, whether the write changed masked bits (the value now
// against the value after the previous trap). False on other windows, and
// when the slot's values are no longer that window's (the slot was reused
// before this handler ran: the change cannot be judged). Async-signal-safe.
bool NoteMaskedTrap(int index, uint64_t cookie);

// Closes the window open on slot `index` (disarm, wait for handlers,
// re-read, take its conflicts, release the slot, report). `held`: a
// release-bounded window (release.h), closed by its owner or another thread.
// Returns the CPU time spent.
uint64_t CloseWindow(int index, bool held);

// Reports conflicts whose window has closed (late traps), after the races
// queued by signal-handler windows (DrainPendingRaces). Called after every
// window, by the preload reporter thread and at exit.
void DrainLateConflicts();

// The window of a timer sample of uninstrumented code (runtime/preload),
// run inside its SIGTRAP handler before the sampled instruction executes:
// async-signal-safe. As WatchAccess, but no slot is stolen, a hardware
// window whose arming would block is skipped, and what it finds is queued
// (core/pending_races.h), not reported. A value change with no access seen
// is queued only when `known_plain` (the instruction cannot be an atomic).
// Returns the window's cost for the budget, 0 if none opened.
uint64_t WatchAccessInSignal(const AccessInfo& access, bool known_plain);

// Reports the races signal-handler windows queued. Ordinary context.
void DrainPendingRaces();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_WINDOW_H_
