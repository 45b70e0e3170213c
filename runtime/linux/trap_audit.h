// The trap audit: does the kernel deliver a SIGTRAP for every hit of
// trapsan's watchpoints? Before Linux 6.1 (ca6c21327c6a "perf: Fix missing
// SIGTRAPs"; docs/kernel.md) it did not: a trap pending while another CPU
// enabled, disabled or modified the event was forgotten, and that thread's
// copy of the event never sent a SIGTRAP again. The kernel still counts the
// hits: read() of a slot's perf fds sums every thread's copy. So a slot
// whose count grew by more than the SIGTRAPs the handler got for it lost
// traps, and a runtime that goes on as if it had not would claim detection
// it does not have.
//
// The window code calls AuditSlotTraps(slot) after closing a window on a
// hardware slot (normal thread context, never a signal handler). At most
// every kAuditIntervalNs per slot it reads the slot's count (one read() per
// fd of the slot) and feeds a TrapLedger. A confirmed loss counts in
// traps_lost (stats), prints one warning, and re-opens the slot's events,
// one per live thread (breakpoints.h ReopenSlotForAllThreads: fresh copies,
// sending SIGTRAPs again); after kMaxReopens re-openings, or if one fails,
// it says the hardware backend is not trustworthy on this kernel.
//
// The SIGTRAP handler's side, NoteSlotTrap(), is one relaxed atomic add:
// async-signal-safe.
#ifndef TRAPSAN_RUNTIME_LINUX_TRAP_AUDIT_H_
#define TRAPSAN_RUNTIME_LINUX_TRAP_AUDIT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "runtime/core/cookie.h"

namespace trapsan {

// The bookkeeping of one slot, pure (tests feed it simulated counts).
// D = hits - traps since the baseline (the first observation) is the
// lost traps plus those still on their way (a thread between its debug
// exception and its handler). Lost traps never arrive, so D never falls
// below them; a trap on its way arrives within microseconds (a thread
// preempted between its debug exception and its signal: a scheduler slice
// or two). A loss is confirmed when three observations, each at least
// `grace_ns` after the one before, all show a deficit: the smallest is
// taken as lost (a lower bound unless traps were on their way at all three).
class TrapLedger {
 public:
  explicit TrapLedger(uint64_t grace_ns) : grace_ns_(grace_ns) {}

  // hits: the slot's events' count now; traps: SIGTRAPs handled for the
  // slot so far. Returns the traps newly confirmed lost (usually 0). A
  // count that went backwards (the events were opened again) starts over.
  uint64_t Observe(uint64_t hits, uint64_t traps, uint64_t now_ns);

  // Forget everything: the next observation is the new baseline.
  void Reset();

  uint64_t lost() const { return lost_; }
  // The slot's hits since the baseline, at the last kept observation.
  uint64_t hits_seen() const { return hits_seen_; }

 private:
  uint64_t grace_ns_;
  bool have_base_ = false;
  uint64_t base_hits_ = 0, base_traps_ = 0;
  int64_t deficits_[2] = {0, 0};  // at the two previous kept observations
  uint64_t prev_ns_ = 0;          // the last kept observation's time
  uint64_t lost_ = 0;
  uint64_t hits_seen_ = 0;
};

// SIGTRAPs handled per slot (every trap whose sig_data names the slot:
// in-time, late, the watcher's own). Async-signal-safe.
// For tests: with TRAPSAN_TESTONLY_UNCOUNTED_TRAPS=N in the environment
// (read at the first audit), every Nth trap is handled but not counted
// here, as if the kernel had lost it: the audit's whole path (real counts,
// warning, re-opening) runs on a kernel that loses nothing.
// addr: the trap's si_addr (the watched address of the event that fired).
// Also credits the other armed slots watching those bytes: an instruction
// that hits two watchpoints gets one SIGTRAP on every kernel (the second
// signal merges with the first, still pending).
std::atomic<uint64_t>& SlotTrapCount(int slot);
void NoteSlotTrap(int slot, uintptr_t addr);
// Traps credited that way so far.
uint64_t TrapsMerged();

// After a window on hardware slot `slot` closed (its watchpoint disarmed,
// its handlers waited for). Cheap unless an audit is due. Not for signal
// handlers (it may print and re-open events).
void AuditSlotTraps(int slot);

// Traps confirmed lost in this process so far (also in Stats().traps_lost).
uint64_t TrapsLost();

// A fork child: its events are new (breakpoints.h), count again from 0.
void ResetTrapAuditInChild();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_TRAP_AUDIT_H_
