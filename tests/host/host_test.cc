// The host-behaviour suite (issue 10): each program of tests/host is run
// without trapsan and with it (mode=ci), and must print the same stdout and
// exit with the same status, within the same time limit (scaled by
// TimeScale()). Built with trapsan linked in (runtime only; the programs'
// manual checks through weak references run then), when the compiler plugin
// is built through trapsan-cc (every access checked), and some with clang's
// -fsanitize=thread (the __tsan_* entry points).
#include <ostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

struct HostCase {
  const char* name;
  const char* program;  // tests/host/<program>.c
  std::vector<std::string> args;
  int limit_ms;  // for either run, scaled by TimeScale()
  bool tsan;     // also built with -fsanitize=thread (host_tsan_programs)
  bool late = false;  // also host_<program>_late: plain, trapsan dlopen()ed
  bool reports = false;  // racy: with trapsan, a report must be printed
};

void PrintTo(const HostCase& c, std::ostream* os) { *os << c.name; }

std::string CaseName(const testing::TestParamInfo<HostCase>& info) {
  return info.param.name;
}

const std::vector<HostCase>& Cases() {
  static const std::vector<HostCase> cases = {
      {"spawn_storm", "spawn_storm", {"50"}, 120000, false},
      {"thread_churn_10k", "thread_churn_10k", {"10000"}, 120000, false},
      {"closefrom_start", "closefrom_start", {}, 30000, false},
      {"low_nofile", "low_nofile", {"16"}, 30000, false},
      {"timer_storm", "timer_storm", {"200"}, 60000, false},
      // Issue 10, defect 3: 100 threads cancelled in checked loops. Before
      // the fix, asynchronous cancellation ended in std::terminate, and
      // deferred cancellation inside a window left its slot busy (no window
      // opened again: "windows STUCK").
      {"cancel_async", "cancel_storm", {"async", "100"}, 120000, true},
      {"cancel_deferred", "cancel_storm", {"deferred", "100"}, 120000, true},
      // The program's SIGTRAP handlers (before and after trapsan's start),
      // int3 and raise, from threads while sampling; ends killed by SIGTRAP.
      {"sigtrap_user", "sigtrap_user", {}, 60000, true},
      // 30 dlopen/dlclose rounds of a library built with the plugin, 4
      // threads running its code until each dlclose.
      {"dlopen_storm", "dlopen_storm", {"30"}, 60000, false, true},
      // Racy: the first report's callback forks, reaps every child with a
      // wait-for-any loop and exit()s with status 3, which stands (defects
      // 2 and 4); stdout's buffer is flushed.
      {"report_exit", "report_exit", {"20"}, 60000, false, false, true},
  };
  return cases;
}

class HostTest : public testing::TestWithParam<HostCase> {
 protected:
  void Compare(const std::string& variant,
               std::vector<std::pair<std::string, std::string>> env = {}) {
    const HostCase& c = GetParam();
    RunOptions plain;
    plain.trapsan_options = std::nullopt;
    plain.timeout_ms = c.limit_ms;
    RunResult without = RunProgram(std::string("host_") + c.program + "_plain",
                                   c.args, plain);
    // (Killed by a signal is an outcome too: sigtrap_user ends by SIGTRAP.)
    ASSERT_TRUE(without.exited || without.signaled) << without.Describe();
    ASSERT_FALSE(without.out.empty()) << without.Describe();

    RunOptions ci;
    ci.trapsan_options = "mode=ci";
    ci.extra_env = env;
    ci.timeout_ms = c.limit_ms;
    RunResult with = RunProgram(std::string("host_") + c.program + variant,
                                c.args, ci);
    ASSERT_FALSE(with.timed_out) << with.Describe();
    ASSERT_EQ(with.exited, without.exited) << with.Describe();
    EXPECT_EQ(with.exit_code, without.exit_code) << with.Describe();
    EXPECT_EQ(with.signal, without.signal) << with.Describe();
    EXPECT_EQ(with.out, without.out) << "without trapsan:\n"
                                     << without.Describe() << "\nwith:\n"
                                     << with.Describe();
    EXPECT_LT(with.seconds, c.limit_ms / 1000.0 * TimeScale()) << with.Describe();
    // No report (the programs are race-free but one, which must report)
    // and no foreign line.
    EXPECT_EQ(Contains(with.err, "WARNING: trapsan: data race"), c.reports)
        << with.Describe();
    if (!c.reports) {
      EXPECT_FALSE(Contains(with.err, "WARNING: trapsan:")) << with.Describe();
    }
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

// The plugin builds are lazily bound PIEs (clang's default here); the same
// with every symbol bound at start-up.
TEST_P(HostTest, SameOutputBuiltWithThePluginBindNow) {
#if TRAPSAN_HOST_PLUGIN
  Compare("_plugin", {{"LD_BIND_NOW", "1"}});
#else
  GTEST_SKIP() << "no compiler plugin in this build";
#endif
}

TEST_P(HostTest, SameOutputWithTrapsanLoadedByDlopen) {
  if (!GetParam().late) GTEST_SKIP() << "no _late build";
  Compare("_late");
}

TEST_P(HostTest, SameOutputBuiltWithTsan) {
#if TRAPSAN_HOST_TSAN
  if (!GetParam().tsan) GTEST_SKIP() << "not built with -fsanitize=thread";
  Compare("_tsan");
#else
  GTEST_SKIP() << "no clang for -fsanitize=thread";
#endif
}

INSTANTIATE_TEST_SUITE_P(Programs, HostTest, testing::ValuesIn(Cases()), CaseName);

}  // namespace
}  // namespace trapsan_test
