// The overhead budget (option max_overhead): wall time spent in windows,
// summed over all threads and including arming and disarming, stays under a
// percentage of the process's CPU time. Re-arming costs more with more
// threads (MODIFY_ATTRIBUTES walks every inherited copy), so charging the real
// time of each window makes sampling adapt by itself, with 256 threads as with
// 2. A young process is treated as having run for kMinCpuNs, so short
// programs still get some windows.
#ifndef TRAPSAN_RUNTIME_CORE_BUDGET_H_
#define TRAPSAN_RUNTIME_CORE_BUDGET_H_

#include <atomic>
#include <cstdint>

namespace trapsan {

class Budget {
 public:
  static constexpr uint64_t kMinCpuNs = 1000000000;  // 1 s
  // Process CPU time is re-read at most this often (it costs a syscall that
  // walks every thread).
  static constexpr uint64_t kRefreshNs = 1000000;  // 1 ms

  // percent = 0 disables the budget.
  void Configure(double percent) { percent_ = percent; }

  // True if another window fits. Thread-safe; cheap (a clock read) except
  // when the CPU time is refreshed.
  bool Allow();

  void Charge(uint64_t window_ns) {
    spent_ns_.fetch_add(window_ns, std::memory_order_relaxed);
  }

  // For tests: decide with explicit numbers.
  static bool Fits(uint64_t spent_ns, uint64_t cpu_ns, double percent);

  void Reset();

 private:
  double percent_ = 0;
  std::atomic<uint64_t> spent_ns_{0};
  std::atomic<uint64_t> cpu_ns_{0};
  std::atomic<uint64_t> refreshed_at_ns_{0};
};

Budget& WindowBudget();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_BUDGET_H_
