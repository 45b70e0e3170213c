#include "soft_watch.h"

#include "clock.h"
#include "conflict_table.h"
#include "counters.h"
#include "release.h"
#include "sampler.h"
#include "slots.h"
#include "thread_state.h"
#include "window_slot.h"
#include "runtime/linux/soft_sites.h"
#include "runtime/linux/cancel.h"

namespace trapsan {

// Zero-initialized, constant: usable before any constructor ran.
std::atomic<uint32_t> g_soft_windows_open{0};

namespace {

bool Overlaps(uintptr_t a, size_t a_len, uintptr_t b, size_t b_len) {
  return a < b + b_len && b < a + a_len;
}

// soft_checks counts (thread, soft window) pairs: a thread's first check
// after a window opened. One shared counter bumped by every access of every
// thread while a window is open would be the costliest part of the check.
std::atomic<uint64_t> g_soft_generation{0};

// The windows (by slot) this thread last recorded a conflict in: the same
// thread meeting the same window again (a loop over the watched bytes)
// records nothing more, so soft_conflicts counts (thread, window) pairs and
// a stack is taken once per pair.
thread_local uint64_t t_conflicted[4] __attribute__((tls_model("initial-exec")));

// True the first time this thread conflicts with window `cookie`.
bool FirstConflictWith(uint64_t cookie, int slot) {
  uint64_t& last = t_conflicted[slot & 3];
  if (last == cookie) return false;
  last = cookie;
  return true;
}

void CountCheck(ThreadState& t) {
  const uint64_t generation =
      g_soft_generation.load(std::memory_order_relaxed);
  if (t.soft_seen_generation == generation) return;
  t.soft_seen_generation = generation;
  Count(Stats().soft_checks);
}

}  // namespace

uint64_t ConflictingWindow(uintptr_t addr, size_t size, bool is_write,
                           uint64_t exclude) {
  for (int i = 0; i < SlotCount(); ++i) {
    Slot& s = GetSlot(i);
    uint64_t cookie = s.active_cookie.load(std::memory_order_acquire);
    if (cookie == 0 || cookie == exclude) continue;
    uintptr_t watch = s.watch_addr.load(std::memory_order_relaxed);
    uint32_t len = s.watch_len.load(std::memory_order_relaxed);
    bool watcher_writes = s.watch_reads.load(std::memory_order_relaxed);
    if (s.active_cookie.load(std::memory_order_acquire) != cookie) continue;
    if (!Overlaps(watch, len, addr, size)) continue;
    if (!watcher_writes && !is_write) continue;
    return cookie;
  }
  return 0;
}

void SoftWindowOpened(bool force_plugin_sites) {
  g_soft_generation.fetch_add(1, std::memory_order_relaxed);
  g_soft_windows_open.fetch_add(1, std::memory_order_seq_cst);
  // Plugin sites call the runtime only when their countdown runs out: make
  // them (linux/soft_sites.h).
  if (force_plugin_sites) ForcePluginSiteChecks();
}

uint64_t SoftWindowGeneration() {
  return g_soft_generation.load(std::memory_order_relaxed);
}

void SoftWindowClosed() {
  g_soft_windows_open.fetch_sub(1, std::memory_order_seq_cst);
}

void ResetSoftWindows() {
  g_soft_windows_open.store(0, std::memory_order_relaxed);
  ResetSoftSitesInChild();
}

// A conflict found: the stack and the record, with cancellation held off
// (runtime/linux/cancel.h) and inside trapsan.
__attribute__((noinline)) static bool RecordSoftConflict(
    ThreadState& t, uint64_t cookie, uintptr_t address, size_t size,
    bool is_write, uintptr_t return_address, uintptr_t access_pc,
    uint32_t line) {
  if (IsBenign(address, size)) return false;
  Cookie c;
  if (!DecodeCookie(cookie, &c) || c.slot >= SlotCount()) return false;
  // Recorded there already: as if recorded again (its record stands).
  if (!FirstConflictWith(cookie, c.slot)) return true;

  // The stack is taken here, in ordinary context, before this access runs.
  AccessInfo access;
  DescribeAccess(t, address, size, is_write, return_address, access_pc, line,
                 &access);
  // When it met the window (a scoped window's masked check: window.cpp).
  access.time_ns = MonotonicNs();

  // Record only into a window still open (window_slot.h).
  const bool recorded = RecordWhileOpen(GetSlot(c.slot), cookie, access);
  if (recorded) Count(Stats().soft_conflicts);
  return recorded;
}

// Runs on every check while a soft window is open, in threads that may be
// cancelled asynchronously at any instruction: no cleanups in this frame
// (an unwinder meeting them at an instruction that is no call would call
// std::terminate), and cancellation held off only for a conflict's record.
bool SoftWatchAccess(const volatile void* addr, size_t size, bool is_write,
                     uintptr_t return_address, uintptr_t access_pc,
                     uint32_t line) {
  ThreadState& t = CurrentThread();
  // Inside trapsan (a watcher stalling, or a handler that interrupted it),
  // before init, or an access the sampler would not sample: nothing.
  if (t.in_runtime != 0 || size == 0 || !RuntimeReady()) return false;
  if (is_write ? t.ignore_writes != 0 : t.ignore_reads != 0) return false;
  ++t.in_runtime;
  CountCheck(t);
  const uintptr_t address = reinterpret_cast<uintptr_t>(addr);
  // The watcher's own window is excluded: its own accesses (a signal
  // handler of its own) are no race.
  const uint64_t cookie =
      ConflictingWindow(address, size, is_write, t.watching_cookie);
  bool recorded = false;
  // This thread's own held window (its code after the sample, before a
  // release point): no race, and nothing to record (a record cost a stack
  // and a conflict-table entry, dropped at the close as a self-trap). The
  // window stays open for the other threads: a check costs nothing more
  // (unlike a trap, for which the hardware path closes it), and a held
  // window claims no value change at its close (window.cpp).
  if (cookie != 0 && IsOwnHeldWindow(cookie)) {
    Count(Stats().traps_self);
    --t.in_runtime;
    return false;
  }
  if (cookie != 0) {
    const CancelHold hold = HoldCancel();
    recorded = RecordSoftConflict(t, cookie, address, size, is_write,
                                  return_address, access_pc, line);
    --t.in_runtime;
    ReleaseCancel(hold);  // (may unwind the thread: nothing held now)
    return recorded;
  }
  --t.in_runtime;
  return recorded;
}

}  // namespace trapsan
