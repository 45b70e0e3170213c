// Data lures (option preload_lures; on in mode=ci): watching data words, not
// only sampled instructions, in code nobody rebuilt (docs/preload.md, "Data
// lures").
//
// A timer sample lands on an instruction in proportion to the time spent
// there, so a racy instruction that runs a few nanoseconds per millisecond is
// almost never the one sampled, however often it races. A lure samples data
// instead: when a timer sample opened no window, its thread arms one
// hardware watchpoint (write-only, one byte) on a candidate word and goes
// on; no thread stalls. The first thread that writes the byte traps (after
// its write) and becomes the window's owner, right there in its SIGTRAP
// handler: it stalls for the window, the watchpoint still armed, and a write
// of another thread that traps meanwhile is a race with its write, as in any
// window (it did nothing after its write: no release can order the two).
// Both sides are traps; the atomics rules of timer windows apply (the
// owner's instruction counts as possibly atomic; the racer's is decoded).
//
// Candidates: a word of the main program's writable data (.data, .bss; not
// its RELRO part or .got.plt), a word near an address a timer sample of
// another thread decoded, and, preferred, words a lure caught before,
// above all those two threads wrote.
//
// One lure at a time, on a free watch slot; a lure no thread wrote within a
// few windows' time is disarmed by the next timer sample of any thread.
// Hardware backend only (nothing traps otherwise). Everything here runs in
// signal handlers: async-signal-safe.
#ifndef TRAPSAN_RUNTIME_PRELOAD_DATA_LURE_H_
#define TRAPSAN_RUNTIME_PRELOAD_DATA_LURE_H_

#include <cstdint>

#include "runtime/core/thread_state.h"

namespace trapsan {

// Finds the main program's writable data (at start-up, ordinary context).
void PrepareDataLures();

// A timer sample of thread `t` (not inside trapsan) decoded a plain access
// of `addr` off its stack: a candidate neighbourhood for lures.
void NoteSampledAddress(const ThreadState& t, uintptr_t addr);

// A timer sample that opened no window: disarms a lure that waited too long,
// or arms a new one when none is armed. Returns the CPU time spent (for
// the caller's budget).
void MaybeArmLure(ThreadState& t);

// The SIGTRAP handler, for a trap on a watch slot with *cookie at *watched
// (si_addr): true if it was a lure's (handled here: the trap opened the
// lure's window, or came while the lure was not collecting). False
// otherwise: a racer's trap during a lure's window, recorded as any
// conflict; or a trap that also hit another open window on the same byte
// (one SIGTRAP, the lure's cookie): *cookie and *watched are then that
// window's.
bool HandleLureTrap(uint64_t* cookie, uintptr_t* watched, void* uc);

// fork(): the child has no lure armed.
void ResetDataLuresInChild();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_PRELOAD_DATA_LURE_H_
