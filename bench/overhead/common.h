// Shared by the overhead workloads: run N threads over a function and print
// the elapsed wall time. Each workload is race-free (ThreadSanitizer must
// stay quiet) and takes about a second uninstrumented on 2 CPUs.
#ifndef TRAPSAN_BENCH_OVERHEAD_COMMON_H_
#define TRAPSAN_BENCH_OVERHEAD_COMMON_H_

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>

inline int RunThreads(int threads, const std::function<void(int)>& body) {
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(body, i);
  for (std::thread& t : pool) t.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                           start)
                 .count();
  std::printf("SECONDS=%.6f\n", s);
  return 0;
}

// Keeps a result alive (so the work cannot be optimized away) without a
// race: an atomic, which no build instruments as a plain access.
template <typename T>
inline void Sink(T value) {
  static std::atomic<long long> sink;
  sink.fetch_add(static_cast<long long>(value), std::memory_order_relaxed);
}

#endif  // TRAPSAN_BENCH_OVERHEAD_COMMON_H_
