// The hardware backend: process-wide watchpoints made of perf breakpoint
// events (PERF_TYPE_BREAKPOINT, sigtrap, inherit + inherit_thread,
// remove_on_exec, exclude_kernel), one event per slot.
//
// Events are opened on the initializing thread; every thread it (or its
// descendants) creates later inherits them, and PERF_EVENT_IOC_MODIFY_ATTRIBUTES
// on the opened fd reaches every inherited copy. Threads that already existed
// get events of their own (AdoptExistingThread), re-armed alongside.
//
// Thread-compatible until OpenBreakpoints() returns, then thread-safe.
#ifndef TRAPSAN_RUNTIME_LINUX_BREAKPOINTS_H_
#define TRAPSAN_RUNTIME_LINUX_BREAKPOINTS_H_

#include <linux/perf_event.h>

#include <cstdint>
#include <string>

namespace trapsan {

// The attributes every trapsan breakpoint event shares: a user-only
// PERF_TYPE_BREAKPOINT of `bp_type` on [addr, addr+len), one overflow per
// hit, a synchronous SIGTRAP (sigtrap, which wants remove_on_exec).
perf_event_attr SigtrapBreakpointAttr(uint32_t bp_type, uintptr_t addr,
                                      uint64_t len);

// Opens up to `max_slots` breakpoint events on the calling thread. Returns
// how many opened (0 on failure, with the reason in *why).
int OpenBreakpoints(int max_slots, std::string* why);

// Gives thread `tid` (of this process, created before OpenBreakpoints) its
// own inheriting events for every open slot. False if it could not.
bool AdoptExistingThread(int tid, std::string* why);

// Arms `slot` on [addr, addr+len) (len 1, 2, 4 or 8, aligned) for writes, or
// for reads and writes, with `cookie` as sig_data. Async-signal-unsafe,
// unless !may_block (a signal handler's window): then it fails instead of
// waiting for thread creation (the interrupted thread may be creating one),
// and says nothing about lost fds.
bool ArmBreakpoint(int slot, uintptr_t addr, int len, bool watch_reads,
                   uint64_t cookie, bool may_block = true);
void DisarmBreakpoint(int slot);

// The kernel's count of `slot`'s hits: read() of every fd of the slot (each
// sums its inherited copies, exited threads' included). False if the slot
// is not open or its first fd is no longer trapsan's. For the trap audit
// (trap_audit.h).
bool ReadBreakpointHits(int slot, uint64_t* hits);

// Replaces `slot`'s events by fresh ones, one per live thread of the
// process (each inherited by the threads it creates later), disabled; the
// old ones are closed first (a thread's debug registers may all be taken).
// The caller owns the slot (no window uses it). False, with *why, if a
// thread's event could not be opened (that thread's accesses are then not
// watched on this slot) or there are more than 65 threads. For
// the trap audit: a thread's copy of an event that lost a SIGTRAP on a
// kernel without Linux 6.1's fix never sends one again.
bool ReopenSlotForAllThreads(int slot, std::string* why);

// Closes the last open slot's events, in every thread (the caller owns the
// slot: no window uses it). False if one slot or none is open.
bool CloseLastBreakpoint();

// Closes every slot's events (the start-up self-test failed: the soft
// backend keeps no perf fd). A fork child then opens none.
void CloseBreakpoints();

// Serializes thread creation against arming and disarming: a thread cloned
// while MODIFY_ATTRIBUTES is in flight can keep stale watchpoint settings
// (measured here: about 0.1% of traps missed under thread churn).
// pthread_create holds the exclusive side around clone().
void LockForThreadCreation();
void UnlockForThreadCreation();

// fork(): in the child, which inherits none of the events, closes the
// parent's fds and opens fresh events. Returns how many slots reopened.
// The fork handlers hold LockForThreadCreation() across fork(); the parent
// releases it, the child gets a fresh lock from this function.
int ReopenBreakpointsInChild(std::string* why);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_BREAKPOINTS_H_
