// The parts of a window opened inside a signal handler (a timer sample's:
// WatchAccessInSignal, window.h) that other handler-run windows share
// (runtime/preload). Async-signal-safe: fixed arrays, what is found queued
// (pending_races.h), never reported from here.
#ifndef TRAPSAN_RUNTIME_CORE_SIGNAL_WINDOW_H_
#define TRAPSAN_RUNTIME_CORE_SIGNAL_WINDOW_H_

#include <cstdint>

#include "conflict_table.h"
#include "slots.h"
#include "thread_state.h"

namespace trapsan {

// After the watching stopped: takes the conflicts recorded against the
// window `cookie` on `slot` into found[0..max), ends the window (inactive;
// `t`'s watching cookie back to `saved_watching`), waits for the handlers
// still in flight and takes theirs too. Returns how many.
int TakeSignalWindowConflicts(Slot& slot, ThreadState& t,
                              uint64_t saved_watching, uint64_t cookie,
                              Conflict* found, int max);

// Queues found[0..n) as races of `window`, but the watcher's own accesses
// (tid `self`: counted as self traps). True if any was queued: the caller
// wakes the reporter (SignalPendingRaces).
bool QueueSignalWindowConflicts(const WindowInfo& window, const Conflict* found,
                                int n, int self);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_SIGNAL_WINDOW_H_
