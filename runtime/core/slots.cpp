#include "slots.h"

#include <sched.h>

#include "clock.h"
#include "release.h"
#include "soft_watch.h"

namespace trapsan {
namespace {
Slot g_slots[kMaxSlots];
std::atomic<int> g_slot_count{0};
}  // namespace

int SlotCount() { return g_slot_count.load(std::memory_order_relaxed); }
void SetSlotCount(int n) { g_slot_count.store(n, std::memory_order_relaxed); }
Slot& GetSlot(int index) { return g_slots[index]; }

bool RetireLastSlot(uint64_t max_wait_ns) {
  const int n = SlotCount();
  if (n <= 1) return false;
  Slot& last = GetSlot(n - 1);
  const uint64_t start = MonotonicNs();
  uint32_t expected = 0;
  while (!last.busy.compare_exchange_weak(expected, 1,
                                          std::memory_order_acquire)) {
    expected = 0;
    if (MonotonicNs() - start > max_wait_ns) return false;
    sched_yield();
  }
  SetSlotCount(n - 1);
  return true;
}

void ResetSlots() {
  for (Slot& s : g_slots) {
    s.busy.store(0, std::memory_order_relaxed);
    s.active_cookie.store(0, std::memory_order_relaxed);
    s.armed_cookie.store(0, std::memory_order_relaxed);
    s.handlers_in_flight.store(0, std::memory_order_relaxed);
    s.self_traps.store(0, std::memory_order_relaxed);
    s.hold.store(Slot::kNotHeld, std::memory_order_relaxed);
    s.owner_tid.store(0, std::memory_order_relaxed);
    s.held_cookie.store(0, std::memory_order_relaxed);
    s.close_requested.store(0, std::memory_order_relaxed);
    s.joining_cookie.store(0, std::memory_order_relaxed);
    s.trap_mask.store(0, std::memory_order_relaxed);
    s.released_cookie.store(0, std::memory_order_relaxed);
    s.released_generation.store(0, std::memory_order_relaxed);
  }
  ResetHeldWindowsInChild();
  ResetSoftWindows();
}

void PublishWindow(Slot& slot, uint64_t generation, const WindowInfo& info) {
  HistoryEntry& e = slot.history[generation % Slot::kHistory];
  e.cookie.store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  e.info = info;
  e.cookie.store(info.cookie, std::memory_order_release);
}

bool LookupWindow(uint64_t cookie, WindowInfo* out) {
  Cookie c;
  if (!DecodeCookie(cookie, &c) || c.slot >= kMaxSlots) return false;
  HistoryEntry& e = g_slots[c.slot].history[c.generation % Slot::kHistory];
  if (e.cookie.load(std::memory_order_acquire) != cookie) return false;
  *out = e.info;
  std::atomic_thread_fence(std::memory_order_acquire);
  return e.cookie.load(std::memory_order_relaxed) == cookie;
}

uint64_t OtherOpenWindowOn(uintptr_t addr, uint32_t len, bool may_be_read,
                           uint64_t except, int except_tid,
                           uintptr_t* watch_addr) {
  for (int i = 0; i < SlotCount(); ++i) {
    const Slot& other = GetSlot(i);
    const uint64_t cookie = other.active_cookie.load(std::memory_order_acquire);
    if (cookie == 0 || cookie == except) continue;
    if (except_tid != 0 &&
        other.owner_tid.load(std::memory_order_relaxed) == except_tid) {
      continue;
    }
    const uintptr_t lo = other.watch_addr.load(std::memory_order_relaxed);
    const uint32_t n = other.watch_len.load(std::memory_order_relaxed);
    const bool reads = other.watch_reads.load(std::memory_order_relaxed);
    // Read again: the range read belongs to this cookie's window.
    if (other.active_cookie.load(std::memory_order_acquire) != cookie) continue;
    if (may_be_read && !reads) continue;
    if (lo <= addr && addr + len <= lo + n) {
      *watch_addr = lo;
      return cookie;
    }
  }
  return 0;
}

}  // namespace trapsan
