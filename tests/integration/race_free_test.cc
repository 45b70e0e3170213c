// Race-free programs: thousands of windows, not one report, exit 0. Each
// asserts (from trapsan_get_stats, printed by the program) that the windows
// really opened, so a trapsan that does nothing cannot pass.
#include <ostream>
#include <string>

#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

struct RaceFreeCase {
  const char* program;
  long long min_windows;
};

// Names the case in test output (instead of its bytes).
void PrintTo(const RaceFreeCase& c, std::ostream* os) { *os << c.program; }

class RaceFreeTest : public ::testing::TestWithParam<RaceFreeCase> {};

TEST_P(RaceFreeTest, NoReportOverThousandsOfWindows) {
  const RaceFreeCase& c = GetParam();
  RunOptions o;
  o.trapsan_options = kManyShortWindows;
  RunResult r = RunProgram(c.program, {}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "WARNING: trapsan")) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "trapsan: reported")) << r.Describe();
  EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();
  EXPECT_EQ(r.Value("VALUE_OK"), "1") << r.Describe();
  EXPECT_GE(r.Int("STAT_windows"), c.min_windows) << r.Describe();
  EXPECT_EQ(r.Int("STAT_races_found"), 0) << r.Describe();
  EXPECT_EQ(r.Int("STAT_traps"), 0) << r.Describe();
  EXPECT_EQ(r.Int("STAT_skipped_budget"), 0) << r.Describe();
  EXPECT_NE(r.Int("STAT_backend"), 0) << "backend off\n" << r.Describe();
}

INSTANTIATE_TEST_SUITE_P(
    Programs, RaceFreeTest,
    ::testing::Values(
        // 2 threads x 1500 iterations x 2 checks, serialized by the mutex.
        RaceFreeCase{"mutex_counter", 5000},
        // 2000 rounds x 2 checks, one side at a time.
        RaceFreeCase{"atomic_handoff", 3500},
        // 300 rounds x 4 checks, a new thread each round.
        RaceFreeCase{"join_then_access", 1100}),
    [](const ::testing::TestParamInfo<RaceFreeCase>& info) {
      return std::string(info.param.program);
    });

// The same under the hardware backend only: with real watchpoints armed on
// every window, correctly synchronized accesses take no trap at all.
class RaceFreeHardwareTest : public HardwareTest {};

TEST_F(RaceFreeHardwareTest, MutexCounterTakesNoTrap) {
  RunOptions o;
  o.trapsan_options = std::string(kManyShortWindows) + ":backend=hw";
  RunResult r = RunProgram("mutex_counter", {}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "WARNING: trapsan")) << r.Describe();
  EXPECT_EQ(r.Int("STAT_backend"), 2) << r.Describe();
  EXPECT_GE(r.Int("STAT_hw_slots"), 1) << r.Describe();
  EXPECT_GE(r.Int("STAT_windows"), 5000) << r.Describe();
  EXPECT_EQ(r.Int("STAT_traps"), 0) << r.Describe();
}

}  // namespace
}  // namespace trapsan_test
