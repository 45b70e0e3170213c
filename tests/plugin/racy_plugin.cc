// Racy, with no manual checks: built by trapsan-c++ (tests/plugin), the
// plugin instruments the plain accesses. A writer increments a global while
// a reader reads it, until the first report (or max_ms).
// Usage: racy_plugin [max_ms] (default 3000). Prints RACE_REPORTS, STAT_*.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common.h"

long g_shared;  // the racy variable
std::atomic<int> g_reports{0};

__attribute__((noinline)) void BumpShared() {
  g_shared = g_shared + 1;  // PLUGIN_RACE_WRITE
  TP_BARRIER();
}

__attribute__((noinline)) long ReadShared() {
  long v = g_shared;  // PLUGIN_RACE_READ
  TP_BARRIER();
  return v;
}

void OnReport(const trapsan_report*, void*) { g_reports.fetch_add(1); }

int main(int argc, char** argv) {
  tp_setup_stdout();
  const int max_ms = argc > 1 ? std::atoi(argv[1]) : 3000;
  trapsan_set_report_callback(OnReport, nullptr);
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(static_cast<long>(max_ms * tp_time_scale()));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop.load(std::memory_order_relaxed)) BumpShared();
  });
  std::thread reader([&] {
    long sum = 0;
    while (!stop.load(std::memory_order_relaxed)) sum += ReadShared();
    std::printf("SUM_NONNEGATIVE=%d\n", sum >= 0);
  });
  while (g_reports.load() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop.store(true);
  writer.join();
  reader.join();
  std::printf("RACE_REPORTS=%d\n", g_reports.load());
  tp_print_stats();
  std::printf("DONE=1\n");
  return 0;
}
