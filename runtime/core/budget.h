// The overhead budget (option max_overhead): the cost of windows, summed
// over all threads, stays under a percentage of the process's CPU time. A
// window costs the CPU time its watcher spends in it (arming, disarming,
// collecting, reporting) plus the time its stall took (measured, at most 3
// times the request: time the watcher spends preempted by the program's
// other threads after its sleep is not trapsan's cost). Re-arming
// costs more with more threads (MODIFY_ATTRIBUTES walks every inherited
// copy), so charging each window's real cost makes sampling adapt by itself,
// with 256 threads as with 2. A young process is treated as having run for
// kProductionMinCpuNs (kMinCpuNs in mode=ci), so short programs still get
// some windows.
//
// Each thread's own windows are bounded the same way by its own CPU time
// (CLOCK_THREAD_CPUTIME_ID; a young thread counts as the floor too): the
// process's CPU time alone let one busy thread that checks nothing pay for
// another's windows, and that one stalled without bound. So no thread is
// slowed more than it would be in a process of its own.
//
// A window is admitted by reserving its expected cost (a running mean of
// recent windows, at most a quarter of the allowance) and settled with its
// real cost when it ends: windows
// admitted at the same time see each other's reservations, so a burst of
// slow windows (many threads, a preempted watcher) cannot all start before
// the first one is charged.
#ifndef TRAPSAN_RUNTIME_CORE_BUDGET_H_
#define TRAPSAN_RUNTIME_CORE_BUDGET_H_

#include <atomic>
#include <cstdint>

namespace trapsan {

class Budget {
 public:
  // A young process or thread counts as having run this long (mode=ci's
  // floor: its short test programs still get windows)...
  static constexpr uint64_t kMinCpuNs = 1000000000;  // 1 s
  // ... and this long in production: with 1 s, a program that ran for 50 ms
  // could spend 10 ms (20%) in windows, the 1% notwithstanding.
  static constexpr uint64_t kProductionMinCpuNs = 100000000;  // 100 ms
  // Process CPU time is re-read at most this often (it costs a syscall that
  // walks every thread).
  static constexpr uint64_t kRefreshNs = 1000000;  // 1 ms

  // percent = 0 disables the budget. `first_estimate_ns`: the expected cost
  // of a window before any was measured. Starts with nothing charged: called
  // at the end of start-up, whose work is not the program's sampling.
  // `min_cpu_ns`: the floor above (kMinCpuNs or kProductionMinCpuNs).
  void Configure(double percent, uint64_t first_estimate_ns,
                 uint64_t min_cpu_ns = kMinCpuNs);

  // Reserves the expected cost of one window if it fits, the process's
  // budget and the calling thread's share; *reserved_ns is what to settle
  // later (0 when the budget is off). Every call below is made by the thread
  // the window or label is for. Thread-safe; cheap (a coarse clock read and a
  // CAS) except when a CPU time is re-read.
  // `scale` multiplies the percentage for this one decision: cold-site
  // samples (sampler.h ColdSample) are admitted up to kColdBudgetScale
  // times it, so the hot sites' samples, which use it up, do not shut out
  // the few samples of code that runs once.
  bool TryReserve(uint64_t* reserved_ns, double scale = 1);

  // Whether a window would be admitted now (reserves nothing).
  bool WouldFit(double scale = 1);

  // Charges a cost of sampling that is not a window (arming a label).
  void Charge(uint64_t ns);

  // Replaces a reservation by the real cost of the window (0 if none ran).
  void Settle(uint64_t reserved_ns, uint64_t actual_ns);

  // For tests: decide with explicit numbers.
  static bool Fits(uint64_t spent_ns, uint64_t cpu_ns, double percent,
                   uint64_t min_cpu_ns = kMinCpuNs);

  void Reset();  // after fork, in the child

 private:
  uint64_t CpuNs();
  // The cost to reserve for a window: the running mean, at most a quarter of
  // the allowance for `basis_ns` of CPU time.
  uint64_t Estimate(uint64_t basis_ns) const;

  double percent_ = 0;
  uint64_t min_cpu_ns_ = kMinCpuNs;
  // Charged plus reserved. Signed: a settlement may briefly take it under 0.
  std::atomic<int64_t> spent_ns_{0};
  std::atomic<uint64_t> mean_window_ns_{0};
  std::atomic<uint64_t> cpu_ns_{0};
  std::atomic<uint64_t> refreshed_at_ns_{0};
};

Budget& WindowBudget();

// The budget scale of a cold-site sample (TryReserve, WouldFit).
inline constexpr double kColdBudgetScale = 2;

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_BUDGET_H_
