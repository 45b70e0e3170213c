// The watcher's bias of other threads' plugin countdowns
// (runtime/linux/soft_sites.h): a countdown the sampler set is biased so
// that its thread's next site checks the open soft windows, and a countdown
// too large to be told apart once biased (sampling off, the over-budget
// back-off, a program's own "quiet" value) is left alone: biased, it would
// read as unbiased and expire as a sample nobody asked for.
#include "runtime/linux/soft_sites.h"

#include <atomic>
#include <climits>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/core/thread_state.h"

namespace trapsan {
namespace {

// Runs a thread whose countdown is `start`, registers it (as its first
// site expiry would), lets the watcher force checks, returns the
// thread's countdown afterwards.
int32_t CountdownAfterForce(int32_t start) {
  std::atomic<int> step{0};
  int32_t after = 0;
  std::thread t([&] {
    Countdown() = start;
    EXPECT_EQ(SoftSiteEntry(/*label_check=*/false, &Countdown()),
              SoftSiteAction::kNormal);  // (no window open: registers only)
    Countdown() = start;
    step.store(1);
    while (step.load() != 2) std::this_thread::yield();
    after = Countdown();
  });
  while (step.load() != 1) std::this_thread::yield();
  ForcePluginSiteChecks();
  step.store(2);
  t.join();
  return after;
}

TEST(SoftSitesTest, SampledCountdownsAreBiased) {
  for (int32_t start : {1, 100, 5000, kSoftBiasable - 1, 0, -3}) {
    const int32_t after = CountdownAfterForce(start);
    EXPECT_EQ(after, start - kSoftBias) << start;
    EXPECT_LT(after, kSoftBiased) << start;
  }
}

TEST(SoftSitesTest, CountdownsTooLargeToBiasAreLeftAlone) {
  for (int32_t start : {kSoftBiasable, 1 << 30, INT32_MAX / 2, INT32_MAX})
    EXPECT_EQ(CountdownAfterForce(start), start) << start;
}

// Threads registering and exiting while the watcher forces checks without
// pause: an exiting thread whose entry the watcher holds at that moment
// waits for it, and is gone from the table once joined (the watcher must
// never write through a dead thread's TLS: its stack may be unmapped, a
// plugin-built 10k-thread churn crashed in ForcePluginSiteChecks).
TEST(SoftSitesTest, ExitedThreadsAreNeverLeftRegistered) {
  const int before = RegisteredSoftSiteThreads();
  std::atomic<bool> stop{false};
  std::atomic<long> forced{0};
  std::thread watcher([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      ForcePluginSiteChecks();
      forced.fetch_add(1, std::memory_order_relaxed);
    }
  });
  constexpr int kRounds = 1000, kBatch = 4;
  for (int round = 0; round < kRounds; ++round) {
    std::thread t[kBatch];
    for (auto& th : t)
      th = std::thread([] {
        Countdown() = 1000;
        SoftSiteEntry(/*label_check=*/false, &Countdown());  // registers
        Countdown() = 1000;
        // A few rounds of the watcher's CAS on this countdown.
        for (int i = 0; i < 200; ++i)
          __atomic_load_n(&Countdown(), __ATOMIC_RELAXED);
      });
    for (auto& th : t) th.join();
    ASSERT_EQ(RegisteredSoftSiteThreads(), before) << "round " << round;
  }
  stop.store(true);
  watcher.join();
  EXPECT_GT(forced.load(), 0);
}

TEST(SoftSitesTest, EveryBiasedCountdownReadsAsBiased) {
  // A biasable countdown, biased, and then counted down by any site's
  // `subl` of a few thousand, is still below kSoftBiased.
  EXPECT_LT(kSoftBiased - kSoftBias - 100000, 0);
  EXPECT_LT(kSoftBiasable - 1 - kSoftBias, kSoftBiased);
  EXPECT_GE(kSoftBiased - kSoftBias, INT32_MIN + 100000);
}

}  // namespace
}  // namespace trapsan
