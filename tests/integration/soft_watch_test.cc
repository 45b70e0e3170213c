// Soft watchpoints (runtime/core/soft_watch.h), on every machine: with
// backend=soft forced there is no watchpoint, and while a window is open the
// other threads' checked accesses (trapsan_check_read/write) check it
// themselves. A race between two checked sides is reported with both stacks;
// race-free programs stay silent over thousands of windows and checks.
#include <ostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

constexpr char kRaceSource[] = "programs/race_kernel.c";
constexpr char kRaceTitle[] = "data race in racy_reader / racy_writer";

// One check in ~1000 sampled, long windows, no budget: the other side's
// checks are nearly all unsampled, only their soft check can name them.
constexpr char kSoftOneSideSampled[] =
    "backend=soft:sample_rate=1000:delay_us=5000:max_overhead=0";

bool ReportedWithBothStacks(const RunResult& r) {
  return r.exited && r.exit_code == 66 && Contains(r.err, kRaceTitle);
}

std::string RaceBlock(const RunResult& r) {
  for (const std::string& b : ReportBlocks(r.err)) {
    if (Contains(b, kRaceTitle)) return b;
  }
  return "";
}

// The access section of thread `tid`: its line, then its top frame.
std::string SideRegex(const std::string& tid, const std::string& function,
                      int line) {
  return "\\n  (Write|Read|Concurrent write|Concurrent read)( of size 4)? at "
         "0x[0-9a-f]+ by thread T[0-9]+ \\(tid=" +
         tid + "\\)( \\(trap arrived after the window closed\\))?:\\n    #0 " +
         function + " \\S*race_kernel\\.c:" +
         std::to_string(line) + "[ \\n]";
}

// `by_soft_check`: the report must have come from the soft-window check (one
// side nearly never sampled). With every check sampled, the same two-sided
// report can also come from a sampled check meeting the open window (seen in
// a fresh-clone run: soft_conflicts 0), so it is not required there.
void ExpectBothStacks(const RunResult& r, bool by_soft_check) {
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 66) << r.Describe();
  EXPECT_EQ(r.Value("BACKEND"), "soft") << r.Describe();
  EXPECT_EQ(r.Int("STAT_traps"), 0) << r.Describe();
  if (by_soft_check) {
    EXPECT_GE(r.Int("STAT_soft_conflicts"), 1) << r.Describe();
  }
  EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();
  const std::string report = RaceBlock(r);
  ASSERT_FALSE(report.empty()) << r.Describe();
  const std::string writer_tid = r.Value("WRITER_TID");
  const std::string reader_tid = r.Value("READER_TID");
  ASSERT_FALSE(writer_tid.empty()) << r.Describe();
  ASSERT_FALSE(reader_tid.empty()) << r.Describe();
  EXPECT_TRUE(MatchesRegex(
      report, SideRegex(writer_tid, "racy_writer",
                        LineOf(kRaceSource, "RACE_WRITE_CHECKED"))))
      << report;
  EXPECT_TRUE(MatchesRegex(
      report, SideRegex(reader_tid, "racy_reader",
                        LineOf(kRaceSource, "RACE_READ_CHECKED"))))
      << report;
  EXPECT_TRUE(MatchesRegex(report,
                           "\\n  Location is global 'g_counter' of size 4"))
      << report;
  // One report per pair of functions, however often the race was seen.
  EXPECT_EQ(CountOccurrences(r.err, kRaceTitle), 1) << r.Describe();
}

TEST(SoftWatchTest, ManualApiRaceReportedWithBothStacks) {
  RunOptions o;
  o.trapsan_options = kSoftOneSideSampled;
  RunResult r = RunUntil("racy_counter", {"both"}, o, ReportedWithBothStacks);
  ExpectBothStacks(r, /*by_soft_check=*/true);
}

TEST(SoftWatchTest, ManualApiRaceReportedWithBothStacksEveryCheckSampled) {
  RunOptions o;
  o.trapsan_options = std::string(kAggressive) + ":backend=soft";
  RunResult r = RunUntil("racy_counter", {"both"}, o, ReportedWithBothStacks);
  ExpectBothStacks(r, /*by_soft_check=*/false);
}

struct RaceFreeCase {
  const char* program;
  long long min_windows;
};

void PrintTo(const RaceFreeCase& c, std::ostream* os) { *os << c.program; }

class SoftWatchRaceFreeTest : public ::testing::TestWithParam<RaceFreeCase> {
};

// Every check samples (short windows), none conflicts. (These programs
// serialize their checks, so few meet another thread's open window; the
// tsan_abi soft tests run race-free programs whose checks do.)
TEST_P(SoftWatchRaceFreeTest, NoReportOverThousandsOfWindows) {
  const RaceFreeCase& c = GetParam();
  RunOptions o;
  o.trapsan_options = std::string(kManyShortWindows) + ":backend=soft";
  RunResult r = RunProgram(c.program, {}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "WARNING: trapsan")) << r.Describe();
  EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();
  EXPECT_EQ(r.Value("VALUE_OK"), "1") << r.Describe();
  EXPECT_EQ(r.Int("STAT_backend"), 1) << r.Describe();
  EXPECT_GE(r.Int("STAT_windows"), c.min_windows) << r.Describe();
  EXPECT_EQ(r.Int("STAT_soft_conflicts"), 0) << r.Describe();
  EXPECT_EQ(r.Int("STAT_races_found"), 0) << r.Describe();
}

INSTANTIATE_TEST_SUITE_P(
    Programs, SoftWatchRaceFreeTest,
    ::testing::Values(RaceFreeCase{"mutex_counter", 5000},
                      RaceFreeCase{"atomic_handoff", 3500},
                      RaceFreeCase{"join_then_access", 1100}),
    [](const ::testing::TestParamInfo<RaceFreeCase>& info) {
      return std::string(info.param.program);
    });

}  // namespace
}  // namespace trapsan_test
