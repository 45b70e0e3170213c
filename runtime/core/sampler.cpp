#include "sampler.h"

#include <errno.h>
#include <time.h>

#include <atomic>
#include <climits>

#include "budget.h"
#include "counters.h"
#include "options.h"
#include "release.h"
#include "thread_state.h"
#include "window.h"
#include "runtime/linux/cancel.h"
#include "runtime/linux/unwind.h"

namespace trapsan {
namespace {

std::atomic<bool> g_ready{false};

__thread bool t_cold_sample __attribute__((tls_model("initial-exec")));

constexpr int32_t kMaxCountdown = INT32_MAX / 2;
// How much longer the next countdown is after the budget refused a sample.
constexpr int32_t kOverBudgetBackoff = 16;

}  // namespace

// A cold-site sample's held window stays open this many times delay_us
// longer: such samples are few (cold_sites per site).
constexpr uint64_t kColdStallFactor = 4;

void ColdStall(ThreadState& t) {
  const int64_t us = GetOptions().delay_us;
  if (us <= 0) return;
  const uint64_t d = static_cast<uint64_t>(us) * 1000 * (kColdStallFactor - 1);
  const uint64_t ns = d / 2 + NextRandom(t) % (d + 1);  // [d/2, 3d/2]
  timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  const uint64_t sum = static_cast<uint64_t>(deadline.tv_nsec) + ns;
  deadline.tv_sec += static_cast<time_t>(sum / 1000000000u);
  deadline.tv_nsec = static_cast<long>(sum % 1000000000u);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline,
                         nullptr) == EINTR) {
  }
  WindowBudget().Charge(ns);
  Count(Stats().budget_ns, ns);
}

namespace {

// Uniform in [1, 2 * rate - 1]: mean `rate`, never 0.
int32_t NextCountdown(ThreadState& t, int64_t rate) {
  if (rate <= 1) return 1;
  if (rate > kMaxCountdown) rate = kMaxCountdown;
  return 1 + static_cast<int32_t>(NextRandom(t) %
                                  static_cast<uint64_t>(2 * rate - 1));
}

// Benign ranges: appended under a lock, read without one (an entry is
// complete before the count that publishes it).
struct BenignRange {
  uintptr_t begin, end;
};
BenignRange g_benign[kMaxBenignRanges];
std::atomic<int> g_benign_count{0};
std::atomic_flag g_benign_lock = ATOMIC_FLAG_INIT;

}  // namespace

bool AddBenignRange(uintptr_t addr, size_t size) {
  if (size == 0) return true;
  while (g_benign_lock.test_and_set(std::memory_order_acquire)) {
  }
  const int n = g_benign_count.load(std::memory_order_relaxed);
  bool added = n < kMaxBenignRanges;
  if (added) {
    g_benign[n] = {addr, addr + size};
    g_benign_count.store(n + 1, std::memory_order_release);
  }
  g_benign_lock.clear(std::memory_order_release);
  return added;
}

bool IsBenign(uintptr_t addr, size_t size) {
  const int n = g_benign_count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) {
    if (addr < g_benign[i].end && g_benign[i].begin < addr + size) return true;
  }
  return false;
}

bool ColdSample() { return t_cold_sample; }

ColdSampleScope::ColdSampleScope(bool cold) : saved_(t_cold_sample) {
  t_cold_sample = cold;
}
ColdSampleScope::~ColdSampleScope() { t_cold_sample = saved_; }

bool RuntimeReady() { return g_ready.load(std::memory_order_acquire); }
void SetRuntimeReady(bool ready) {
  g_ready.store(ready, std::memory_order_release);
}

void RunSiteOrOtherSample(ThreadState& t, const volatile void* addr,
                          size_t size, bool is_write, uintptr_t return_address,
                          uintptr_t access_pc, uint32_t line, bool site);

bool BeginSample(ThreadState& t) {
  if (t.in_runtime != 0) {
    // trapsan's own code, or a signal handler that interrupted it.
    Countdown() = 1;
    Count(Stats().skipped_reentrant);
    return false;
  }
  if (!RuntimeReady() && !InitializeRuntime()) {
    Countdown() = INT32_MAX;  // Off: never sample again.
    return false;
  }
  const Options& options = GetOptions();
  Countdown() = NextCountdown(t, options.sample_rate);
  if (!t.sampling_started) {
    // A thread's countdown starts at 0: its first check lands here. Do not
    // sample it (unless every access is to be sampled), or threads starting
    // together would all open windows at once whatever the sample rate.
    t.sampling_started = true;
    if (options.sample_rate > 1 && !ColdSample()) return false;
  }
  Count(Stats().checks_slow);
  if (__trapsan_windows_open != 0) {
    // This thread's held windows that touched their bytes again or expired.
    InRuntime guard;
    MaintainHeldWindows();
  }
  if (ActiveBackend() == Backend::kOff) {
    Countdown() = INT32_MAX;
    return false;
  }
  return true;
}

void BackOffOverBudget() {
  // A refused sample costs a trip through here (and contended counters);
  // while the budget is spent, sampling at the full rate only buys more
  // refusals.
  Countdown() = Countdown() < kMaxCountdown / kOverBudgetBackoff
                    ? Countdown() * kOverBudgetBackoff
                    : kMaxCountdown;
}

void DescribeAccess(const ThreadState& t, uintptr_t addr, size_t size,
                    bool is_write, uintptr_t return_address,
                    uintptr_t access_pc, uint32_t line, AccessInfo* out) {
  AccessInfo& access = *out;
  access.tid = t.tid;
  access.thread_id = t.thread_id;
  access.addr = addr;
  access.size = static_cast<uint32_t>(size);
  access.kind = is_write ? AccessKind::kWrite : AccessKind::kRead;
  access.pc_after_access = false;
  access.time_ns = 0;
  access.has_registers = false;
  access.line = line;
  CaptureStack(return_address, &access.stack);
  // Frames hold return addresses (looked up one byte back): the
  // instruction's own address + 1 symbolizes to the instruction.
  if (access_pc != 0 && access.stack.depth > 0) {
    access.stack.pcs[0] = access_pc + 1;
  }
}

static void SampleAccessHeld(const volatile void* addr, size_t size,
                             bool is_write, uintptr_t return_address,
                             uintptr_t access_pc, uint32_t line);

// With cancellation held off (runtime/linux/cancel.h): a thread cancelled in
// a sample leaves nothing held. No cleanups in this frame.
void SampleAccess(const volatile void* addr, size_t size, bool is_write,
                  uintptr_t return_address, uintptr_t access_pc,
                  uint32_t line) {
  const CancelHold hold = HoldCancel();
  SampleAccessHeld(addr, size, is_write, return_address, access_pc, line);
  ReleaseCancel(hold);
}

__attribute__((noinline)) static void SampleAccessHeld(
    const volatile void* addr, size_t size, bool is_write,
    uintptr_t return_address, uintptr_t access_pc, uint32_t line) {
  ThreadState& t = CurrentThread();
  const bool site = TakeSiteSample();
  if (BeginSample(t))
    RunSiteOrOtherSample(t, addr, size, is_write, return_address, access_pc,
                         line, site);
}

void RunSample(ThreadState& t, const volatile void* addr, size_t size,
               bool is_write, uintptr_t return_address, uintptr_t access_pc,
               uint32_t line) {
  RunSiteOrOtherSample(t, addr, size, is_write, return_address, access_pc,
                       line, TakeSiteSample());
}

void RunSiteOrOtherSample(ThreadState& t, const volatile void* addr,
                          size_t size, bool is_write, uintptr_t return_address,
                          uintptr_t access_pc, uint32_t line, bool site) {
  if (size == 0) return;
  if (is_write ? t.ignore_writes != 0 : t.ignore_reads != 0) {
    Count(Stats().skipped_ignored);
    return;
  }
  InRuntime guard;
  MaintainHeldWindows();  // expired held windows of any thread
  if (IsBenign(reinterpret_cast<uintptr_t>(addr), size)) {
    Count(Stats().skipped_benign);
    return;
  }
  const uintptr_t address = reinterpret_cast<uintptr_t>(addr);
  if (!WindowPossible(address, size, is_write)) return;
  uint64_t reserved_ns;
  if (!WindowBudget().TryReserve(&reserved_ns,
                                 ColdSample() ? kColdBudgetScale : 1)) {
    Count(Stats().skipped_budget);
    BackOffOverBudget();  // Over budget: come back less often.
    return;
  }
  AccessInfo access;
  DescribeAccess(t, address, size, is_write, return_address, access_pc, line,
                 &access);
  t.current_access = &access;
  WindowBudget().Settle(reserved_ns, WatchAccess(access, site));
  t.current_access = nullptr;
  DrainLateConflicts();
}

}  // namespace trapsan
