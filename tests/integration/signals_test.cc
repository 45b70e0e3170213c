// SIGTRAPs that are not trapsan's behave as without trapsan: a user handler
// installed later gets them (and only them), the default action kills,
// SIG_IGN ignores, SA_RESETHAND resets.
#include <signal.h>

#include <string>

#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

class SignalsHardwareTest : public HardwareTest {};

TEST_F(SignalsHardwareTest, UserHandlerInstalledAfterInitIsChained) {
  RunOptions o;
  o.trapsan_options = kAggressive;
  RunResult r = RunUntil("sigtrap_user", {}, o,
                         [](const RunResult& r) { return r.Int("RACE_REPORTS") > 0; });
  ASSERT_TRUE(r.exited) << r.Describe();
  // The program sees its own dispositions, not trapsan's handler.
  EXPECT_EQ(r.Value("OLD_WAS_DFL"), "1") << r.Describe();
  EXPECT_EQ(r.Value("CURRENT_IS_USER"), "1") << r.Describe();
  // raise() and int3 reach the user's handler with their si_code.
  EXPECT_EQ(r.Int("RAISE_CALLS"), 1) << r.Describe();
  EXPECT_EQ(r.Value("RAISE_SI_CODE_IS_TKILL"), "1") << r.Describe();
  EXPECT_EQ(r.Int("INT3_CALLS"), 2) << r.Describe();
  EXPECT_EQ(r.Value("INT3_SI_CODE_IS_KERNEL"), "1") << r.Describe();
  // Races are still detected, and trapsan's traps never reach the user.
  EXPECT_EQ(r.exit_code, 66) << r.Describe();
  EXPECT_TRUE(Contains(r.err, "WARNING: trapsan: data race in racy_reader / racy_writer"))
      << r.Describe();
  EXPECT_GE(r.Int("STAT_traps"), 1) << r.Describe();
  EXPECT_EQ(r.Int("CALLS_AFTER_RACE"), 2) << r.Describe();
  EXPECT_EQ(r.Int("STAT_traps_foreign"), 2) << r.Describe();
}

RunOptions SomeWindows() {
  RunOptions o;
  o.trapsan_options = "sample_rate=1:delay_us=10:max_overhead=0";
  return o;
}

void ExpectKilledBySigtrap(const RunResult& r) {
  EXPECT_TRUE(r.signaled) << r.Describe();
  EXPECT_EQ(r.signal, SIGTRAP) << r.Describe();
  EXPECT_EQ(r.Value("BEFORE_RAISE"), "1") << r.Describe();
  EXPECT_EQ(r.Value("AFTER_RAISE"), "") << r.Describe();
  EXPECT_GE(r.Int("WINDOWS"), 1) << "trapsan was not active\n" << r.Describe();
}

TEST(SignalsTest, RaiseWithDefaultActionKillsBySigtrap) {
  ExpectKilledBySigtrap(RunProgram("sigtrap_default", {"raise"}, SomeWindows()));
}

TEST(SignalsTest, Int3WithDefaultActionKillsBySigtrap) {
  ExpectKilledBySigtrap(RunProgram("sigtrap_default", {"int3"}, SomeWindows()));
}

TEST(SignalsTest, IgnoredSigtrapIsIgnored) {
  RunResult r = RunProgram("sigtrap_default", {"ignore"}, SomeWindows());
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.Value("AFTER_RAISE"), "1") << r.Describe();
  EXPECT_GE(r.Int("WINDOWS"), 1) << r.Describe();
}

// The kernel does not let a program ignore the SIGTRAP of an int3 it
// executes: it forces the default action. The same must happen with trapsan.
TEST(SignalsTest, Int3KillsEvenWhenSigtrapIsIgnored) {
  ExpectKilledBySigtrap(RunProgram("sigtrap_default", {"int3_ignored"}, SomeWindows()));
}

TEST(SignalsTest, ResetHandHandlerRunsOnceThenDefaultKills) {
  RunResult r = RunProgram("sigtrap_default", {"resethand"}, SomeWindows());
  EXPECT_EQ(r.Int("HANDLER_CALLS"), 1) << r.Describe();
  ExpectKilledBySigtrap(r);
}

}  // namespace
}  // namespace trapsan_test
