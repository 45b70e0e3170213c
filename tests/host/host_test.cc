// The host-behaviour suite (issue 10): each program of tests/host is run
// without trapsan and with it (mode=ci), and must print the same stdout and
// exit with the same status, within the same time limit (scaled by
// TimeScale()). Built with trapsan linked in (runtime only) and, when the
// compiler plugin is built, through trapsan-cc (every access checked).
#include <ostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

struct HostCase {
  const char* name;
  std::vector<std::string> args;
  int limit_ms;  // for either run, scaled by TimeScale()
};

void PrintTo(const HostCase& c, std::ostream* os) { *os << c.name; }

std::string CaseName(const testing::TestParamInfo<HostCase>& info) {
  return info.param.name;
}

const std::vector<HostCase>& Cases() {
  static const std::vector<HostCase> cases = {
      {"spawn_storm", {"50"}, 120000},
      {"thread_churn_10k", {"10000"}, 120000},
      {"closefrom_start", {}, 30000},
      {"low_nofile", {"16"}, 30000},
      {"timer_storm", {"200"}, 60000},
  };
  return cases;
}

class HostTest : public testing::TestWithParam<HostCase> {
 protected:
  void Compare(const std::string& variant) {
    const HostCase& c = GetParam();
    RunOptions plain;
    plain.trapsan_options = std::nullopt;
    plain.timeout_ms = c.limit_ms;
    RunResult without = RunProgram(std::string("host_") + c.name + "_plain",
                                   c.args, plain);
    ASSERT_TRUE(without.exited) << without.Describe();
    ASSERT_FALSE(without.out.empty()) << without.Describe();

    RunOptions ci;
    ci.trapsan_options = "mode=ci";
    ci.timeout_ms = c.limit_ms;
    RunResult with = RunProgram(std::string("host_") + c.name + variant,
                                c.args, ci);
    ASSERT_FALSE(with.timed_out) << with.Describe();
    ASSERT_TRUE(with.exited) << with.Describe();
    EXPECT_EQ(with.exit_code, without.exit_code) << with.Describe();
    EXPECT_EQ(with.out, without.out) << "without trapsan:\n"
                                     << without.Describe() << "\nwith:\n"
                                     << with.Describe();
    EXPECT_LT(with.seconds, c.limit_ms / 1000.0 * TimeScale()) << with.Describe();
    // No report (the programs are race-free) and no foreign line.
    EXPECT_FALSE(Contains(with.err, "WARNING: trapsan:")) << with.Describe();
    EXPECT_FALSE(Contains(with.err, "RAW:")) << with.Describe();
    EXPECT_FALSE(Contains(with.err, "ERROR")) << with.Describe();
  }
};

TEST_P(HostTest, SameOutputWithTrapsanLinked) { Compare(""); }

TEST_P(HostTest, SameOutputBuiltWithThePlugin) {
#if TRAPSAN_HOST_PLUGIN
  Compare("_plugin");
#else
  GTEST_SKIP() << "no compiler plugin in this build";
#endif
}

INSTANTIATE_TEST_SUITE_P(Programs, HostTest, testing::ValuesIn(Cases()), CaseName);

}  // namespace
}  // namespace trapsan_test
