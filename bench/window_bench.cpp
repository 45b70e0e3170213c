// Cost of one sampled window as the number of threads grows.
//
// Runs with sample_rate=1:delay_us=0:max_overhead=0, so every
// trapsan_check_write() opens a window with no stall and no budget: capture
// the stack, claim a slot, arm the process-wide watchpoint
// (PERF_EVENT_IOC_MODIFY_ATTRIBUTES, which the kernel applies to the event
// inherited by every thread), disarm it (PERF_EVENT_IOC_DISABLE, same walk),
// collect conflicts. The variable is private: no trap, no report.
//
// BM_ArmDisarm/N: N background threads exist, blocked on a condition variable
// (they hold inherited events but are not on a CPU).
// BM_ArmDisarmSameCpu/N, BM_ArmDisarmOtherCpu/N: the same with the caller on
// CPU 0 and the blocked threads last run on CPU 0 or on CPU 1. The kernel
// reaches each thread's copy of the event with a function call on the CPU the
// thread last ran on (task_function_call(), even for a sleeping thread): a
// local call on the same CPU, a synchronous IPI on another one.
// BM_ArmDisarmBusy/N: N background threads spin (N+1 threads on 2 CPUs: the
// caller is also preempted, which the wall time includes).
//
// Time per iteration = one whole window. Counters (from trapsan_get_stats):
//   arm_ns     the runtime's own measure of arm + disarm, per window
//   window_ns  the runtime's measure of the window (arm + disarm + read of the
//              value), per window: what max_overhead charges
//   windows    windows per iteration (1: every check was sampled)
// Target: arm + disarm <= 10 us with <= 8 threads.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "trapsan/trapsan.h"

namespace {

using trapsan_bench::BackgroundThreads;
using trapsan_bench::Stats;
using trapsan_bench::StatsDelta;

enum class Mode {
  kIdle,          // background threads blocked, wherever the kernel put them
  kBusy,          // background threads spinning
  kIdleSameCpu,   // caller and blocked threads all on CPU 0
  kIdleOtherCpu,  // caller on CPU 0, blocked threads last ran on CPU 1
};

void RunWindows(benchmark::State& state, Mode mode) {
  if (Stats().backend != 2) {
    state.SkipWithError("trapsan's hardware backend is not active");
    return;
  }
  const int threads = static_cast<int>(state.range(0));
  const bool pinned = mode == Mode::kIdleSameCpu || mode == Mode::kIdleOtherCpu;
  cpu_set_t old_cpus;
  if (pinned && !trapsan_bench::PinCurrentThread(0, &old_cpus)) {
    state.SkipWithError("cannot pin to CPU 0");
    return;
  }
  if (mode == Mode::kIdleOtherCpu && CPU_COUNT(&old_cpus) < 2) {
    pthread_setaffinity_np(pthread_self(), sizeof(old_cpus), &old_cpus);
    state.SkipWithError("needs 2 CPUs");
    return;
  }
  {
    BackgroundThreads background(
        threads, mode == Mode::kBusy,
        mode == Mode::kIdleSameCpu ? 0 : mode == Mode::kIdleOtherCpu ? 1 : -1);
    alignas(8) volatile uint64_t private_var = 0;

    trapsan_stats before = Stats();
    for (auto _ : state) {
      trapsan_check_write(&private_var, sizeof(private_var));
      private_var = private_var + 1;
    }
    trapsan_stats d = StatsDelta(before, Stats());

    const double windows = static_cast<double>(d.windows);
    state.counters["background_threads"] = threads;
    state.counters["windows"] =
        windows / static_cast<double>(state.iterations());
    if (d.windows > 0) {
      state.counters["arm_ns"] = static_cast<double>(d.arm_ns) / windows;
      state.counters["window_ns"] = static_cast<double>(d.window_ns) / windows;
    }
    if (d.skipped_no_slot + d.skipped_budget + d.skipped_reentrant != 0) {
      state.counters["skipped"] = static_cast<double>(
          d.skipped_no_slot + d.skipped_budget + d.skipped_reentrant);
    }
    if (d.races_found != 0) {
      state.SkipWithError("a race was reported on a private variable");
    }
  }
  if (pinned) pthread_setaffinity_np(pthread_self(), sizeof(old_cpus), &old_cpus);
}

void BM_ArmDisarm(benchmark::State& state) { RunWindows(state, Mode::kIdle); }
void BM_ArmDisarmBusy(benchmark::State& state) { RunWindows(state, Mode::kBusy); }
void BM_ArmDisarmSameCpu(benchmark::State& state) {
  RunWindows(state, Mode::kIdleSameCpu);
}
void BM_ArmDisarmOtherCpu(benchmark::State& state) {
  RunWindows(state, Mode::kIdleOtherCpu);
}

// Wall time: the window's cost is mostly in the kernel, and with busy threads
// the caller also waits for the other CPU.
BENCHMARK(BM_ArmDisarm)
    ->Arg(0)->Arg(1)->Arg(2)->Arg(4)->Arg(8)->Arg(16)->Arg(32)->Arg(64)
    ->Arg(128)->Arg(256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ArmDisarmSameCpu)
    ->Arg(1)->Arg(8)->Arg(64)->Arg(256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ArmDisarmOtherCpu)
    ->Arg(1)->Arg(8)->Arg(64)->Arg(256)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ArmDisarmBusy)
    ->Arg(1)->Arg(2)->Arg(8)->Arg(64)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  trapsan_bench::RunWithOptions(argv, "sample_rate=1:delay_us=0:max_overhead=0");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("trapsan_backend", trapsan_backend());
  benchmark::AddCustomContext("trapsan_options", getenv("TRAPSAN_OPTIONS"));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
