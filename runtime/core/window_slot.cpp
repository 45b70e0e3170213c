#include "window_slot.h"

#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "clock.h"
#include "conflict_table.h"
#include "cookie.h"
#include "past_release.h"
#include "counters.h"

namespace trapsan {

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

void DescribeWindow(int index, ThreadState& t, const AccessInfo& access,
                    uintptr_t base, int len, WindowInfo* window) {
  Slot& slot = GetSlot(index);
  const uint64_t generation = ++slot.generation & kGenerationMask;
  window->cookie = EncodeCookie(index, generation);
  window->access = access;
  window->watch_addr = base;
  window->watch_len = static_cast<uint32_t>(len);
  window->watch_reads = access.kind == AccessKind::kWrite;
  PublishWindow(slot, generation, *window);
  slot.self_traps.store(0, std::memory_order_relaxed);
  slot.close_requested.store(0, std::memory_order_relaxed);
  slot.owner_tid.store(t.tid, std::memory_order_relaxed);
  slot.watch_addr.store(base, std::memory_order_relaxed);
  slot.watch_len.store(static_cast<uint32_t>(len), std::memory_order_relaxed);
  slot.watch_reads.store(window->watch_reads, std::memory_order_relaxed);
}

void MakeWindowActive(Slot& slot, ThreadState& t, const WindowInfo& window) {
  slot.active_cookie.store(window.cookie, std::memory_order_release);
  t.watching_cookie = window.cookie;
}

uint64_t StallNs(ThreadState& t, const Options& options) {
  if (options.delay_us <= 0) return 0;
  const uint64_t d = static_cast<uint64_t>(options.delay_us) * 1000;
  return d / 2 + NextRandom(t) % (d + 1);  // [d/2, 3d/2]
}

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
  // The system call itself, not glibc's clock_nanosleep: that is a
  // cancellation point, and a window stalled in a signal handler (a timer
  // sample's, a data lure's) holds no cancellation off, so a deferred
  // pthread_cancel acted there and unwound out of the window: its slot stayed
  // busy for good (issue 10, defect 3; LD_PRELOAD, hw backend, cancel_storm:
  // skipped_no_slot 1.9M -> 2.1M in 60 s, no window). errno kept.
  const int saved_errno = errno;
  while (syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME,
                 &deadline, nullptr) != 0 &&
         errno == EINTR) {
  }
  errno = saved_errno;
  const uint64_t end_ns = MonotonicNs();
  const uint64_t away_ns = end_ns > start_ns ? end_ns - start_ns : delay_ns;
  return away_ns < 3 * delay_ns ? away_ns : 3 * delay_ns;
}

void WaitForHandlers(const Slot& slot, uint64_t since) {
  while (slot.handlers_in_flight.load(std::memory_order_seq_cst) != 0 &&
         MonotonicNs() - since < kHandlerGraceNs) {
    sched_yield();
  }
}

bool RecordWhileOpen(Slot& slot, uint64_t cookie, const AccessInfo& access) {
  slot.handlers_in_flight.fetch_add(1, std::memory_order_seq_cst);
  bool open = slot.active_cookie.load(std::memory_order_seq_cst) == cookie;
  // A window past its owner's release, met by a thread that may be ordered
  // after it (past_release.h; `access` is the calling thread's).
  if (open && OrderedAfterRelease(slot, cookie, access.thread_id)) {
    Count(Stats().traps_ordered);
    open = false;
  }
  if (open && !Conflicts().Record(cookie, access, false)) {
    Count(Stats().traps_dropped);
  }
  slot.handlers_in_flight.fetch_sub(1, std::memory_order_release);
  return open;
}

}  // namespace trapsan
