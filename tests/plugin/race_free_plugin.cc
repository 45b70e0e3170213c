// Race-free, with no manual checks: built by trapsan-c++ (tests/plugin).
// Plain data handed between threads by a mutex, a condition variable,
// acquire/release atomics, call_once and join; relaxed atomic counters.
// Every plain access is instrumented; with sample_rate=1 each one opens a
// window, and none may report. Prints VALUE_OK, STAT_*, DONE.
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr int kRounds = 400;

// Mutex: two threads increment a plain counter under a lock.
std::mutex g_mu;
long g_locked_counter;

void MutexWorker() {
  for (int i = 0; i < kRounds; ++i) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_locked_counter = g_locked_counter + 1;
  }
}

// Condition variable: a producer hands plain values to a consumer.
std::mutex g_cv_mu;
std::condition_variable g_cv;
bool g_full;
long g_slot;
long g_consumed_sum;

void Producer() {
  for (int i = 1; i <= kRounds; ++i) {
    std::unique_lock<std::mutex> lock(g_cv_mu);
    g_cv.wait(lock, [] { return !g_full; });
    g_slot = i;
    g_full = true;
    g_cv.notify_all();
  }
}

void Consumer() {
  for (int i = 1; i <= kRounds; ++i) {
    std::unique_lock<std::mutex> lock(g_cv_mu);
    g_cv.wait(lock, [] { return g_full; });
    g_consumed_sum = g_consumed_sum + g_slot;
    g_full = false;
    g_cv.notify_all();
  }
}

// Acquire/release: a ping-pong of plain data guarded by an atomic turn.
std::atomic<int> g_turn{0};
long g_baton;

void PingPong(int me) {
  for (int i = 0; i < kRounds; ++i) {
    while (g_turn.load(std::memory_order_acquire) != me) std::this_thread::yield();
    g_baton = g_baton + 1;
    g_turn.store(1 - me, std::memory_order_release);
  }
}

// Relaxed atomics: a statistics counter bumped by both threads.
std::atomic<long> g_relaxed{0};

// call_once: plain configuration written once, read by everyone after.
std::once_flag g_once;
long g_config[4];

void ReadConfig(long* out) {
  std::call_once(g_once, [] {
    for (int i = 0; i < 4; ++i) g_config[i] = 10 + i;
  });
  long sum = 0;
  for (int i = 0; i < 4; ++i) sum += g_config[i];
  *out = sum;
}

}  // namespace

int main() {
  tp_setup_stdout();
  std::thread m1(MutexWorker), m2(MutexWorker);
  std::thread producer(Producer), consumer(Consumer);
  std::thread ping([] { PingPong(0); }), pong([] { PingPong(1); });
  std::vector<std::thread> relaxed;
  for (int t = 0; t < 2; ++t)
    relaxed.emplace_back([] {
      for (int i = 0; i < kRounds; ++i)
        g_relaxed.fetch_add(1, std::memory_order_relaxed);
    });
  long config_sums[3];
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) readers.emplace_back(ReadConfig, &config_sums[t]);
  // Join: a thread fills a plain array, read after the join.
  std::vector<long> joined(64);
  std::thread filler([&joined] {
    for (size_t i = 0; i < joined.size(); ++i) joined[i] = static_cast<long>(i);
  });
  filler.join();
  long joined_sum = 0;
  for (long v : joined) joined_sum += v;

  m1.join(); m2.join();
  producer.join(); consumer.join();
  ping.join(); pong.join();
  for (auto& t : relaxed) t.join();
  for (auto& t : readers) t.join();

  const bool ok = g_locked_counter == 2 * kRounds &&
                  g_consumed_sum == kRounds * (kRounds + 1L) / 2 &&
                  g_baton == 2 * kRounds && g_relaxed.load() == 2 * kRounds &&
                  config_sums[0] == 46 && config_sums[1] == 46 &&
                  config_sums[2] == 46 && joined_sum == 63 * 64 / 2;
  std::printf("VALUE_OK=%d\n", ok ? 1 : 0);
  tp_print_stats();
  std::printf("DONE=1\n");
  return 0;
}
