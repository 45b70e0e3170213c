#include "budget.h"

#include "clock.h"

namespace trapsan {
namespace {

Budget g_budget;

}  // namespace

bool Budget::Fits(uint64_t spent_ns, uint64_t cpu_ns, double percent) {
  if (percent <= 0) return true;
  if (cpu_ns < kMinCpuNs) cpu_ns = kMinCpuNs;
  return static_cast<double>(spent_ns) <
         static_cast<double>(cpu_ns) * percent / 100.0;
}

bool Budget::Allow() {
  if (percent_ <= 0) return true;
  uint64_t now = ClockNs(CLOCK_MONOTONIC_COARSE);
  uint64_t last = refreshed_at_ns_.load(std::memory_order_relaxed);
  if (now - last >= kRefreshNs &&
      refreshed_at_ns_.compare_exchange_strong(last, now,
                                               std::memory_order_relaxed)) {
    cpu_ns_.store(ClockNs(CLOCK_PROCESS_CPUTIME_ID), std::memory_order_relaxed);
  }
  return Fits(spent_ns_.load(std::memory_order_relaxed),
              cpu_ns_.load(std::memory_order_relaxed), percent_);
}

void Budget::Reset() {
  spent_ns_.store(0, std::memory_order_relaxed);
  cpu_ns_.store(0, std::memory_order_relaxed);
  refreshed_at_ns_.store(0, std::memory_order_relaxed);
}

Budget& WindowBudget() { return g_budget; }

}  // namespace trapsan
