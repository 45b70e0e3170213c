// Data lures (option preload_lures; on in mode=ci): watching data words, not
// only sampled instructions, in code nobody rebuilt (docs/preload.md, "Data
// lures").
//
// A timer sample lands on an instruction in proportion to the time spent
// there, so a racy instruction that runs a few nanoseconds per millisecond is
// almost never the one sampled, however often it races. A lure samples data
// instead: when a timer sample opened no window, its thread arms one
// hardware watchpoint (one byte; reads and writes on a word a lure caught a
// write of before, else writes only) on a candidate word and goes on; no
// thread stalls. The first thread that touches the byte traps
// (after its access) and becomes the window's owner, right there in its
// SIGTRAP handler: its instruction is decoded (report/sample_decode.h,
// DecodeTrapInSignal: read, write or not known; plain or maybe atomic), and
// it stalls for the window, the watchpoint still armed. An access of another
// thread that traps meanwhile races with the owner's when either is a
// write (the owner did nothing after its access: no release can order the
// two): a write owner races with every racer; a reading owner (or one whose
// access is not known to be a write) only with a racer decoded as a write.
// Two reads are never recorded. Both sides are traps; the atomics rules of
// timer windows apply (the owner is plain only when decoded so: an unlocked
// read-modify-write, a misaligned access...; the racer is decoded later).
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
// lure's window, was a racer's during it, recorded when it races, or came
// while the lure was not collecting). False otherwise: a trap that also hit
// another open window on the same byte (one SIGTRAP, the lure's cookie):
// *cookie and *watched are then that window's.
bool HandleLureTrap(uint64_t* cookie, uintptr_t* watched, void* uc);

// fork(): the child has no lure armed.
void ResetDataLuresInChild();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_PRELOAD_DATA_LURE_H_
