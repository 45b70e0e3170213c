#include "scoped_window.h"

#include <atomic>

#include "cookie.h"
#include "slots.h"
#include "thread_state.h"
#include "window.h"

namespace trapsan {
namespace {

// The slot of the open scoped window `cookie` owned by thread `tid`, or -1.
int ScopedSlotOf(uint64_t cookie, int tid) {
  Cookie c;
  if (cookie == 0 || !DecodeCookie(cookie, &c) || c.slot >= SlotCount()) {
    return -1;
  }
  Slot& slot = GetSlot(c.slot);
  if (slot.hold.load(std::memory_order_acquire) != Slot::kScoped ||
      slot.held_cookie.load(std::memory_order_acquire) != cookie ||
      slot.owner_tid.load(std::memory_order_relaxed) != tid) {
    return -1;
  }
  return static_cast<int>(c.slot);
}

// Claims the scoped window on slot `index` for closing (kScoped ->
// kClosing; acquire: slot.open as its owner wrote it). False if another
// closer (the process's exit) won it.
bool ClaimForClosing(int index, uint64_t cookie) {
  Slot& slot = GetSlot(index);
  uint32_t expected = Slot::kScoped;
  if (!slot.hold.compare_exchange_strong(expected, Slot::kClosing,
                                         std::memory_order_acquire)) {
    return false;
  }
  if (slot.held_cookie.load(std::memory_order_acquire) != cookie) {
    slot.hold.store(Slot::kScoped, std::memory_order_release);
    return false;
  }
  return true;
}

// Every open scoped window (of thread `tid`, or of any thread for 0),
// closed without the exit check.
void CloseScoped(int tid) {
  for (int i = 0; i < SlotCount(); ++i) {
    Slot& slot = GetSlot(i);
    if (slot.hold.load(std::memory_order_acquire) != Slot::kScoped) continue;
    if (tid != 0 && slot.owner_tid.load(std::memory_order_relaxed) != tid) {
      continue;
    }
    const uint64_t cookie = slot.held_cookie.load(std::memory_order_acquire);
    if (cookie != 0 && ClaimForClosing(i, cookie)) {
      FinishScopedWindow(i, /*exit_check=*/false);
    }
  }
}

}  // namespace

uint64_t BeginScopedWindow(const AccessInfo& access, uint64_t value_mask,
                           uint64_t* cost_ns) {
  WindowRequest request;
  request.value_mask = value_mask;
  request.scoped = true;
  uint64_t cookie = 0;
  *cost_ns = WatchAccess(access, request, &cookie);
  return cookie;
}

uint64_t EndScopedWindow(uint64_t cookie) {
  const int index = ScopedSlotOf(cookie, CurrentThread().tid);
  if (index < 0 || !ClaimForClosing(index, cookie)) return 0;
  return FinishScopedWindow(index, /*exit_check=*/true);
}

bool OwnScopedWindowTrap(uint64_t cookie) {
  return ScopedSlotOf(cookie, CurrentThread().tid) >= 0;
}

void CloseScopedWindowsOfThread() {
  ThreadState& t = CurrentThread();
  if (t.in_runtime != 0 || t.tid == 0) return;
  InRuntime guard;
  CloseScoped(t.tid);
}

void CloseAllScopedWindows() { CloseScoped(0); }

}  // namespace trapsan
