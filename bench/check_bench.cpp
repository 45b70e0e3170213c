// Cost of an unsampled check: trapsan_check_read/write and __tsan_read8 on
// the fast path (the soft-window word's load, a thread-local decrement and
// two predicted branches, called through the PLT of libtrapsan.so), against
// the same loop without the check.
//
// Runs with sample_rate=1000000000, so no check in the run opens a window
// (counter `windows` shows it). Each iteration does kBatch accesses, so the
// benchmark loop's own overhead is spread; `ns_per_access` is the time of one
// (checked or plain) access. Target: the difference, the check alone, <= 2 ns.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "trapsan/trapsan.h"

namespace {

constexpr int kBatch = 16;

using trapsan_bench::Stats;
using trapsan_bench::StatsDelta;

// A thread's first check always reaches the sampler (its countdown starts at
// 0) and opens one window: take it before measuring.
trapsan_stats Start() {
  alignas(8) volatile int warm = 0;
  trapsan_check_write(&warm, sizeof(warm));
  return Stats();
}

void Report(benchmark::State& state, const trapsan_stats& before) {
  // CPU time per access (per thread), printed with an SI prefix: "1.2n" is
  // 1.2 ns. Rates are per CPU second; kAvgThreads undoes the sum over threads.
  state.counters["ns_per_access"] = benchmark::Counter(
      kBatch, benchmark::Counter::kIsIterationInvariantRate |
                  benchmark::Counter::kAvgThreads |
                  benchmark::Counter::kInvert);
  // Windows opened during the run, all threads (should be 0).
  if (state.thread_index() == 0) {
    state.counters["windows"] =
        static_cast<double>(StatsDelta(before, Stats()).windows);
  }
}

#define REPEAT16(x) x x x x x x x x x x x x x x x x

// Baselines: a plain volatile load or store per access.
void BM_BaselineRead(benchmark::State& state) {
  trapsan_stats before = Start();
  alignas(8) volatile int x = 1;
  int sink = 0;
  for (auto _ : state) {
    REPEAT16(sink += x;)
  }
  benchmark::DoNotOptimize(sink);
  Report(state, before);
}

void BM_BaselineWrite(benchmark::State& state) {
  trapsan_stats before = Start();
  alignas(8) volatile int x = 1;
  unsigned v = 0;
  for (auto _ : state) {
    REPEAT16(x = ++v;)
  }
  int last = x;
  benchmark::DoNotOptimize(last);
  Report(state, before);
}

// The same accesses, each checked first.
void BM_UnsampledCheckRead(benchmark::State& state) {
  trapsan_stats before = Start();
  alignas(8) volatile int x = 1;
  int sink = 0;
  for (auto _ : state) {
    REPEAT16(trapsan_check_read(&x, sizeof(x)); sink += x;)
  }
  benchmark::DoNotOptimize(sink);
  Report(state, before);
}

void BM_UnsampledCheckWrite(benchmark::State& state) {
  trapsan_stats before = Start();
  alignas(8) volatile int x = 1;
  unsigned v = 0;
  for (auto _ : state) {
    REPEAT16(trapsan_check_write(&x, sizeof(x)); x = ++v;)
  }
  Report(state, before);
}

// The check alone, no access: its cost as such.
void BM_UnsampledCheckOnly(benchmark::State& state) {
  trapsan_stats before = Start();
  alignas(8) volatile int x = 1;
  for (auto _ : state) {
    REPEAT16(trapsan_check_write(&x, sizeof(x));)
  }
  Report(state, before);
}

// The ThreadSanitizer ABI's entry point, called as -fsanitize=thread code
// calls it: the soft-window check (one load of a process-wide word while no
// soft window is open, runtime/core/soft_watch.h), then the countdown.
extern "C" void __tsan_read8(void* addr);

void BM_TsanRead8(benchmark::State& state) {
  trapsan_stats before = Start();
  alignas(8) volatile long x = 1;
  long sink = 0;
  for (auto _ : state) {
    REPEAT16(__tsan_read8(const_cast<long*>(&x)); sink += x;)
  }
  benchmark::DoNotOptimize(sink);
  Report(state, before);
}

BENCHMARK(BM_BaselineRead)->ThreadRange(1, 2);
BENCHMARK(BM_TsanRead8)->ThreadRange(1, 2);
BENCHMARK(BM_UnsampledCheckRead)->ThreadRange(1, 2);
BENCHMARK(BM_BaselineWrite)->ThreadRange(1, 2);
BENCHMARK(BM_UnsampledCheckWrite)->ThreadRange(1, 2);
BENCHMARK(BM_UnsampledCheckOnly)->ThreadRange(1, 2);

}  // namespace

int main(int argc, char** argv) {
  trapsan_bench::RunWithOptions(argv, "sample_rate=1000000000");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("trapsan_backend", trapsan_backend());
  benchmark::AddCustomContext("trapsan_options", getenv("TRAPSAN_OPTIONS"));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
