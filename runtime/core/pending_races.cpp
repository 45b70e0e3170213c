#include "pending_races.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

namespace trapsan {
namespace {

// kFree -> kWriting (one writer, by CAS) -> kReady (release) -> kTaking (one
// taker, by CAS) -> kFree, as the conflict table's entries.
enum State : uint32_t { kFree, kWriting, kReady, kTaking };

struct Entry {
  std::atomic<uint32_t> state{kFree};
  RaceEvent event;
};

Entry g_entries[kMaxPendingRaces];
// Bumped by every push; the reporter thread sleeps on it (a futex word).
std::atomic<uint32_t> g_pushes{0};
pthread_mutex_t g_drain = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

}  // namespace

bool PushPendingRace(const RaceEvent& event) {
  for (Entry& e : g_entries) {
    uint32_t expected = kFree;
    if (e.state.load(std::memory_order_relaxed) != kFree ||
        !e.state.compare_exchange_strong(expected, kWriting,
                                         std::memory_order_acquire)) {
      continue;
    }
    e.event = event;
    e.state.store(kReady, std::memory_order_release);
    return true;
  }
  return false;
}

int TakePendingRaces(RaceEvent* out, int max) {
  int n = 0;
  for (Entry& e : g_entries) {
    if (n == max) break;
    uint32_t expected = kReady;
    if (e.state.load(std::memory_order_acquire) != kReady ||
        !e.state.compare_exchange_strong(expected, kTaking,
                                         std::memory_order_acquire)) {
      continue;
    }
    out[n++] = e.event;
    e.state.store(kFree, std::memory_order_release);
  }
  return n;
}

void SignalPendingRaces() {
  g_pushes.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_pushes), FUTEX_WAKE_PRIVATE,
          1, nullptr, nullptr, 0);
}

void WaitForPendingRaces(uint64_t timeout_ns) {
  static thread_local uint32_t seen = 0;
  const uint32_t now = g_pushes.load(std::memory_order_acquire);
  if (now != seen) {
    seen = now;
    return;
  }
  timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000u);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000u);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_pushes), FUTEX_WAIT_PRIVATE,
          now, &ts, nullptr, 0);
  seen = g_pushes.load(std::memory_order_acquire);
}

bool LockDrain() {
  // Bounded: a drain that waits for a report in flight on another thread
  // (which may itself wait for this one's reporter lock, exiting after
  // halt_on_error) goes on without it after 500 ms.
  timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_nsec += 500000000;
  if (deadline.tv_nsec >= 1000000000) {
    deadline.tv_nsec -= 1000000000;
    ++deadline.tv_sec;
  }
  return pthread_mutex_timedlock(&g_drain, &deadline) == 0;
}
void UnlockDrain() { pthread_mutex_unlock(&g_drain); }

void ResetPendingRaces() {
  pthread_mutex_t fresh = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
  g_drain = fresh;
  for (Entry& e : g_entries) e.state.store(kFree, std::memory_order_relaxed);
}

}  // namespace trapsan
