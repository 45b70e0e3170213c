// The overhead budget (runtime/core/budget.h): window time must stay under
// max_overhead percent of the process's CPU time, with a young process
// counted as having run for Budget::kMinCpuNs.
#include "runtime/core/budget.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace trapsan {
namespace {

constexpr uint64_t kMs = 1000000;
constexpr uint64_t kSec = 1000000000;

TEST(BudgetTest, ZeroPercentMeansUnlimited) {
  EXPECT_TRUE(Budget::Fits(0, 0, 0));
  EXPECT_TRUE(Budget::Fits(1000 * kSec, 1 * kMs, 0));
  EXPECT_TRUE(Budget::Fits(std::numeric_limits<uint64_t>::max(), 0, 0));
}

TEST(BudgetTest, NegativePercentIsTreatedAsUnlimited) {
  EXPECT_TRUE(Budget::Fits(1000 * kSec, kSec, -1));
}

TEST(BudgetTest, YoungProcessCountsAsOneSecondOfCpu) {
  ASSERT_EQ(Budget::kMinCpuNs, kSec);
  // 1% of the 1 s floor is 10 ms, whatever the real CPU time below it.
  EXPECT_TRUE(Budget::Fits(9 * kMs, 0, 1.0));
  EXPECT_TRUE(Budget::Fits(9 * kMs, 1 * kMs, 1.0));
  EXPECT_TRUE(Budget::Fits(9 * kMs, 999 * kMs, 1.0));
  EXPECT_FALSE(Budget::Fits(11 * kMs, 0, 1.0));
  EXPECT_FALSE(Budget::Fits(11 * kMs, 500 * kMs, 1.0));
}

TEST(BudgetTest, YoungProcessInProductionCountsAsOneTenthOfASecond) {
  // The production floor: 1% of 100 ms is 1 ms (a 50 ms program may not
  // spend 10 ms, 20%, in windows).
  constexpr uint64_t kFloor = Budget::kProductionMinCpuNs;
  ASSERT_EQ(kFloor, 100 * kMs);
  EXPECT_TRUE(Budget::Fits(kMs - 1, 0, 1.0, kFloor));
  EXPECT_TRUE(Budget::Fits(kMs - 1, 50 * kMs, 1.0, kFloor));
  EXPECT_FALSE(Budget::Fits(kMs + 1, 50 * kMs, 1.0, kFloor));
  EXPECT_FALSE(Budget::Fits(9 * kMs, 500 * kMs, 1.0, kFloor));
  EXPECT_TRUE(Budget::Fits(9 * kMs, 1000 * kMs, 1.0, kFloor));
}

TEST(BudgetTest, LimitIsStrict) {
  // Exactly at the limit no longer fits.
  EXPECT_FALSE(Budget::Fits(10 * kMs, kSec, 1.0));
  EXPECT_TRUE(Budget::Fits(10 * kMs - 1, kSec, 1.0));
  EXPECT_FALSE(Budget::Fits(kSec, kSec, 100.0));
  EXPECT_TRUE(Budget::Fits(kSec - 1, kSec, 100.0));
}

TEST(BudgetTest, ScalesWithCpuTime) {
  // 1% of 10 s of CPU is 100 ms.
  EXPECT_TRUE(Budget::Fits(99 * kMs, 10 * kSec, 1.0));
  EXPECT_FALSE(Budget::Fits(101 * kMs, 10 * kSec, 1.0));
  // 50% (mode=ci) of 4 s is 2 s.
  EXPECT_TRUE(Budget::Fits(1999 * kMs, 4 * kSec, 50.0));
  EXPECT_FALSE(Budget::Fits(2001 * kMs, 4 * kSec, 50.0));
  // Fractions of a percent.
  EXPECT_TRUE(Budget::Fits(999 * 1000, kSec, 0.1));
  EXPECT_FALSE(Budget::Fits(1001 * 1000, kSec, 0.1));
}

TEST(BudgetTest, HugeValuesDoNotOverflow) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  EXPECT_FALSE(Budget::Fits(max, max, 100.0));
  EXPECT_TRUE(Budget::Fits(max / 4, max, 50.0));
  EXPECT_FALSE(Budget::Fits(max, max / 2, 1.0));
  EXPECT_TRUE(Budget::Fits(1, max, 0.001));
}

TEST(BudgetTest, ReservationsFollowSettledTime) {
  Budget budget;
  budget.Configure(1.0, 1 * kMs);
  uint64_t reserved = 0;
  ASSERT_TRUE(budget.TryReserve(&reserved));
  EXPECT_EQ(reserved, 1 * kMs);
  // This test process has used far less than 1000 s of CPU: 1000 s of
  // windows cannot fit 1% of it.
  budget.Settle(reserved, 1000 * kSec);
  EXPECT_FALSE(budget.TryReserve(&reserved));
  budget.Reset();
  // The estimate learned from that window is huge, but a reservation never
  // exceeds a quarter of the allowance (here 10 ms: 1% of the 1 s floor).
  EXPECT_TRUE(budget.TryReserve(&reserved));
  EXPECT_LE(reserved, 10 * kMs / 4);
}

TEST(BudgetTest, UnlimitedReservesNothing) {
  Budget budget;
  budget.Configure(0, 1 * kMs);
  uint64_t reserved = 1;
  ASSERT_TRUE(budget.TryReserve(&reserved));
  EXPECT_EQ(reserved, 0u);
  budget.Settle(reserved, 1000 * kSec);
  EXPECT_TRUE(budget.TryReserve(&reserved));
}

// Concurrent admissions see each other: with 10 ms allowed (1% of the 1 s
// floor) and 3 ms expected per window, only three windows can be open at
// once, before any of them has ended.
TEST(BudgetTest, OpenReservationsCountBeforeTheyAreSettled) {
  Budget budget;
  budget.Configure(1.0, 3 * kMs);
  uint64_t r1, r2, r3, r4;
  EXPECT_TRUE(budget.TryReserve(&r1));
  EXPECT_TRUE(budget.TryReserve(&r2));
  EXPECT_TRUE(budget.TryReserve(&r3));
  EXPECT_FALSE(budget.TryReserve(&r4));
  // A window that found nothing to watch gives its reservation back.
  budget.Settle(r1, 0);
  EXPECT_TRUE(budget.TryReserve(&r4));
}

// The expected cost follows measured windows: after slow windows, a
// reservation is bigger, so fewer windows fit.
TEST(BudgetTest, EstimateLearnsFromSettledWindows) {
  Budget budget;
  budget.Configure(1.0, 1 * kMs);
  uint64_t reserved = 0;
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(budget.TryReserve(&reserved));
    budget.Settle(reserved, 0);  // Nothing ran: the estimate stays.
  }
  EXPECT_EQ(reserved, 1 * kMs);
  budget.Reset();
  ASSERT_TRUE(budget.TryReserve(&reserved));
  budget.Settle(reserved, 9 * kMs);  // 9 ms spent; the mean moves up.
  budget.Reset();
  ASSERT_TRUE(budget.TryReserve(&reserved));
  EXPECT_EQ(reserved, 1 * kMs - 1 * kMs / 8 + 9 * kMs / 8);
}

// Start-up work is not the program's sampling (issue 10, defect 7): the
// runtime configures the budget once its self-tests are done, and whatever
// was charged before is forgotten.
TEST(BudgetTest, ConfigureStartsWithNothingCharged) {
  Budget budget;
  budget.Configure(50.0, 1 * kMs);
  budget.Charge(1 * kSec);  // Half a second of CPU time: the whole allowance.
  EXPECT_FALSE(budget.WouldFit());
  uint64_t reserved = 0;
  EXPECT_FALSE(budget.TryReserve(&reserved));
  budget.Configure(50.0, 1 * kMs);
  EXPECT_TRUE(budget.WouldFit());
  EXPECT_TRUE(budget.TryReserve(&reserved));
}

// WouldFit() (label sites ask it before arming) caps the estimate as
// TryReserve() does: one very slow window (a first report's set-up) left a
// mean bigger than the whole allowance, and every label was refused from
// then on, since only windows that run move the mean.
TEST(BudgetTest, OneSlowWindowDoesNotShutLabelsOut) {
  Budget budget;
  budget.Configure(1.0, 1 * kMs);  // 10 ms allowed in the first second.
  uint64_t reserved = 0;
  ASSERT_TRUE(budget.TryReserve(&reserved));
  budget.Settle(reserved, 800 * kMs);  // The mean is now over 100 ms.
  budget.Reset();                      // Charges gone, the mean kept.
  EXPECT_TRUE(budget.WouldFit());
  ASSERT_TRUE(budget.TryReserve(&reserved));
  EXPECT_LE(reserved, 10 * kMs / 4);
}

}  // namespace
}  // namespace trapsan
