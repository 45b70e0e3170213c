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
#include "sampler.h"
#include "slots.h"
#include "soft_watch.h"
#include "thread_state.h"
#include "runtime/linux/breakpoints.h"
#include "runtime/linux/safe_read.h"
#include "runtime/linux/trap_audit.h"
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
// Returns how long the thread was away, which is what the budget is charged:
// a sleep of 50 us takes 100-170 us here (the timer slack and the wake-up
// come on top). At most 3 times the request: a watcher preempted after its
// sleep by the program's own threads is not charged for that.
uint64_t Stall(uint64_t delay_ns) {
  if (delay_ns == 0) return 0;
  timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  const uint64_t start_ns =
      static_cast<uint64_t>(deadline.tv_sec) * 1000000000u +
      static_cast<uint64_t>(deadline.tv_nsec);
  uint64_t ns = static_cast<uint64_t>(deadline.tv_nsec) + delay_ns;
  deadline.tv_sec += static_cast<time_t>(ns / 1000000000u);
  deadline.tv_nsec = static_cast<long>(ns % 1000000000u);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) ==
         EINTR) {
  }
  const uint64_t end_ns = MonotonicNs();
  const uint64_t away_ns = end_ns > start_ns ? end_ns - start_ns : delay_ns;
  return away_ns < 3 * delay_ns ? away_ns : 3 * delay_ns;
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

// All the bits of a `len`-byte value.
uint64_t FullMask(int len) {
  return len >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * len)) - 1;
}

// `mask` (bit i: bit i % 8 of byte i / 8 of the access) as a mask of the
// watched value at `base`.
uint64_t MaskAt(uintptr_t addr, uintptr_t base, int len, uint64_t mask) {
  const uintptr_t shift = 8 * (base - addr);
  return shift >= 64 ? 0 : (mask >> shift) & FullMask(len);
}

// The watched range and the mask of its value that matters. A masked
// access watches its whole value (at most 8 bytes: a write to other bits
// is judged by value, not by byte), or, where the largest aligned part
// holds none of the mask's bits (an unaligned variable), the bytes that do.
bool ChooseMaskedRange(const AccessInfo& access, uint64_t mask,
                       uintptr_t* base, int* len, uint64_t* value_mask) {
  size_t size = access.size;
  if (mask != 0 && size > 8) size = 8;
  if (mask != 0 && size < 8) mask &= FullMask(static_cast<int>(size));
  if (!ChooseWatchRange(access.addr, size, base, len)) return false;
  if (mask == 0) {
    *value_mask = FullMask(*len);
    return true;
  }
  *value_mask = MaskAt(access.addr, *base, *len, mask);
  if (*value_mask != 0) return true;
  const int first = __builtin_ctzll(mask) / 8;
  const int last = (63 - __builtin_clzll(mask)) / 8;
  if (!ChooseWatchRange(access.addr + first,
                        static_cast<size_t>(last - first + 1), base, len)) {
    return false;
  }
  *value_mask = MaskAt(access.addr, *base, *len, mask);
  return *value_mask != 0;
}

// The stall a window asks for: delay_us +-50%.
uint64_t StallNs(ThreadState& t, const Options& options) {
  if (options.delay_us <= 0) return 0;
  const uint64_t d = static_cast<uint64_t>(options.delay_us) * 1000;
  return d / 2 + NextRandom(t) % (d + 1);  // [d/2, 3d/2]
}

// The watched value now: through the kernel while a watchpoint is armed
// (reading it would trap), else directly. False if it cannot be read.
bool Snapshot(bool armed, uintptr_t base, int len, uint64_t* value) {
  if (armed) return ReadValueUnwatched(base, len, value);
  *value = ReadValue(base, len);
  return true;
}

// A masked window's conflicts (TRAPSAN_ASSERT_EXCLUSIVE_BITS): only writes
// that changed masked bits are kept. A hardware trap says so itself (the
// handler compared the value after it with the value before:
// NoteMaskedTrap). A soft check comes before its write, so its change is
// judged over the stall it was recorded in: the whole window, or a scoped
// window's entry or exit stall (`exit_changed`: the value change of the
// last stall); in the middle of a scope the owner changes the bits itself,
// so a soft check recorded there cannot be judged and is dropped. Dropped
// conflicts are counted (conflicts_masked).
void KeepMaskedChanges(const Slot::OpenState& open, bool exit_changed,
                       std::vector<Conflict>* conflicts) {
  if (!open.window.masked) return;
  size_t kept = 0;
  for (size_t i = 0; i < conflicts->size(); ++i) {
    const Conflict& c = (*conflicts)[i];
    bool keep;
    if (c.access.pc_after_access) {
      keep = c.access.changed_masked_bits;
    } else if (!open.scoped) {
      keep = exit_changed;
    } else if (c.access.time_ns <= open.hold_ns) {
      keep = open.entry_changed;
    } else {
      keep = open.end_ns != 0 && c.access.time_ns >= open.end_ns &&
             exit_changed;
    }
    if (!keep) {
      Count(Stats().conflicts_masked);
      continue;
    }
    (*conflicts)[kept++] = c;
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

  uint64_t generation = ++slot.generation & kGenerationMask;
  Slot::OpenState& open = slot.open;
  WindowInfo& window = open.window;
  window = WindowInfo{};
  window.cookie = EncodeCookie(index, generation);
  window.access = access;
  window.watch_addr = base;
  window.watch_len = static_cast<uint32_t>(len);
  window.watch_reads = access.kind == AccessKind::kWrite;
  window.masked = masked;
  PublishWindow(slot, generation, window);
  slot.self_traps.store(0, std::memory_order_relaxed);
  slot.close_requested.store(0, std::memory_order_relaxed);
  slot.owner_tid.store(t.tid, std::memory_order_relaxed);
  slot.watch_addr.store(base, std::memory_order_relaxed);
  slot.watch_len.store(static_cast<uint32_t>(len), std::memory_order_relaxed);
  slot.watch_reads.store(window.watch_reads, std::memory_order_relaxed);
  open.value_mask = value_mask;
  open.scoped = request.scoped;
  open.entry_changed = false;
  open.hold_ns = open.end_ns = 0;
  if (masked) {
    // The value before any trap, for the handler's comparisons (read
    // through the kernel: another window's watchpoint may cover it).
    uint64_t before = 0;
    ReadValueUnwatched(base, len, &before);
    slot.last_value.store(before, std::memory_order_relaxed);
  }
  slot.trap_mask.store(masked ? value_mask : 0, std::memory_order_release);
  // Publishes the range above to other threads' FoundOpenWindow().
  slot.active_cookie.store(window.cookie, std::memory_order_release);
  t.watching_cookie = window.cookie;

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

bool NoteMaskedTrap(int index) {
  Slot& slot = GetSlot(index);
  const uint64_t mask = slot.trap_mask.load(std::memory_order_acquire);
  if (mask == 0) return false;
  uint64_t now = 0;
  // The value cannot be read (a seccomp filter): the write is taken as one
  // that changed the bits.
  if (!ReadValueUnwatched(slot.watch_addr.load(std::memory_order_relaxed),
                          static_cast<int>(slot.watch_len.load(
                              std::memory_order_relaxed)),
                          &now)) {
    return true;
  }
  const uint64_t before =
      slot.last_value.exchange(now, std::memory_order_acq_rel);
  return ((before ^ now) & mask) != 0;
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
  if (armed) AuditSlotTraps(index);  // lost SIGTRAPs? (linux/trap_audit.h)
  slot.trap_mask.store(0, std::memory_order_relaxed);
  // Through the kernel, as the snapshot was: a plain read here is trapsan's
  // own access, and would trap on another window watching these bytes (an
  // assertion's window and a sampled write of another thread on one
  // variable: a race with nobody). Unreadable: no value change is claimed.
  uint64_t new_value = 0;
  const bool new_value_read = ReadValueUnwatched(base, len, &new_value);
  FinishWatching(armed);
  const bool self_touched = slot.self_traps.load(std::memory_order_relaxed) != 0;
  // A held window: in soft mode the owner's own later writes are not seen,
  // so a value change proves nothing there. A scoped window's snapshot was
  // taken again at the scope's end, its owner inside trapsan since.
  const bool value_changed =
      open.have_old_value && new_value_read &&
      ((new_value ^ open.old_value) & open.value_mask) != 0 &&
      !self_touched && (!held || open.scoped);
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
  KeepMaskedChanges(open, value_changed, &conflicts);
  if (conflicts.empty() && (value_changed || open.entry_changed)) {
    // Something wrote. If it trapped, its handler may not have run yet (the
    // racer can be preempted between the trap and its handler, by this very
    // thread waking up): give it a moment before calling the race one of
    // unknown origin.
    for (uint64_t waited = 0; conflicts.empty() && waited < kLateTrapWaitNs;
         waited += kLateTrapPollNs) {
      Stall(kLateTrapPollNs);
      TakeConflictsOf(window.cookie, &conflicts);
      DropOwnersConflicts(window, &conflicts);
      KeepMaskedChanges(open, value_changed, &conflicts);
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
      if (known && window.masked && !found[i].access.changed_masked_bits) {
        Count(Stats().conflicts_masked);  // KeepMaskedChanges
        continue;
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
  const uint64_t cost =
      ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start + stalled_ns;
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
