#include "window.h"

#include <errno.h>
#include <time.h>

#include <atomic>
#include <vector>

#include "clock.h"
#include "conflict_table.h"
#include "counters.h"
#include "options.h"
#include "race_event.h"
#include "release.h"
#include "sampler.h"
#include "slots.h"
#include "soft_watch.h"
#include "thread_state.h"
#include "watch_backend.h"
#include "watched_value.h"
#include "window_conflicts.h"
#include "window_slot.h"
#include "runtime/linux/trap_audit.h"

namespace trapsan {

bool CoversOwnErrno(uintptr_t addr, size_t len) {
  const uintptr_t own = reinterpret_cast<uintptr_t>(&errno);
  return addr < own + sizeof(errno) && own < addr + len;
}

bool WindowPossible(uintptr_t addr, size_t size, bool is_write) {
  for (int i = 0; i < SlotCount(); ++i) {
    if (GetSlot(i).busy.load(std::memory_order_relaxed) == 0) return true;
  }
  if (AnyHeldWindow()) return true;
  if (ConflictingWindow(addr, size, is_write) != 0) return true;
  Count(Stats().skipped_no_slot);
  return false;
}

uint64_t WatchAccess(const AccessInfo& access, bool may_hold) {
  WindowRequest request;
  request.may_hold = may_hold;
  return WatchAccess(access, request, nullptr);
}

uint64_t WatchAccess(const AccessInfo& access, const WindowRequest& request,
                     uint64_t* scoped_cookie) {
  if (scoped_cookie != nullptr) *scoped_cookie = 0;
  uintptr_t base;
  int len;
  uint64_t value_mask;
  if (!ChooseMaskedRange(access, request.value_mask, &base, &len,
                         &value_mask)) {
    return 0;
  }
  if (CoversOwnErrno(base, static_cast<size_t>(len))) {
    Count(Stats().skipped_errno);
    return 0;
  }
  const bool masked = value_mask != FullMask(len);
  // Another thread's window on these bytes: the conflict is recorded there.
  // Not for a masked window: whether the other side's write changes the
  // masked bits is told only by values, which a window of its own judges.
  if (!masked && FoundOpenWindow(access)) return 0;
  int index = ClaimSlot();
  // No slot free: a held window gives its up (closing early is safe).
  if (index < 0) index = StealHeldSlot();
  if (index < 0) {
    Count(Stats().skipped_no_slot);
    return 0;
  }
  // (A stolen slot's closing was charged by StealHeldSlot.)
  const uint64_t cpu_start = ClockNs(CLOCK_THREAD_CPUTIME_ID);
  Slot& slot = GetSlot(index);
  ThreadState& t = CurrentThread();
  const Options& options = GetOptions();
  const bool hw = ActiveBackend() == Backend::kHw;
  const bool hold = request.may_hold && MayHoldWindow();

  Slot::OpenState& open = slot.open;
  WindowInfo& window = open.window;
  window = WindowInfo{};
  window.masked = masked;
  DescribeWindow(index, t, access, base, len, &window);
  open.value_mask = value_mask;
  open.scoped = request.scoped;
  open.entry_changed = false;
  open.hold_ns = open.end_ns = 0;
  // The slot's previous window's values are replaced: a late handler of
  // that window no longer judges against them (NoteMaskedTrap).
  slot.mask_cookie.store(0, std::memory_order_seq_cst);
  if (masked) {
    // The value before any trap, for the handler's comparisons (read
    // through the kernel: another window's watchpoint may cover it).
    uint64_t before = 0;
    ReadValueUnwatched(base, len, &before);
    slot.last_value.store(before, std::memory_order_relaxed);
  }
  slot.trap_mask.store(masked ? value_mask : 0, std::memory_order_release);
  if (masked) slot.mask_cookie.store(window.cookie, std::memory_order_release);
  // Publishes the range above to other threads' FoundOpenWindow().
  MakeWindowActive(slot, t, window);

  const uint64_t delay_ns = StallNs(t, options);
  open.cold = ColdSample();
  open.start_ns = MonotonicNs();
  open.armed = StartWatching(hw, index, window);
  uint64_t armed_at = MonotonicNs();
  open.arm_ns = armed_at - open.start_ns;
  open.have_old_value = Snapshot(open.armed, base, len, &open.old_value);
  if (open.armed) {
    slot.armed_cookie.store(window.cookie, std::memory_order_release);
  }
  // The stall first (a held window is never shorter than a stalled one: the
  // other threads get the same time to catch up), then, when held, the
  // thread goes on and its next possible release closes the window
  // (release.cpp). Everything a closer needs is in slot.open, published by
  // the release store of `hold`.
  const uint64_t stalled_ns = Stall(delay_ns);
  Count(Stats().budget_ns,
        ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start + stalled_ns);
  if (request.scoped) {
    // The entry's stall is over: its value change is judged now (from here
    // on the owner accesses the variable itself), and the window stays
    // open, owned by this thread, until the scope ends (scoped_window.h).
    uint64_t now_value = 0;
    const bool read = Snapshot(open.armed, base, len, &now_value);
    open.entry_old_value = open.old_value;
    open.entry_new_value = now_value;
    open.entry_changed = open.have_old_value && read &&
                         ((now_value ^ open.old_value) & value_mask) != 0;
    open.hold_ns = MonotonicNs();
    t.watching_cookie = 0;
    slot.held_cookie.store(window.cookie, std::memory_order_relaxed);
    // Release: slot.open before the closer's CAS (scoped_window.cpp).
    slot.hold.store(Slot::kScoped, std::memory_order_release);
    *scoped_cookie = window.cookie;
    return ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start + stalled_ns;
  }
  if (hold) {
    t.watching_cookie = 0;
    HoldWindow(index, window.cookie);
    return ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start + stalled_ns;
  }
  CloseWindow(index, /*held=*/false);  // counts its own CPU time
  return ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start + stalled_ns;
}

uint64_t FinishScopedWindow(int index, bool exit_check) {
  Slot& slot = GetSlot(index);
  Slot::OpenState& open = slot.open;
  if (!exit_check) {
    // Closed for its thread's or the process's exit: the value may have
    // been changed by its owner; no exit stall.
    open.have_old_value = false;
    return CloseWindow(index, /*held=*/true);
  }
  const uint64_t cpu_start = ClockNs(CLOCK_THREAD_CPUTIME_ID);
  ThreadState& t = CurrentThread();
  const uintptr_t base = open.window.watch_addr;
  const int len = static_cast<int>(open.window.watch_len);
  const uint64_t delay_ns = StallNs(t, GetOptions());
  // The owner's accesses during the scope are behind: from this snapshot
  // on, until the window closes, the owner is here.
  t.watching_cookie = open.window.cookie;
  open.end_ns = MonotonicNs();
  slot.self_traps.store(0, std::memory_order_relaxed);
  open.have_old_value = Snapshot(open.armed, base, len, &open.old_value);
  if (slot.trap_mask.load(std::memory_order_relaxed) != 0) {
    slot.last_value.store(open.old_value, std::memory_order_relaxed);
  }
  const uint64_t stalled_ns = Stall(delay_ns);
  Count(Stats().budget_ns, stalled_ns);
  CloseWindow(index, /*held=*/true);  // counts its own CPU time
  return ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start + stalled_ns;
}

uint64_t CloseWindow(int index, bool held) {
  const uint64_t cpu_start = ClockNs(CLOCK_THREAD_CPUTIME_ID);
  Slot& slot = GetSlot(index);
  // A copy: once the slot is released below, a new window rewrites it.
  const Slot::OpenState open = slot.open;
  const WindowInfo& window = open.window;
  const uintptr_t base = window.watch_addr;
  const int len = static_cast<int>(window.watch_len);
  const bool armed = open.armed;
  // The value at the window's end, read while it is still watched: a write
  // after the disarm is no longer the window's. (Read after it, a write
  // there showed as a value change that no trap explained: lab guest,
  // bits-same, where the close took up to 48 ms after the disarm, "unknown
  // origin" in most runs of 400 assertions.) Through the kernel, as the
  // snapshot was: a plain read here is trapsan's own access, and would trap
  // on another window watching these bytes (an assertion's window and a
  // sampled write of another thread on one variable: a race with nobody).
  // Unreadable: no value change is claimed.
  uint64_t new_value = 0;
  const bool new_value_read = ReadValueUnwatched(base, len, &new_value);
  uint64_t disarm_at = MonotonicNs();
  StopWatching(armed, index);
  uint64_t end = MonotonicNs();

  // A handler (or soft check) that started before the disarm finishes
  // within microseconds.
  WaitForHandlers(slot, end);
  if (armed) AuditSlotTraps(index);  // lost SIGTRAPs? (linux/trap_audit.h)
  // (A masked window's values stay for a handler still to come: cleared
  // here, its write was judged as changing no masked bit and the window
  // reported "unknown origin". The slot's next window replaces them.)
  // A masked window's checks are judged by its value change (a check comes
  // before its write: window_conflicts.h), and the write of a check near
  // the end may land after the disarm: for them, the value once more.
  uint64_t exit_value = new_value;
  bool exit_value_read = new_value_read;
  if (window.masked) {
    exit_value_read = ReadValueUnwatched(base, len, &exit_value);
  }
  FinishWatching(armed);
  const bool self_touched = slot.self_traps.load(std::memory_order_relaxed) != 0;
  // A held window: in soft mode the owner's own later writes are not seen,
  // so a value change proves nothing there. A scoped window's snapshot was
  // taken again at the scope's end, its owner inside trapsan since.
  const bool judged =
      open.have_old_value && !self_touched && (!held || open.scoped);
  const bool value_changed =
      judged && new_value_read &&
      ((new_value ^ open.old_value) & open.value_mask) != 0;
  const bool exit_changed =
      judged && exit_value_read &&
      ((exit_value ^ open.old_value) & open.value_mask) != 0;
  // (A held window reports no value change: its owner ran on after the
  // sample and may have changed the bytes itself; in the lab guest, with
  // cold-site samples, race_free/order_join's main thread's own later
  // writes showed as "unknown origin", 3 of 3 runs. Only trapped or checked
  // accesses count.)

  // Take this window's conflicts while it is still marked active, so that a
  // late drain on another thread does not take them; then once more after
  // clearing it, for a handler that finished in between.
  std::vector<Conflict> conflicts;
  TakeConflictsOf(window.cookie, &conflicts);
  slot.active_cookie.store(0, std::memory_order_seq_cst);
  if (CurrentThread().watching_cookie == window.cookie) {
    CurrentThread().watching_cookie = 0;
  }
  // A soft check that saw the window still open records before this wait
  // ends (soft_watch.cpp): its record is taken here, never left "late".
  WaitForHandlers(slot, MonotonicNs());
  TakeConflictsOf(window.cookie, &conflicts);
  slot.owner_tid.store(0, std::memory_order_relaxed);
  if (held) {
    // Withdrawn: the owner's release may go on (release.cpp waits for this).
    slot.held_cookie.store(0, std::memory_order_release);
    slot.hold.store(Slot::kNotHeld, std::memory_order_relaxed);
  }
  slot.busy.store(0, std::memory_order_release);

  Count(Stats().windows);
  Count(Stats().window_ns, end - open.start_ns);
  Count(Stats().arm_ns, open.arm_ns + (end - disarm_at));
  if (held && !open.scoped) NoteHeldDuration(end - open.start_ns);

  // The owner's own accesses (a held window outlives its sample: the owner
  // may touch the bytes again) are no race.
  DropOwnersConflicts(window, &conflicts);
  KeepMaskedChanges(open, exit_changed, &conflicts);
  if (conflicts.empty() && (value_changed || open.entry_changed)) {
    // Something wrote. If it trapped, its handler may not have run yet (the
    // racer can be preempted between the trap and its handler, by this very
    // thread waking up): give it a moment before calling the race one of
    // unknown origin, and longer while a record is under way (a recorder
    // preempted inside RecordWhileOpen: its record is this window's).
    for (uint64_t waited = 0;
         conflicts.empty() &&
         (waited < kLateTrapWaitNs ||
          (waited < kInFlightRecordWaitNs &&
           slot.handlers_in_flight.load(std::memory_order_seq_cst) != 0));
         waited += kLateTrapPollNs) {
      Stall(kLateTrapPollNs);
      TakeConflictsOf(window.cookie, &conflicts);
      DropOwnersConflicts(window, &conflicts);
      KeepMaskedChanges(open, exit_changed, &conflicts);
    }
  }
  for (const Conflict& c : conflicts) ReportConflict(window, true, c, false);
  if (conflicts.empty() && (value_changed || open.entry_changed)) {
    RaceEvent event;
    event.unknown_origin = true;
    event.window = window;
    event.value_changed = true;
    event.old_value = value_changed ? open.old_value : open.entry_old_value;
    event.new_value = value_changed ? new_value : open.entry_new_value;
    SubmitRace(event);
  }
  const uint64_t cost = ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
  Count(Stats().budget_ns, cost);
  return cost;
}

}  // namespace trapsan
