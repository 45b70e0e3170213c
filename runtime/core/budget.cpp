#include "budget.h"

#include "clock.h"

namespace trapsan {
namespace {
Budget g_budget;

// This thread's share (every call of Budget is made by the thread whose
// window or label it is for). Zero in a new thread.
struct ThreadShare {
  const Budget* owner;  // the budget it is a share of (the runtime has one)
  int64_t spent_ns;     // its charges and reservations
  uint64_t cpu_ns;      // its CPU time when last read: never more than now
};
thread_local ThreadShare t_share __attribute__((tls_model("initial-exec")));

uint64_t Positive(int64_t v) { return v > 0 ? static_cast<uint64_t>(v) : 0; }

// This thread's share of `budget`.
ThreadShare& Share(const Budget* budget) {
  if (t_share.owner != budget) t_share = ThreadShare{budget, 0, 0};
  return t_share;
}

// Whether `extra` more fits this thread's share. Its CPU clock (a system
// call) is read only when the last reading says no: a thread under its
// floor, or well under its share, reads no clock.
bool ThreadShareFits(ThreadShare& share, uint64_t extra, double percent,
                     uint64_t min_cpu_ns) {
  const uint64_t after = Positive(share.spent_ns) + extra;
  if (Budget::Fits(after, share.cpu_ns, percent, min_cpu_ns)) return true;
  share.cpu_ns = ClockNs(CLOCK_THREAD_CPUTIME_ID);
  return Budget::Fits(after, share.cpu_ns, percent, min_cpu_ns);
}
}  // namespace

bool Budget::Fits(uint64_t spent_ns, uint64_t cpu_ns, double percent,
                  uint64_t min_cpu_ns) {
  if (percent <= 0) return true;
  if (cpu_ns < min_cpu_ns) cpu_ns = min_cpu_ns;
  return static_cast<double>(spent_ns) <
         static_cast<double>(cpu_ns) * percent / 100.0;
}

void Budget::Configure(double percent, uint64_t first_estimate_ns,
                       uint64_t min_cpu_ns) {
  percent_ = percent;
  min_cpu_ns_ = min_cpu_ns;
  // Nothing charged yet: whatever ran before (start-up self-tests, however
  // they ended) is not the program's sampling.
  t_share = ThreadShare{this, 0, 0};
  spent_ns_.store(0, std::memory_order_relaxed);
  cpu_ns_.store(0, std::memory_order_relaxed);
  refreshed_at_ns_.store(0, std::memory_order_relaxed);
  mean_window_ns_.store(first_estimate_ns > 0 ? first_estimate_ns : 1,
                        std::memory_order_relaxed);
}

uint64_t Budget::Estimate(uint64_t basis_ns) const {
  // At most a quarter of the whole allowance is reserved per window, so a
  // few slow windows in the past (a first report's set-up, a preempted
  // watcher) cannot shut sampling out for good: the estimate only moves when
  // windows run.
  const double allowed =
      static_cast<double>(basis_ns < min_cpu_ns_ ? min_cpu_ns_ : basis_ns) *
      percent_ / 100;
  uint64_t estimate = mean_window_ns_.load(std::memory_order_relaxed);
  if (static_cast<double>(estimate) > allowed / 4) {
    estimate = static_cast<uint64_t>(allowed / 4);
  }
  return estimate == 0 ? 1 : estimate;
}

uint64_t Budget::CpuNs() {
  uint64_t now = ClockNs(CLOCK_MONOTONIC_COARSE);
  uint64_t last = refreshed_at_ns_.load(std::memory_order_relaxed);
  if (now - last >= kRefreshNs &&
      refreshed_at_ns_.compare_exchange_strong(last, now,
                                               std::memory_order_relaxed)) {
    cpu_ns_.store(ClockNs(CLOCK_PROCESS_CPUTIME_ID), std::memory_order_relaxed);
  }
  return cpu_ns_.load(std::memory_order_relaxed);
}

bool Budget::TryReserve(uint64_t* reserved_ns, double scale) {
  *reserved_ns = 0;
  if (percent_ <= 0) return true;
  const double percent = percent_ * scale;
  const uint64_t cpu = CpuNs();
  // What a window costs beyond its reservation is settled when it ends and
  // delays the next ones.
  ThreadShare& share = Share(this);
  // The smaller allowance, the process's or this thread's (from its last
  // reading).
  const uint64_t estimate = Estimate(cpu < share.cpu_ns ? cpu : share.cpu_ns);
  if (!ThreadShareFits(share, estimate, percent, min_cpu_ns_)) return false;
  int64_t spent = spent_ns_.load(std::memory_order_relaxed);
  do {
    uint64_t after = static_cast<uint64_t>(spent > 0 ? spent : 0) + estimate;
    if (!Fits(after, cpu, percent, min_cpu_ns_)) return false;
  } while (!spent_ns_.compare_exchange_weak(
      spent, spent + static_cast<int64_t>(estimate), std::memory_order_relaxed));
  share.spent_ns += static_cast<int64_t>(estimate);
  *reserved_ns = estimate;
  return true;
}

bool Budget::WouldFit(double scale) {
  if (percent_ <= 0) return true;
  const double percent = percent_ * scale;
  const uint64_t cpu = CpuNs();
  const int64_t spent = spent_ns_.load(std::memory_order_relaxed);
  ThreadShare& share = Share(this);
  // The estimate TryReserve() would reserve: uncapped, one slow window (the
  // mean of the last ~8) could refuse every label site from then on, since
  // only windows move the estimate.
  const uint64_t estimate = Estimate(cpu < share.cpu_ns ? cpu : share.cpu_ns);
  return Fits(Positive(spent) + estimate, cpu, percent, min_cpu_ns_) &&
         ThreadShareFits(share, estimate, percent, min_cpu_ns_);
}

void Budget::Charge(uint64_t ns) {
  if (percent_ <= 0) return;
  spent_ns_.fetch_add(static_cast<int64_t>(ns), std::memory_order_relaxed);
  Share(this).spent_ns += static_cast<int64_t>(ns);
}

void Budget::Settle(uint64_t reserved_ns, uint64_t actual_ns) {
  if (percent_ <= 0) return;
  const int64_t correction =
      static_cast<int64_t>(actual_ns) - static_cast<int64_t>(reserved_ns);
  spent_ns_.fetch_add(correction, std::memory_order_relaxed);
  Share(this).spent_ns += correction;
  if (actual_ns == 0) return;  // No window ran: nothing learned.
  // Running mean over about 8 windows. Racy updates only lose a sample.
  uint64_t mean = mean_window_ns_.load(std::memory_order_relaxed);
  uint64_t next = mean - mean / 8 + actual_ns / 8;
  mean_window_ns_.store(next > 0 ? next : 1, std::memory_order_relaxed);
}

void Budget::Reset() {
  // The calling thread's share: the fork child's only thread, a new task.
  t_share = ThreadShare{this, 0, 0};
  spent_ns_.store(0, std::memory_order_relaxed);
  cpu_ns_.store(0, std::memory_order_relaxed);
  refreshed_at_ns_.store(0, std::memory_order_relaxed);
}

Budget& WindowBudget() { return g_budget; }

}  // namespace trapsan
