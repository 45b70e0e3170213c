// The overhead budget (option max_overhead) under load: N busy threads call
// trapsan_check_write() on private variables in a loop for a few seconds,
// with frequent sampling (sample_rate=100) and short windows (delay_us=10).
// The runtime should keep the cost of windows it charges (stats.budget_ns:
// the watchers' CPU time in windows plus the stalls they ask for, summed over
// threads) under max_overhead percent of the process's CPU time, with 256
// threads as with 2. The wall time in windows (stats.window_ns), which also
// counts watchers waiting for a CPU, is shown beside it.
//
// One configuration per process (the budget is cumulative since start-up and
// options are read at load time):
//   budget_bench [--threads=N] [--seconds=S] [--max_overhead=P]
//                [--sample_rate=R] [--delay_us=D] [--baseline]
//                [Google Benchmark flags]
// --baseline runs the same loop with sample_rate=1000000000 (trapsan loaded,
// no window): its checks_per_cpu_us is the reference for the true slowdown.
// bench/run.sh runs the matrix.
//
// Counters:
//   fraction_pct      stats.budget_ns / process CPU time, at the end, in %
//   wall_fraction_pct stats.window_ns / process CPU time, at the end, in %
//   max_fraction_pct  the highest value of the same ratio seen in 100 ms
//                     checkpoints once the process had used >= 2 s of CPU
//                     (before 1 s of CPU, the runtime grants a young process a
//                     fixed allowance on purpose)
//   windows, windows_per_s, window_us (mean wall time of one window),
//   arm_us (of which arm + disarm), skipped_budget, skipped_no_slot
//   checks_per_cpu_us checks done per microsecond of process CPU time
#include <benchmark/benchmark.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "bench_util.h"
#include "trapsan/trapsan.h"

namespace {

using trapsan_bench::ClockNs;
using trapsan_bench::Stats;

struct Config {
  int threads = 2;
  double seconds = 4;
  std::string max_overhead;  // empty: the runtime's default
  long sample_rate = 100;
  long delay_us = 10;
  bool baseline = false;
};

Config g_config;

std::atomic<bool> g_stop{false};
std::atomic<uint64_t> g_checks{0};

void* Worker(void*) {
  alignas(64) volatile uint64_t mine[8] = {};
  uint64_t checks = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 64; ++i) {
      trapsan_check_write(&mine[0], sizeof(mine[0]));
      mine[0] = mine[0] + 1;
    }
    checks += 64;
  }
  g_checks.fetch_add(checks, std::memory_order_relaxed);
  return nullptr;
}

void BM_Budget(benchmark::State& state) {
  const Config& c = g_config;
  double fraction = 0, max_fraction = 0;
  uint64_t cpu_ns = 0, run_ns = 0;
  for (auto _ : state) {
    g_stop.store(false);
    g_checks.store(0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    std::vector<pthread_t> workers(c.threads);
    const uint64_t start = ClockNs(CLOCK_MONOTONIC);
    for (pthread_t& t : workers) {
      if (pthread_create(&t, &attr, Worker, nullptr) != 0) {
        state.SkipWithError("pthread_create failed");
        g_stop.store(true);
        return;
      }
    }
    pthread_attr_destroy(&attr);
    const uint64_t deadline = start + static_cast<uint64_t>(c.seconds * 1e9);
    while (ClockNs(CLOCK_MONOTONIC) < deadline) {
      timespec pause = {0, 100 * 1000 * 1000};
      nanosleep(&pause, nullptr);
      uint64_t cpu = ClockNs(CLOCK_PROCESS_CPUTIME_ID);
      if (cpu >= 2000000000u) {
        max_fraction = std::max(
            max_fraction, 100.0 * static_cast<double>(Stats().budget_ns) /
                              static_cast<double>(cpu));
      }
    }
    g_stop.store(true);
    for (pthread_t t : workers) pthread_join(t, nullptr);
    run_ns = ClockNs(CLOCK_MONOTONIC) - start;
    cpu_ns = ClockNs(CLOCK_PROCESS_CPUTIME_ID);
  }
  // Totals since start-up: what the budget bounds.
  trapsan_stats s = Stats();
  fraction = 100.0 * static_cast<double>(s.budget_ns) /
             static_cast<double>(cpu_ns);
  state.counters["wall_fraction_pct"] =
      100.0 * static_cast<double>(s.window_ns) / static_cast<double>(cpu_ns);
  const double windows = static_cast<double>(s.windows);
  state.counters["threads"] = c.threads;
  state.counters["fraction_pct"] = fraction;
  state.counters["max_fraction_pct"] = max_fraction;
  state.counters["windows"] = windows;
  state.counters["windows_per_s"] = windows / (static_cast<double>(run_ns) / 1e9);
  state.counters["window_us"] =
      windows > 0 ? static_cast<double>(s.window_ns) / windows / 1e3 : 0;
  state.counters["arm_us"] =
      windows > 0 ? static_cast<double>(s.arm_ns) / windows / 1e3 : 0;
  state.counters["skipped_budget"] = static_cast<double>(s.skipped_budget);
  state.counters["skipped_no_slot"] = static_cast<double>(s.skipped_no_slot);
  state.counters["checks_per_cpu_us"] =
      static_cast<double>(g_checks.load()) / (static_cast<double>(cpu_ns) / 1e3);
  state.counters["cpu_s"] = static_cast<double>(cpu_ns) / 1e9;
  if (s.races_found != 0) {
    state.SkipWithError("a race was reported on private variables");
  }
}

// Takes --name=value from argv (removing it); true if found.
bool TakeFlag(int* argc, char** argv, const char* name, std::string* value) {
  std::string prefix = std::string("--") + name;
  for (int i = 1; i < *argc; ++i) {
    std::string arg = argv[i];
    bool match = arg == prefix || arg.rfind(prefix + "=", 0) == 0;
    if (!match) continue;
    *value = arg.size() > prefix.size() ? arg.substr(prefix.size() + 1) : "";
    for (int j = i; j + 1 < *argc; ++j) argv[j] = argv[j + 1];
    --*argc;
    return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // Parse our flags from a copy: the re-exec needs the original argv.
  std::vector<char*> args(argv, argv + argc + 1);
  int n = argc;
  std::string v;
  Config& c = g_config;
  if (TakeFlag(&n, args.data(), "threads", &v)) c.threads = atoi(v.c_str());
  if (TakeFlag(&n, args.data(), "seconds", &v)) c.seconds = atof(v.c_str());
  if (TakeFlag(&n, args.data(), "max_overhead", &v)) c.max_overhead = v;
  if (TakeFlag(&n, args.data(), "sample_rate", &v)) c.sample_rate = atol(v.c_str());
  if (TakeFlag(&n, args.data(), "delay_us", &v)) c.delay_us = atol(v.c_str());
  if (TakeFlag(&n, args.data(), "baseline", &v)) c.baseline = true;
  args[n] = nullptr;

  std::string options;
  if (c.baseline) {
    options = "sample_rate=1000000000";
  } else {
    options = "sample_rate=" + std::to_string(c.sample_rate) +
              ":delay_us=" + std::to_string(c.delay_us);
    if (!c.max_overhead.empty()) options += ":max_overhead=" + c.max_overhead;
  }
  trapsan_bench::RunWithOptions(argv, options);

  std::string name = std::string(c.baseline ? "BM_BudgetBaseline" : "BM_Budget") +
                     "/threads:" + std::to_string(c.threads);
  if (!c.baseline) {
    name += "/max_overhead:" + (c.max_overhead.empty() ? std::string("default")
                                                       : c.max_overhead);
  }
  benchmark::RegisterBenchmark(name.c_str(), BM_Budget)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kSecond);

  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::AddCustomContext("trapsan_backend", trapsan_backend());
  benchmark::AddCustomContext("trapsan_options", getenv("TRAPSAN_OPTIONS"));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
