#include <time.h>

#include <atomic>

#include "clock.h"
#include "conflict_table.h"
#include "counters.h"
#include "options.h"
#include "pending_races.h"
#include "race_event.h"
#include "signal_window.h"
#include "slots.h"
#include "soft_watch.h"
#include "thread_state.h"
#include "watch_backend.h"
#include "watched_value.h"
#include "window.h"
#include "window_conflicts.h"
#include "window_slot.h"

namespace trapsan {

int TakeSignalWindowConflicts(Slot& slot, ThreadState& t,
                              uint64_t saved_watching, uint64_t cookie,
                              Conflict* found, int max) {
  auto mine = [cookie](const Conflict& c) { return c.cookie == cookie; };
  int n = Conflicts().Take(mine, found, max);
  slot.active_cookie.store(0, std::memory_order_seq_cst);
  t.watching_cookie = saved_watching;
  WaitForHandlers(slot, MonotonicNs());
  n += Conflicts().Take(mine, found + n, max - n);
  return n;
}

bool QueueSignalWindowConflicts(const WindowInfo& window, const Conflict* found,
                                int n, int self) {
  bool queued = false;
  for (int i = 0; i < n; ++i) {
    if (found[i].access.tid == self) {  // the watcher's own: no race
      Count(Stats().traps_self);
      continue;
    }
    RaceEvent event;
    event.window = window;
    event.racer = found[i];
    if (PushPendingRace(event)) {
      queued = true;
    } else {
      Count(Stats().traps_dropped);
    }
  }
  return queued;
}

uint64_t WatchAccessInSignal(const AccessInfo& access, bool known_plain) {
  uintptr_t base;
  int len;
  if (!ChooseWatchRange(access.addr, access.size, &base, &len)) return 0;
  // Another window watches these bytes: its watchpoint (or, soft, its value
  // snapshot) sees this access when it runs; no record from here (whether
  // this access is an atomic is not known).
  if (ConflictingWindow(access.addr, access.size,
                        access.kind == AccessKind::kWrite) != 0) {
    return 0;
  }
  const int index = ClaimSlot();  // (held windows are not stolen from here)
  if (index < 0) {
    Count(Stats().skipped_no_slot);
    return 0;
  }
  const uint64_t cpu_start = ClockNs(CLOCK_THREAD_CPUTIME_ID);
  Slot& slot = GetSlot(index);
  ThreadState& t = CurrentThread();
  const bool hw = ActiveBackend() == Backend::kHw;

  WindowInfo window;
  window.timer_sample = true;
  window.known_plain = known_plain;
  DescribeWindow(index, t, access, base, len, &window);
  // (A held window of this thread keeps its own cookie: restored below.)
  const uint64_t saved_watching = t.watching_cookie;
  MakeWindowActive(slot, t, window);

  const uint64_t delay_ns = StallNs(t, GetOptions());
  const uint64_t start_ns = MonotonicNs();
  const SignalWatch watch = StartWatchingInSignal(hw, index, window);
  if (watch == SignalWatch::kNone) {
    slot.active_cookie.store(0, std::memory_order_seq_cst);
    t.watching_cookie = saved_watching;
    slot.owner_tid.store(0, std::memory_order_relaxed);
    slot.busy.store(0, std::memory_order_release);
    Count(Stats().skipped_no_slot);
    return ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
  }
  const bool armed = watch == SignalWatch::kHardware;
  const uint64_t arm_ns = MonotonicNs() - start_ns;
  uint64_t old_value = 0;
  const bool have_old = ReadValueUnwatched(base, len, &old_value);
  if (armed) slot.armed_cookie.store(window.cookie, std::memory_order_release);
  const uint64_t stalled_ns = Stall(delay_ns);

  const uint64_t disarm_at = MonotonicNs();
  StopWatching(armed, index);
  const uint64_t end = MonotonicNs();
  WaitForHandlers(slot, end);
  uint64_t new_value = 0;
  const bool have_new = ReadValueUnwatched(base, len, &new_value);
  FinishWatching(armed);
  const bool value_changed = have_old && have_new && new_value != old_value &&
                             slot.self_traps.load(std::memory_order_relaxed) == 0;

  constexpr int kMax = 4;  // (on the interrupted thread's stack)
  Conflict found[kMax];
  int n = TakeSignalWindowConflicts(slot, t, saved_watching, window.cookie,
                                    found, kMax);
  auto mine = [&window](const Conflict& c) { return c.cookie == window.cookie; };
  if (n == 0 && value_changed && armed) {
    // The writer trapped but its handler may not have run yet.
    for (uint64_t waited = 0; n == 0 && waited < kLateTrapWaitNs / 4;
         waited += kLateTrapPollNs) {
      Stall(kLateTrapPollNs);
      n = Conflicts().Take(mine, found, kMax);
    }
  }
  slot.owner_tid.store(0, std::memory_order_relaxed);
  slot.busy.store(0, std::memory_order_release);
  Count(Stats().windows);
  Count(Stats().window_ns, end - start_ns);
  Count(Stats().arm_ns, arm_ns + (end - disarm_at));

  bool queued = QueueSignalWindowConflicts(window, found, n, t.tid);
  // A value change with no access seen: reported only when the sampled
  // instruction cannot be an atomic (another thread's atomic update of an
  // atomic this thread was about to load is no race).
  if (n == 0 && value_changed && known_plain) {
    RaceEvent event;
    event.unknown_origin = true;
    event.window = window;
    event.value_changed = true;
    event.old_value = old_value;
    event.new_value = new_value;
    if (PushPendingRace(event)) {
      queued = true;
    } else {
      Count(Stats().traps_dropped);
    }
  }
  if (queued) SignalPendingRaces();
  const uint64_t cost =
      ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start + stalled_ns;
  Count(Stats().budget_ns, cost);
  return cost;
}

}  // namespace trapsan
