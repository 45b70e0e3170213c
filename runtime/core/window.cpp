#include "window.h"

#include <errno.h>
#include <sched.h>
#include <time.h>

#include <atomic>
#include <vector>

#include "clock.h"
#include "conflict_table.h"
#include "counters.h"
#include "options.h"
#include "pending_races.h"
#include "race_event.h"
#include "release.h"
#include "slots.h"
#include "soft_watch.h"
#include "thread_state.h"
#include "runtime/linux/breakpoints.h"
#include "runtime/linux/safe_read.h"
#include "runtime/report/decode.h"
#include "runtime/report/sample_decode.h"

namespace trapsan {
namespace {

std::atomic<int> g_backend{static_cast<int>(Backend::kOff)};

// Handlers still running when the window closes get this long to finish;
// whatever comes later is reported as a late trap.
constexpr uint64_t kHandlerGraceNs = 2000000;  // 2 ms

// A value change with no trap: how long to wait for a late handler.
constexpr uint64_t kLateTrapWaitNs = 2000000;  // 2 ms
constexpr uint64_t kLateTrapPollNs = 50000;    // 50 us

// Sleeping lets another thread run on this CPU (and race); with few CPUs that
// catches more than spinning. EINTR (a user's signal) does not cut it short.
void Stall(uint64_t delay_ns) {
  if (delay_ns == 0) return;
  timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  uint64_t ns = static_cast<uint64_t>(deadline.tv_nsec) + delay_ns;
  deadline.tv_sec += static_cast<time_t>(ns / 1000000000u);
  deadline.tv_nsec = static_cast<long>(ns % 1000000000u);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) ==
         EINTR) {
  }
}

// Reads the watched bytes through the kernel (process_vm_readv), which the
// watchpoint does not see (exclude_kernel): the watcher can snapshot after
// arming without trapping itself, so no write can slip in unseen between
// the snapshot and the arming.
// False if the kernel refused (a seccomp filter may forbid process_vm_readv):
// the window then has no snapshot and reports no value change.
bool ReadValueUnwatched(uintptr_t addr, int len, uint64_t* value) {
  *value = 0;
  return SafeRead(addr, value, static_cast<size_t>(len));
}

uint64_t ReadValue(uintptr_t addr, int len) {
  switch (len) {
    case 1: return *reinterpret_cast<const volatile uint8_t*>(addr);
    case 2: return *reinterpret_cast<const volatile uint16_t*>(addr);
    case 4: return *reinterpret_cast<const volatile uint32_t*>(addr);
    default: return *reinterpret_cast<const volatile uint64_t*>(addr);
  }
}

// A window is open on bytes this access touches, and one of the two writes:
// record the conflict against that window. True if one was found.
bool FoundOpenWindow(const AccessInfo& access) {
  uint64_t cookie = ConflictingWindow(access.addr, access.size,
                                      access.kind == AccessKind::kWrite);
  if (cookie == 0) return false;
  // This thread's own held window: no race; closed, and this access gets a
  // window of its own.
  if (CloseIfOwnHeld(cookie)) return false;
  if (!Conflicts().Record(cookie, access, false)) Count(Stats().traps_dropped);
  return true;
}

// Starts watching the window's bytes: a hardware watchpoint when the
// backend is hw and arming works; otherwise the window is soft (other
// threads' instrumented accesses check it: soft_watch.h). True: hardware.
bool StartWatching(bool hw, int index, const WindowInfo& window) {
  if (hw && ArmBreakpoint(index, window.watch_addr,
                          static_cast<int>(window.watch_len),
                          window.watch_reads, window.cookie)) {
    return true;
  }
  SoftWindowOpened();
  return false;
}

// Stops the watching StartWatching() began: the watchpoint is disarmed
// before the handlers are waited for; a soft window stays open until the
// value is read again (FinishWatching), so that no write changes the value
// seen without having checked the window.
void StopWatching(bool hardware, int index) {
  if (!hardware) return;
  GetSlot(index).armed_cookie.store(0, std::memory_order_release);
  DisarmBreakpoint(index);
}

void FinishWatching(bool hardware) {
  if (!hardware) SoftWindowClosed();
}

void WaitForHandlers(const Slot& slot, uint64_t since) {
  while (slot.handlers_in_flight.load(std::memory_order_seq_cst) != 0 &&
         MonotonicNs() - since < kHandlerGraceNs) {
    sched_yield();
  }
}

int ClaimSlot() {
  for (int i = 0; i < SlotCount(); ++i) {
    uint32_t expected = 0;
    if (GetSlot(i).busy.compare_exchange_strong(expected, 1,
                                                std::memory_order_acquire)) {
      return i;
    }
  }
  return -1;
}

void TakeConflictsOf(uint64_t cookie, std::vector<Conflict>* out) {
  constexpr int kBatch = 16;
  Conflict batch[kBatch];
  int n;
  do {
    n = Conflicts().Take([cookie](const Conflict& c) { return c.cookie == cookie; },
                         batch, kBatch);
    out->insert(out->end(), batch, batch + n);
  } while (n == kBatch);
}

// A hardware trap names, in si_addr, the bp_addr its event had when it fired;
// its sig_data (the cookie) is read when the signal is sent, on the way back
// to user mode. A thread that traps on window A's bytes and is preempted
// before that return can get window B's cookie if B re-armed the slot
// meanwhile (MODIFY_ATTRIBUTES): seen in the lab guest as a false report of
// two threads writing disjoint chunks of an array. Its si_addr is still A's
// address: a trap whose si_addr is not the window's watched address did not
// touch the window's bytes.
// Also a trap whose instruction, decoded, is a store that missed the watched
// bytes (report/decode.h: only when nothing is in doubt).
bool IsStaleTrap(const WindowInfo& window, bool watcher_known,
                 const Conflict& conflict) {
  const AccessInfo& racer = conflict.access;
  if (!racer.pc_after_access || !watcher_known) return false;
  if (racer.addr != window.watch_addr) return true;
  return !conflict.async &&
         TrapMissedWatch(racer, window.watch_addr, window.watch_len);
}

// Timer samples of uninstrumented code (runtime/preload): on x86, relaxed,
// acquire and release atomic loads and stores are plain moves, so a pair
// of a sampled move and a trapped one may be two atomics, no race. Such a
// pair is only "possible" (counted, reported with report_possible=1) unless
// one side is known plain: an access of instrumented code (the plugin and
// the TSan ABI check plain accesses only), or an instruction no atomic
// compiles to (report/decode.h). A trapped vector load (a string function
// reading past its data) is only possible too, whatever the sampled side.
std::atomic<bool> g_timer_windows{false};

bool OnlyPossible(const WindowInfo& window, const Conflict& conflict) {
  if (!window.timer_sample) return false;
  const AccessInfo& racer = conflict.access;
  if (!racer.pc_after_access) return false;  // instrumented: plain
  const Atomicity a =
      conflict.async
          ? Atomicity::kUnknown
          : ClassifyTrappedAccess(racer, window.watch_addr, window.watch_len);
  if (a == Atomicity::kWideLoad) return true;
  return !window.known_plain && a != Atomicity::kPlain;
}

void ReportConflict(const WindowInfo& window, bool watcher_known,
                    const Conflict& conflict, bool late) {
  if (IsStaleTrap(window, watcher_known, conflict)) {
    Count(Stats().traps_stale);
    return;
  }
  if (watcher_known && OnlyPossible(window, conflict)) {
    Count(Stats().races_possible);
    if (!GetOptions().report_possible) return;
  }
  RaceEvent event;
  event.window = window;
  event.watcher_known = watcher_known;
  event.racer = conflict;
  event.late = late;
  AccessInfo& racer = event.racer.access;
  if (racer.pc_after_access) {  // A hardware trap: it hit the watched bytes.
    if (watcher_known) racer.addr = window.watch_addr;
    // A write-only watchpoint traps writes only.
    if (watcher_known && !window.watch_reads) racer.kind = AccessKind::kWrite;
  }
  SubmitRace(event);
}

// Conflicts recorded by the window's own watcher thread (a held window's
// owner touching its bytes again, a trap taken before the handler knew it
// was the owner's): dropped, counted as self traps.
void DropOwnersConflicts(const WindowInfo& window,
                         std::vector<Conflict>* conflicts) {
  const int owner = window.access.tid;
  size_t kept = 0;
  for (size_t i = 0; i < conflicts->size(); ++i) {
    if ((*conflicts)[i].access.tid == owner && owner != 0) {
      Count(Stats().traps_self);
      continue;
    }
    (*conflicts)[kept++] = (*conflicts)[i];
  }
  conflicts->resize(kept);
}

}  // namespace

Backend ActiveBackend() {
  return static_cast<Backend>(g_backend.load(std::memory_order_relaxed));
}
void SetActiveBackend(Backend backend) {
  g_backend.store(static_cast<int>(backend), std::memory_order_relaxed);
}
const char* BackendName(Backend backend) {
  switch (backend) {
    case Backend::kHw: return "hw";
    case Backend::kSoft: return "soft";
    default: return "off";
  }
}

bool ChooseWatchRange(uintptr_t addr, size_t size, uintptr_t* base,
                      int* len) {
  for (int l = 8; l >= 1; l /= 2) {
    uintptr_t b = (addr + l - 1) & ~static_cast<uintptr_t>(l - 1);
    if (size >= static_cast<size_t>(l) && b + l <= addr + size) {
      *base = b;
      *len = l;
      return true;
    }
  }
  return false;
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
  uintptr_t base;
  int len;
  if (!ChooseWatchRange(access.addr, access.size, &base, &len)) return 0;
  if (FoundOpenWindow(access)) return 0;
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
  const bool hold = may_hold && MayHoldWindow();

  uint64_t generation = ++slot.generation & kGenerationMask;
  Slot::OpenState& open = slot.open;
  WindowInfo& window = open.window;
  window = WindowInfo{};
  window.cookie = EncodeCookie(index, generation);
  window.access = access;
  window.watch_addr = base;
  window.watch_len = static_cast<uint32_t>(len);
  window.watch_reads = access.kind == AccessKind::kWrite;
  PublishWindow(slot, generation, window);
  slot.self_traps.store(0, std::memory_order_relaxed);
  slot.close_requested.store(0, std::memory_order_relaxed);
  slot.owner_tid.store(t.tid, std::memory_order_relaxed);
  slot.watch_addr.store(base, std::memory_order_relaxed);
  slot.watch_len.store(static_cast<uint32_t>(len), std::memory_order_relaxed);
  slot.watch_reads.store(window.watch_reads, std::memory_order_relaxed);
  // Publishes the range above to other threads' FoundOpenWindow().
  slot.active_cookie.store(window.cookie, std::memory_order_release);
  t.watching_cookie = window.cookie;

  uint64_t delay_ns = 0;
  if (options.delay_us > 0) {
    uint64_t d = static_cast<uint64_t>(options.delay_us) * 1000;
    delay_ns = d / 2 + NextRandom(t) % (d + 1);  // [d/2, 3d/2]
  }

  open.start_ns = MonotonicNs();
  open.armed = StartWatching(hw, index, window);
  uint64_t armed_at = MonotonicNs();
  open.arm_ns = armed_at - open.start_ns;
  open.old_value = 0;
  open.have_old_value = true;
  if (open.armed) {
    open.have_old_value = ReadValueUnwatched(base, len, &open.old_value);
  } else {
    open.old_value = ReadValue(base, len);
  }
  if (open.armed) {
    slot.armed_cookie.store(window.cookie, std::memory_order_release);
  }
  Count(Stats().budget_ns,
        ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start + delay_ns);
  // The stall first (a held window is never shorter than a stalled one: the
  // other threads get the same time to catch up), then, when held, the
  // thread goes on and its next possible release closes the window
  // (release.cpp). Everything a closer needs is in slot.open, published by
  // the release store of `hold`.
  Stall(delay_ns);
  if (hold) {
    t.watching_cookie = 0;
    HoldWindow(index, window.cookie);
    return ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start + delay_ns;
  }
  CloseWindow(index, /*held=*/false);  // counts its own CPU time
  return ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start + delay_ns;
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
  uint64_t disarm_at = MonotonicNs();
  StopWatching(armed, index);
  uint64_t end = MonotonicNs();

  // A handler (or soft check) that started before the disarm finishes
  // within microseconds.
  WaitForHandlers(slot, end);
  const uint64_t new_value = ReadValue(base, len);
  FinishWatching(armed);
  const bool self_touched = slot.self_traps.load(std::memory_order_relaxed) != 0;
  // A held window: in soft mode the owner's own later writes are not seen,
  // so a value change proves nothing there.
  const bool value_changed = open.have_old_value &&
                             new_value != open.old_value && !self_touched &&
                             (armed || !held);

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
  if (held) NoteHeldDuration(end - open.start_ns);

  // The owner's own accesses (a held window outlives its sample: the owner
  // may touch the bytes again) are no race.
  DropOwnersConflicts(window, &conflicts);
  if (conflicts.empty() && value_changed) {
    // Something wrote. If it trapped, its handler may not have run yet (the
    // racer can be preempted between the trap and its handler, by this very
    // thread waking up): give it a moment before calling the race one of
    // unknown origin.
    for (uint64_t waited = 0; conflicts.empty() && waited < kLateTrapWaitNs;
         waited += kLateTrapPollNs) {
      Stall(kLateTrapPollNs);
      TakeConflictsOf(window.cookie, &conflicts);
      DropOwnersConflicts(window, &conflicts);
    }
  }
  for (const Conflict& c : conflicts) ReportConflict(window, true, c, false);
  if (conflicts.empty() && value_changed) {
    RaceEvent event;
    event.unknown_origin = true;
    event.window = window;
    event.value_changed = true;
    event.old_value = open.old_value;
    event.new_value = new_value;
    SubmitRace(event);
  }
  const uint64_t cost = ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
  Count(Stats().budget_ns, cost);
  return cost;
}

void DrainLateConflicts() {
  DrainPendingRaces();
  auto closed = [](const Conflict& c) {
    Cookie cookie;
    if (!DecodeCookie(c.cookie, &cookie) || cookie.slot >= kMaxSlots) {
      return true;
    }
    return GetSlot(cookie.slot).active_cookie.load(
               std::memory_order_acquire) != c.cookie;
  };
  constexpr int kBatch = 16;
  Conflict found[kBatch];
  int n;
  do {
    n = Conflicts().Take(closed, found, kBatch);
    for (int i = 0; i < n; ++i) {
      Count(Stats().traps_late);
      WindowInfo window;
      bool known = LookupWindow(found[i].cookie, &window);
      if (!known) {
        window = WindowInfo{};
        window.cookie = found[i].cookie;
      }
      if (known && window.access.tid == found[i].access.tid) {
        Count(Stats().traps_self);  // the watcher's own late trap
        continue;
      }
      // The window may have been a timer sample's, its two sides atomics.
      if (!known && g_timer_windows.load(std::memory_order_relaxed)) {
        Count(Stats().races_possible);
        if (!GetOptions().report_possible) continue;
      }
      ReportConflict(window, known, found[i], true);
    }
  } while (n == kBatch);
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
  const Options& options = GetOptions();
  const bool hw = ActiveBackend() == Backend::kHw;

  const uint64_t generation = ++slot.generation & kGenerationMask;
  WindowInfo window;
  window.cookie = EncodeCookie(index, generation);
  window.access = access;
  window.watch_addr = base;
  window.watch_len = static_cast<uint32_t>(len);
  window.watch_reads = access.kind == AccessKind::kWrite;
  window.timer_sample = true;
  window.known_plain = known_plain;
  g_timer_windows.store(true, std::memory_order_relaxed);
  PublishWindow(slot, generation, window);
  slot.self_traps.store(0, std::memory_order_relaxed);
  slot.close_requested.store(0, std::memory_order_relaxed);
  slot.owner_tid.store(t.tid, std::memory_order_relaxed);
  slot.watch_addr.store(base, std::memory_order_relaxed);
  slot.watch_len.store(static_cast<uint32_t>(len), std::memory_order_relaxed);
  slot.watch_reads.store(window.watch_reads, std::memory_order_relaxed);
  slot.active_cookie.store(window.cookie, std::memory_order_release);
  // (A held window of this thread keeps its own cookie: restored below.)
  const uint64_t saved_watching = t.watching_cookie;
  t.watching_cookie = window.cookie;

  uint64_t delay_ns = 0;
  if (options.delay_us > 0) {
    uint64_t d = static_cast<uint64_t>(options.delay_us) * 1000;
    delay_ns = d / 2 + NextRandom(t) % (d + 1);  // [d/2, 3d/2]
  }
  const uint64_t start_ns = MonotonicNs();
  bool armed = false;
  if (hw) {
    armed = ArmBreakpoint(index, base, len, window.watch_reads, window.cookie,
                          /*may_block=*/false);
    if (!armed) {  // No soft window instead: nothing would check it.
      slot.active_cookie.store(0, std::memory_order_seq_cst);
      t.watching_cookie = saved_watching;
      slot.owner_tid.store(0, std::memory_order_relaxed);
      slot.busy.store(0, std::memory_order_release);
      Count(Stats().skipped_no_slot);
      return ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
    }
  } else {
    SoftWindowOpened(/*force_plugin_sites=*/false);
  }
  const uint64_t arm_ns = MonotonicNs() - start_ns;
  uint64_t old_value = 0;
  const bool have_old = ReadValueUnwatched(base, len, &old_value);
  if (armed) slot.armed_cookie.store(window.cookie, std::memory_order_release);
  Stall(delay_ns);

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
  auto mine = [&window](const Conflict& c) { return c.cookie == window.cookie; };
  int n = Conflicts().Take(mine, found, kMax);
  slot.active_cookie.store(0, std::memory_order_seq_cst);
  t.watching_cookie = saved_watching;
  WaitForHandlers(slot, MonotonicNs());
  n += Conflicts().Take(mine, found + n, kMax - n);
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

  bool queued = false;
  for (int i = 0; i < n; ++i) {
    if (found[i].access.tid == t.tid) {  // this thread's own: no race
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
  const uint64_t cost = ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start + delay_ns;
  Count(Stats().budget_ns, cost);
  return cost;
}

void DrainPendingRaces() {
  constexpr int kBatch = 8;
  RaceEvent events[kBatch];
  int n;
  const bool locked = LockDrain();
  do {
    n = TakePendingRaces(events, kBatch);
    for (int i = 0; i < n; ++i) {
      if (events[i].unknown_origin) {
        SubmitRace(events[i]);
      } else {
        ReportConflict(events[i].window, true, events[i].racer, false);
      }
    }
  } while (n == kBatch);
  if (locked) UnlockDrain();
}

}  // namespace trapsan
