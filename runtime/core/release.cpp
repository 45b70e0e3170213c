#include "release.h"

#include <sched.h>
#include <time.h>

#include <atomic>

#include "absl/strings/str_format.h"
#include "budget.h"
#include "clock.h"
#include "counters.h"
#include "options.h"
#include "past_release.h"
#include "sampler.h"
#include "slots.h"
#include "thread_state.h"
#include "window.h"
#include "runtime/linux/cancel.h"
#include "runtime/linux/labels.h"
#include "runtime/linux/safe_read.h"
#include "runtime/linux/threads.h"

extern "C" {
__attribute__((visibility("default"), tls_model("initial-exec")))
__thread uint32_t __trapsan_windows_open;
}

namespace trapsan {
namespace {

// The cookie of the window this thread holds on each slot (bit i of
// __trapsan_windows_open set).
__thread uint64_t t_held_cookie[kMaxSlots]
    __attribute__((tls_model("initial-exec")));
// The sample being taken comes from a compiler-plugin site.
__thread bool t_site_sample __attribute__((tls_model("initial-exec")));

std::atomic<uint64_t> g_held_max_ns{0};

// The exit linger (ExitLinger): at most this long (max_window_ms / 2 when
// that is shorter), in steps of this.
constexpr uint64_t kExitLingerCapNs = 50000000;  // 50 ms
constexpr uint64_t kExitLingerStepNs = 1000000;  // 1 ms

uint64_t MaxWindowNs() {
  const int64_t ms = GetOptions().max_window_ms;
  return ms > 0 ? static_cast<uint64_t>(ms) * 1000000u : UINT64_MAX;
}

std::atomic<uint64_t>& ReasonCounter(CloseReason reason) {
  switch (reason) {
    case CloseReason::kRelease: return Stats().held_closed_release;
    case CloseReason::kOwn: return Stats().held_closed_own;
    case CloseReason::kStolen: return Stats().held_closed_stolen;
    case CloseReason::kExpired: return Stats().held_closed_expired;
    default: return Stats().held_closed_exit;
  }
}

// Closes the held window `cookie` on slot `index` if this thread wins it.
// True: closed here (its CPU time in *cost_ns). False: it was not held (any
// more) by that cookie, or another thread is closing it.
bool TryClose(int index, uint64_t cookie, CloseReason reason,
              uint64_t* cost_ns) {
  Slot& slot = GetSlot(index);
  if (slot.held_cookie.load(std::memory_order_acquire) != cookie) return false;
  uint32_t expected = Slot::kHeld;
  // Acquire: slot.open, written before the watcher's release store of kHeld.
  if (!slot.hold.compare_exchange_strong(expected, Slot::kClosing,
                                         std::memory_order_acquire)) {
    return false;
  }
  if (slot.held_cookie.load(std::memory_order_acquire) != cookie) {
    // Closed and held again by another window between the two loads.
    slot.hold.store(Slot::kHeld, std::memory_order_release);
    return false;
  }
  Count(ReasonCounter(reason));
  *cost_ns = CloseWindow(index, /*held=*/true);
  return true;
}

// Until the window `cookie` on slot `index` is withdrawn (by whoever closes
// it): the owner's release must not run before.
void WaitWithdrawn(int index, uint64_t cookie) {
  Slot& slot = GetSlot(index);
  while (slot.held_cookie.load(std::memory_order_acquire) == cookie) {
    sched_yield();
  }
}

void CloseOwn(ThreadState& t, CloseReason reason, bool only_due,
              bool (*keep)(uintptr_t addr, void* arg) = nullptr,
              void* keep_arg = nullptr) {
  const uint64_t now = only_due ? MonotonicNs() : 0;
  const uint64_t max_ns = only_due ? MaxWindowNs() : 0;
  uint32_t held = HeldSlotBits(__trapsan_windows_open);
  while (held != 0) {
    const int i = __builtin_ctz(held);
    held &= held - 1;
    const uint64_t cookie = t_held_cookie[i];
    Slot& slot = GetSlot(i);
    CloseReason why = reason;
    if (keep != nullptr &&
        slot.held_cookie.load(std::memory_order_acquire) == cookie &&
        keep(slot.open.window.watch_addr, keep_arg)) {
      continue;
    }
    // A hardware window may outlive the release (past_release.h): it stays
    // held, so its owner's own access and max_window_ms still close it (and
    // the thread's exit, a release to its joiner, leaves it to expire).
    if ((reason == CloseReason::kRelease || reason == CloseReason::kExit) &&
        !only_due &&
        slot.held_cookie.load(std::memory_order_acquire) == cookie &&
        KeepPastRelease(i, cookie)) {
      continue;
    }
    if (only_due) {
      if (slot.held_cookie.load(std::memory_order_acquire) != cookie) {
        __trapsan_windows_open &= ~(1u << i);  // closed by another thread
        continue;
      }
      if (slot.close_requested.load(std::memory_order_relaxed) != 0) {
        why = CloseReason::kOwn;
      } else if (now - slot.open.start_ns > max_ns) {
        why = CloseReason::kExpired;
      } else {
        continue;
      }
    }
    uint64_t cost = 0;
    if (TryClose(i, cookie, why, &cost)) {
      WindowBudget().Charge(cost);
    } else {
      WaitWithdrawn(i, cookie);
    }
    __trapsan_windows_open &= ~(1u << i);
    t_held_cookie[i] = 0;
  }
  (void)t;
}

}  // namespace

void NoteSiteSample() { t_site_sample = true; }

bool TakeSiteSample() {
  const bool site = t_site_sample;
  t_site_sample = false;
  return site;
}

bool MayHoldWindow() { return GetOptions().release_windows; }

void HoldWindow(int index, uint64_t cookie) {
  Slot& slot = GetSlot(index);
  t_held_cookie[index] = cookie;
  __trapsan_windows_open |= 1u << index;
  slot.held_cookie.store(cookie, std::memory_order_relaxed);
  // Release: slot.open and held_cookie before any closer's CAS.
  slot.hold.store(Slot::kHeld, std::memory_order_release);
  Count(Stats().held_windows);
}

void NoteHeldDuration(uint64_t ns) {
  Count(Stats().held_ns, ns);
  uint64_t max = g_held_max_ns.load(std::memory_order_relaxed);
  while (ns > max && !g_held_max_ns.compare_exchange_weak(
                         max, ns, std::memory_order_relaxed)) {
  }
}

// The thread function's return (ExitLinger below): a held cold window
// stays open until it is this old, or until it is not held any more.
uint64_t ExitLingerNs() {
  const int64_t ms = GetOptions().max_window_ms;
  const uint64_t max_ns =
      ms > 0 ? static_cast<uint64_t>(ms) * 1000000u : kExitLingerCapNs;
  return max_ns / 2 < kExitLingerCapNs ? max_ns / 2 : kExitLingerCapNs;
}

// At the thread function's return, before its thread's exit runs (nothing
// but trapsan runs between that return and this: threads.cpp's
// trampoline), the owner of a held cold window waits until the window is
// ExitLingerNs() old: a longer cold stall, as safe as any delay of a
// release. Wakes each millisecond to see whether the window is still held
// (stolen, expired, or closed by its own trap: nothing to wait for).
// Charged to the budget. True if it waited.
bool ExitLinger(ThreadState& t) {
  const uint64_t linger_ns = ExitLingerNs();
  const uint64_t start = MonotonicNs();
  bool waited = false;
  for (;;) {
    uint64_t oldest = 0;
    for (uint32_t held = HeldSlotBits(__trapsan_windows_open); held != 0;
         held &= held - 1) {
      const int i = __builtin_ctz(held);
      const Slot& slot = GetSlot(i);
      if (slot.held_cookie.load(std::memory_order_acquire) != t_held_cookie[i] ||
          !slot.open.cold) {
        continue;
      }
      const uint64_t opened = slot.open.start_ns;
      if (oldest == 0 || opened < oldest) oldest = opened;
    }
    const uint64_t now = MonotonicNs();
    if (oldest == 0 || now - oldest >= linger_ns) break;
    waited = true;
    timespec step = {0, static_cast<long>(kExitLingerStepNs)};
    nanosleep(&step, nullptr);
  }
  (void)t;
  if (!waited) return false;
  const uint64_t ns = MonotonicNs() - start;
  WindowBudget().Charge(ns);
  Count(Stats().budget_ns, ns);
  return true;
}

void CloseHeldWindows(CloseReason reason) {
  CloseHeldWindows(reason, /*thread_return=*/false);
}

void CloseHeldWindows(CloseReason reason, bool thread_return) {
  if (__trapsan_windows_open == 0) return;
  ThreadState& t = CurrentThread();
  // A signal handler that interrupted trapsan (which may be closing this
  // very window): nothing can be done safely here (Known limits).
  if (t.in_runtime != 0) {
    Count(Stats().held_release_in_runtime);
    return;
  }
  InRuntime guard;
  if (thread_return && ExitLinger(t)) {
    CloseOwn(t, reason, /*only_due=*/false);
    return;
  }
  if (reason == CloseReason::kRelease || reason == CloseReason::kExit) {
    // A cold sample's window (sampler.h) stays open a while longer before
    // the release runs (delaying a release is always safe: an access of
    // another thread that meets the window meanwhile is still unordered).
    for (uint32_t held = HeldSlotBits(__trapsan_windows_open); held != 0;
         held &= held - 1) {
      const int i = __builtin_ctz(held);
      const Slot& slot = GetSlot(i);
      if (slot.held_cookie.load(std::memory_order_acquire) == t_held_cookie[i] &&
          slot.open.cold &&
          slot.released_cookie.load(std::memory_order_relaxed) !=
              t_held_cookie[i]) {
        ColdStall(t);
        break;
      }
    }
  }
  CloseOwn(t, reason, /*only_due=*/false);
}

void CloseHeldWindowsExcept(bool (*keep)(uintptr_t addr, void* arg),
                            void* arg) {
  if (__trapsan_windows_open == 0) return;
  ThreadState& t = CurrentThread();
  if (t.in_runtime != 0) return;  // (the caller checked; as above)
  InRuntime guard;
  CloseOwn(t, CloseReason::kRelease, /*only_due=*/false, keep, arg);
}

void NoteJoinWait(bool waiting) {
  for (uint32_t held = HeldSlotBits(__trapsan_windows_open); held != 0;
       held &= held - 1) {
    const int i = __builtin_ctz(held);
    Slot& slot = GetSlot(i);
    const uint64_t cookie = t_held_cookie[i];
    if (waiting) {
      if (slot.held_cookie.load(std::memory_order_acquire) == cookie) {
        slot.joining_cookie.store(cookie, std::memory_order_relaxed);
      }
    } else {
      uint64_t expected = cookie;
      slot.joining_cookie.compare_exchange_strong(expected, 0,
                                                  std::memory_order_relaxed);
    }
  }
}

void MaintainHeldWindows() {
  ThreadState& t = CurrentThread();
  if (__trapsan_windows_open != 0) CloseOwn(t, CloseReason::kOwn, true);
  // Other threads' expired windows.
  const int64_t ms = GetOptions().max_window_ms;
  if (ms <= 0) return;
  const uint64_t now = MonotonicNs(), max_ns = MaxWindowNs();
  for (int i = 0; i < SlotCount(); ++i) {
    Slot& slot = GetSlot(i);
    if (slot.hold.load(std::memory_order_acquire) != Slot::kHeld) continue;
    const uint64_t cookie = slot.held_cookie.load(std::memory_order_acquire);
    if (cookie == 0 || now - slot.open.start_ns <= max_ns) continue;
    // Its owner waits in pthread_join (NoteJoinWait).
    if (slot.joining_cookie.load(std::memory_order_relaxed) == cookie) continue;
    uint64_t cost = 0;
    if (TryClose(i, cookie, CloseReason::kExpired, &cost)) {
      WindowBudget().Charge(cost);
    }
  }
}

int StealHeldSlot() {
  // Which held window gives its slot up: the sampling thread's own first
  // (a thread whose samples come fast recycles its own slot instead of
  // ending another thread's window before the racing access comes), then
  // one that is not a cold-site sample's (sampler.h: those are few and are
  // what fixed-rate sampling misses; a sample that is not cold never takes
  // one), then the oldest.
  const bool cold_caller = ColdSample();
  const int self = CurrentThread().tid;
  // (A cold window is never taken by a hot sample: it is held until its
  // owner's next release, at most max_window_ms. Cold samples are few, and
  // each thread's first pass through a site is among them (cold_sites.h):
  // a worksharing loop's chunk start, which the neighbour chunk's last
  // iteration touches a chunk later. The owner's own hot samples of the
  // chunk took it within a few of them when it was protected only as long
  // as a cold stall.)
  auto rank = [&](const Slot& slot) {
    return (slot.owner_tid.load(std::memory_order_relaxed) == self ? 0 : 2) +
           (slot.open.cold ? 1 : 0);
  };
  for (int attempt = 0; attempt < 2; ++attempt) {
    int oldest = -1, oldest_rank = 4;
    uint64_t oldest_start = UINT64_MAX, oldest_cookie = 0;
    for (int i = 0; i < SlotCount(); ++i) {
      Slot& slot = GetSlot(i);
      if (slot.hold.load(std::memory_order_acquire) != Slot::kHeld) continue;
      const uint64_t cookie = slot.held_cookie.load(std::memory_order_acquire);
      // slot.open.start_ns is written before kHeld is published; a
      // concurrent re-hold only makes this choice less good.
      const uint64_t start = slot.open.start_ns;
      const bool protected_cold = slot.open.cold;
      const int r = rank(slot);
      if (cookie == 0 || (protected_cold && !cold_caller)) continue;
      if (r < oldest_rank || (r == oldest_rank && start < oldest_start)) {
        oldest_rank = r;
        oldest = i;
        oldest_start = start;
        oldest_cookie = cookie;
      }
    }
    if (oldest < 0) return -1;
    uint64_t cost = 0;
    if (!TryClose(oldest, oldest_cookie, CloseReason::kStolen, &cost)) {
      continue;
    }
    WindowBudget().Charge(cost);
    uint32_t expected = 0;
    if (GetSlot(oldest).busy.compare_exchange_strong(
            expected, 1, std::memory_order_acquire)) {
      return oldest;
    }
  }
  return -1;
}

bool AnyHeldWindow() {
  for (int i = 0; i < SlotCount(); ++i) {
    if (GetSlot(i).hold.load(std::memory_order_relaxed) == Slot::kHeld) {
      return true;
    }
  }
  return false;
}

void CloseAllHeldWindows() {
  ThreadState& t = CurrentThread();
  if (t.in_runtime > 1) return;
  CloseOwn(t, CloseReason::kExit, /*only_due=*/false);
  for (int i = 0; i < SlotCount(); ++i) {
    Slot& slot = GetSlot(i);
    const uint64_t cookie = slot.held_cookie.load(std::memory_order_acquire);
    uint64_t cost = 0;
    if (cookie != 0) TryClose(i, cookie, CloseReason::kExit, &cost);
  }
}

bool CloseIfOwnHeld(uint64_t cookie) {
  Cookie c;
  if (!DecodeCookie(cookie, &c) || c.slot >= kMaxSlots) return false;
  if ((__trapsan_windows_open & (1u << c.slot)) == 0 ||
      t_held_cookie[c.slot] != cookie) {
    return false;
  }
  uint64_t cost = 0;
  if (TryClose(c.slot, cookie, CloseReason::kOwn, &cost)) {
    WindowBudget().Charge(cost);
  } else {
    WaitWithdrawn(c.slot, cookie);
  }
  __trapsan_windows_open &= ~(1u << c.slot);
  t_held_cookie[c.slot] = 0;
  return true;
}

bool IsOwnHeldWindow(uint64_t cookie) {
  Cookie c;
  return DecodeCookie(cookie, &c) && c.slot < kMaxSlots &&
         (__trapsan_windows_open & (1u << c.slot)) != 0 &&
         t_held_cookie[c.slot] == cookie;
}

bool OwnHeldWindowTrap(uint64_t cookie) {
  if (!IsOwnHeldWindow(cookie)) return false;
  Cookie c;
  DecodeCookie(cookie, &c);
  GetSlot(c.slot).close_requested.store(1, std::memory_order_relaxed);
  // The next check of this thread closes it (MaintainHeldWindows).
  Countdown() = 0;
  return true;
}

void ResetHeldWindowsInChild() {
  __trapsan_windows_open = 0;
  for (uint64_t& c : t_held_cookie) c = 0;
  g_held_max_ns.store(0, std::memory_order_relaxed);
}

std::string HeldWindowSummary() {
  const Counters& s = Stats();
  const uint64_t n = s.held_windows.load();
  if (n == 0) return "";
  const uint64_t closed = s.held_closed_release.load() +
                          s.held_closed_own.load() +
                          s.held_closed_stolen.load() +
                          s.held_closed_expired.load() +
                          s.held_closed_exit.load();
  return absl::StrFormat(
      "release-bounded windows: %d held, mean %.1f us, longest %.1f us; "
      "closed at a release %d, on the owner's access %d, for a newer sample "
      "%d, after max_window_ms %d, at exit %d; kept at a return to "
      "instrumented code %d times; kept past a release %d (traps of threads "
      "that may be ordered after it %d)",
      n, closed ? s.held_ns.load() / 1e3 / closed : 0.0,
      g_held_max_ns.load() / 1e3, s.held_closed_release.load(),
      s.held_closed_own.load(), s.held_closed_stolen.load(),
      s.held_closed_expired.load(), s.held_closed_exit.load(),
      s.held_kept_return.load(), s.held_released.load(),
      s.traps_ordered.load());
}

}  // namespace trapsan

namespace {
// The work of a release point, with its cleanups (InRuntime), in a function of
// its own: __trapsan_release has none, as a cancellation hold needs
// (linux/cancel.h).
__attribute__((noinline)) void CloseAtRelease(bool thread_return) {
  trapsan::CloseHeldWindows(trapsan::CloseReason::kRelease, thread_return);
}
}  // namespace

extern "C" __attribute__((visibility("default"))) void __trapsan_release(void) {
  if (__trapsan_windows_open == 0) return;
  const trapsan::CancelHold hold = trapsan::HoldCancel();
  CloseAtRelease(/*thread_return=*/false);
  trapsan::ReleaseCancel(hold);
}

// The saved block of runtime/linux/site_stub.S: r15 .. rax, rflags, rbp.
constexpr int kSavedR10 = 5;   // a `ret`'s point: the return address
constexpr int kSavedRbp = 15;
constexpr int kSavedPc = 16;  // the point's return address

namespace trapsan {

bool ReturnsToMarker(uintptr_t return_address) {
  unsigned char code[sizeof(kReturnMarker)];
  if (return_address == 0 ||
      !SafeRead(return_address, code, sizeof(code))) {
    return false;
  }
  for (size_t i = 0; i < sizeof(code); ++i) {
    if (code[i] != kReturnMarker[i]) return false;
  }
  return true;
}

}  // namespace trapsan

namespace {

// A point found a window held (or a cold label waiting): restores the
// label; true if no window is held any more (nothing else to do).
bool RestoreLabelAtPoint(const uint64_t* saved) {
  if ((__trapsan_windows_open & trapsan::kLabelRestoreBit) != 0) {
    const trapsan::CancelHold hold = trapsan::HoldCancel();
    trapsan::RestoreDisplacedColdLabel(static_cast<uintptr_t>(saved[kSavedPc]));
    trapsan::ReleaseCancel(hold);
  }
  return trapsan::HeldSlotBits(__trapsan_windows_open) == 0;
}

// Closes the thread's held windows at a point (saved: site_stub.S's block).
// `at_return`: a `ret`'s point (__trapsan_return_slow).
void CloseAtPoint(const uint64_t* saved, bool at_return) {
  // A `ret`'s point whose frame (saved rbp: plugin code keeps frame
  // pointers) is the thread function's, called by the trampoline: this is
  // its return, after which only trapsan runs before the thread's exit
  // (ExitLinger). Only a `ret`'s: a call's point in the thread function's
  // body (a sleep in its loop) has the same frame, and lingering there made
  // every cold window of the loop wait 50 ms (tests/release's nothing_O2:
  // 0 of 10 caught with cold_sites=16). A wrong guess costs a longer stall,
  // never a window held over a release.
  const bool thread_return =
      at_return && trapsan::IsThreadFunctionFrame(
                       static_cast<uintptr_t>(saved[kSavedRbp]),
                       reinterpret_cast<uintptr_t>(saved));
  const trapsan::CancelHold hold = trapsan::HoldCancel();
  CloseAtRelease(thread_return);
  trapsan::ReleaseCancel(hold);
}

}  // namespace

// The slow path of a `ret`'s point: __trapsan_return_check (one per linked
// object) found a window held and jumped to __trapsan_return_all, which
// saved every register (r10: the function's return address) and calls this.
// A return to a marker (kReturnMarker: an instrumented caller, whose code
// after the call counts on windows being held) keeps them; any other return
// is a release point as before. The marker is read at the address the `ret`
// will jump to, so nothing but the marked call's return lands there.
extern "C" __attribute__((visibility("hidden"))) void __trapsan_return_slow(
    uint64_t* saved) {
  if (__trapsan_windows_open == 0) return;
  if (RestoreLabelAtPoint(saved)) return;
  if (trapsan::ReturnsToMarker(static_cast<uintptr_t>(saved[kSavedR10]))) {
    trapsan::Count(trapsan::Stats().held_kept_return);
    return;
  }
  CloseAtPoint(saved, /*at_return=*/true);
}

// The slow path of the plugin's release points: __trapsan_release_check (one
// per linked object, compiler-plugin/ReleasePoints.cpp) found a window held
// and jumped to __trapsan_release_all (runtime/linux/site_stub.S), which
// saved every register and calls this. No cleanups in this frame (as
// __trapsan_release).
extern "C" __attribute__((visibility("hidden"))) void __trapsan_release_slow(
    uint64_t* saved) {
  if (__trapsan_windows_open == 0) return;
  if (RestoreLabelAtPoint(saved)) return;
  CloseAtPoint(saved, /*at_return=*/false);
}
