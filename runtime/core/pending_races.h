// Races found inside a signal handler, waiting to be reported.
//
// A window opened by a timer sample of uninstrumented code (runtime/preload)
// runs in the SIGTRAP handler, where nothing may allocate, symbolize or take
// a lock the interrupted code could hold: what it finds is copied here
// (lock-free, async-signal-safe), and reported later in ordinary context by
// DrainPendingRaces() (core/window.h): after every window of instrumented
// code, at pthread_create and fork, by the preload reporter thread, and at
// exit. A full queue drops the race and counts it (traps_dropped).
#ifndef TRAPSAN_RUNTIME_CORE_PENDING_RACES_H_
#define TRAPSAN_RUNTIME_CORE_PENDING_RACES_H_

#include <cstdint>

#include "race_event.h"

namespace trapsan {

inline constexpr int kMaxPendingRaces = 32;

// Async-signal-safe. False when the queue is full.
bool PushPendingRace(const RaceEvent& event);

// Moves up to `max` queued races into out[]; returns how many.
int TakePendingRaces(RaceEvent* out, int max);

// Wakes whoever waits in WaitForPendingRaces (async-signal-safe: a futex
// wake).
void SignalPendingRaces();
// Blocks until a race was queued since the last call, or `timeout_ns`.
void WaitForPendingRaces(uint64_t timeout_ns);

// Serializes drains (the reporter thread, exit): a race taken from the queue
// is reported before another drain returns. Recursive: a report may exit.
// False when it waited 500 ms in vain (then do not unlock).
bool LockDrain();
void UnlockDrain();

void ResetPendingRaces();  // after fork, in the child

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_PENDING_RACES_H_
