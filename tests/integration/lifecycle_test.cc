// Process and thread life cycle: fork, exec, threads that existed before
// trapsan started, thread churn, threads blocked in system calls.
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

constexpr char kRaceTitle[] = "data race in racy_reader / racy_writer";

RunOptions Aggressive() {
  RunOptions o;
  o.trapsan_options = kAggressive;
  return o;
}

class LifecycleTest : public HardwareTest {};

// The pids named in "WARNING: trapsan: ... (pid=N)" lines.
std::multiset<std::string> ReportPids(const std::string& err) {
  std::multiset<std::string> pids;
  for (const std::string& line : LinesContaining(err, "WARNING: trapsan:")) {
    size_t at = line.rfind("(pid=");
    if (at != std::string::npos) {
      pids.insert(line.substr(at + 5, line.find(')', at) - at - 5));
    }
  }
  return pids;
}

TEST_F(LifecycleTest, ForkChildDetectsAndReportsItsOwnRace) {
  RunResult r = RunUntil("fork_race", {}, Aggressive(), [](const RunResult& r) {
    return r.Int("CHILD_EXIT_CODE") == 66;
  });
  ASSERT_TRUE(r.exited) << r.Describe();
  // The parent found no race: its own status is its own.
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.Value("PARENT_DONE"), "1") << r.Describe();
  EXPECT_EQ(r.Int("PARENT_RACES_FOUND"), 0) << r.Describe();
  EXPECT_GE(r.Int("PARENT_WINDOWS"), 20) << r.Describe();
  // The child reported with its own pid and exited 66.
  const std::string child = r.Value("CHILD_PID");
  ASSERT_FALSE(child.empty()) << r.Describe();
  EXPECT_NE(child, std::to_string(r.pid));
  EXPECT_EQ(r.Int("CHILD_EXITED"), 1) << r.Describe();
  EXPECT_EQ(r.Int("CHILD_EXIT_CODE"), 66) << r.Describe();
  EXPECT_TRUE(Contains(r.err, std::string("WARNING: trapsan: ") + kRaceTitle +
                                  " (pid=" + child + ")"))
      << r.Describe();
  for (const std::string& pid : ReportPids(r.err)) {
    EXPECT_EQ(pid, child) << "a report from another process\n" << r.Describe();
  }
  // Caught by the child's own watchpoints (the child re-opened them).
  EXPECT_GE(r.Int("STAT_traps"), 1) << r.Describe();
  EXPECT_GE(r.Int("STAT_hw_slots"), 1) << r.Describe();
  EXPECT_EQ(CountOccurrences(r.err, "trapsan: reported "), 1) << r.Describe();
}

// Fork children often end with _exit(): that is an exit too, and the
// races the child found must still set its exit status.
TEST_F(LifecycleTest, ForkChildEndingWithUnderscoreExitStillExits66) {
  RunResult r = RunUntil("fork_race", {"3000", "_exit"}, Aggressive(), [](const RunResult& r) {
    return r.Int("RACE_REPORTS") > 0;
  });
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  ASSERT_GT(r.Int("RACE_REPORTS"), 0) << r.Describe();
  EXPECT_TRUE(Contains(r.err, std::string("WARNING: trapsan: ") + kRaceTitle)) << r.Describe();
  EXPECT_EQ(r.Int("CHILD_EXIT_CODE"), 66) << r.Describe();
  EXPECT_EQ(CountOccurrences(r.err, "trapsan: reported "), 1) << r.Describe();
}

// With log_path, a fork child reports to <prefix>.<child pid>, the parent's
// file gets nothing of it.
TEST_F(LifecycleTest, ForkChildLogsToItsOwnFile) {
  char dir_template[] = "/tmp/trapsan-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string prefix = std::string(dir_template) + "/log";
  RunOptions o = Aggressive();
  *o.trapsan_options += ":log_path=" + prefix;
  RunResult r = RunUntil("fork_race", {}, o, [](const RunResult& r) {
    return r.Int("CHILD_EXIT_CODE") == 66;
  });
  auto read = [](const std::string& path) {
    std::string text;
    if (FILE* f = fopen(path.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
      fclose(f);
    }
    return text;
  };
  const std::string child = r.Value("CHILD_PID");
  const std::string child_log = read(prefix + "." + child);
  const std::string parent_log = read(prefix + "." + std::to_string(r.pid));
  EXPECT_EQ(system((std::string("rm -rf '") + dir_template + "'").c_str()), 0);
  ASSERT_EQ(r.Int("CHILD_EXIT_CODE"), 66) << r.Describe();
  EXPECT_TRUE(Contains(child_log, std::string("WARNING: trapsan: ") + kRaceTitle +
                                      " (pid=" + child + ")"))
      << "child log:\n" << child_log << r.Describe();
  EXPECT_TRUE(Contains(child_log, "trapsan: reported ")) << child_log;
  EXPECT_FALSE(Contains(parent_log, "WARNING: trapsan:")) << "parent log:\n" << parent_log;
  EXPECT_FALSE(Contains(r.err, "WARNING: trapsan:")) << r.Describe();
}

TEST_F(LifecycleTest, ExecImageReinitializesAndReportsItsRace) {
  RunResult r = RunUntil("exec_race", {}, Aggressive(), [](const RunResult& r) {
    return r.exited && r.exit_code == 66;
  });
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 66) << r.Describe();
  const std::string pid = std::to_string(r.pid);
  EXPECT_EQ(r.Value("PRE_EXEC_PID"), pid) << r.Describe();
  EXPECT_EQ(r.Value("POST_EXEC_PID"), pid) << r.Describe();
  EXPECT_GE(r.Int("PRE_EXEC_WINDOWS"), 20) << r.Describe();
  EXPECT_EQ(r.Value("POST_EXEC_BACKEND"), "hw") << r.Describe();
  EXPECT_TRUE(Contains(r.err, std::string("WARNING: trapsan: ") + kRaceTitle +
                                  " (pid=" + pid + ")"))
      << r.Describe();
  EXPECT_GE(r.Int("STAT_traps"), 1) << r.Describe();
  EXPECT_FALSE(r.signaled) << r.Describe();
}

TEST_F(LifecycleTest, ThreadsThatExistedBeforeDlopenAreAdopted) {
  RunResult r = RunUntil("preexisting_threads", {}, Aggressive(),
                         [](const RunResult& r) { return r.exited && r.exit_code == 66; });
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 66) << r.Describe();
  EXPECT_EQ(r.Value("BACKEND"), "hw") << r.Describe();
  std::vector<std::string> blocks = ReportBlocks(r.err);
  ASSERT_FALSE(blocks.empty()) << r.Describe();
  const std::string& report = blocks[0];
  EXPECT_TRUE(Contains(report, "WARNING: trapsan: data race in pre_reader / pre_writer (pid=" +
                                   std::to_string(r.pid) + ")"))
      << report;
  const int read_line = LineOf("programs/preexisting_threads.c", "PRE_READ");
  const int write_line = LineOf("programs/preexisting_threads.c", "PRE_WRITE");
  EXPECT_TRUE(MatchesRegex(report, "\\n    #0 pre_reader \\S*preexisting_threads\\.c:" +
                                       std::to_string(read_line) + " "))
      << report;
  EXPECT_TRUE(MatchesRegex(report, "\\n    #0 pre_writer \\S*preexisting_threads\\.c:" +
                                       std::to_string(write_line) + " "))
      << report;
  // Both threads are known to trapsan, as started before it.
  EXPECT_EQ(CountOccurrences(report, "existed before trapsan started"), 2) << report;
  // The plain reader was caught by its own (adopted) watchpoint.
  EXPECT_EQ(r.Value("CALLBACK_RACER_TID"), r.Value("READER_TID")) << r.Describe();
  EXPECT_EQ(r.Value("CALLBACK_WATCHER_TID"), r.Value("WRITER_TID")) << r.Describe();
  EXPECT_GE(r.Int("STAT_traps"), 1) << r.Describe();
  EXPECT_EQ(r.Int("STAT_threads_created"), 0) << r.Describe();
  // The SIGTRAP handler the program had before trapsan came is chained:
  // reached by raise(), never by trapsan's own traps.
  EXPECT_EQ(r.Int("PRE_INIT_HANDLER_CALLS"), 1) << r.Describe();
}

// Short-lived threads keep being created while a watchpoint is armed almost
// all the time; every write made while a window was provably armed (test
// hook) must have trapped on its thread. No retries: one lost trap fails.
TEST_F(LifecycleTest, ThreadChurnLosesNoTrap) {
  RunOptions o;
  o.trapsan_options = "sample_rate=1:delay_us=3000:max_overhead=0";
  RunResult r = RunProgram("thread_churn", {"400"}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 66) << r.Describe();
  const long long threads = r.Int("CHURN_THREADS");
  const long long inside = r.Int("PROVEN_INSIDE");
  EXPECT_EQ(threads, 400) << r.Describe();
  EXPECT_EQ(r.Int("LOST"), 0) << r.Describe();
  EXPECT_EQ(r.Int("TRAPPED_INSIDE"), inside) << r.Describe();
  EXPECT_GE(inside, threads / 2) << "too few writes inside a window to prove anything\n"
                                 << r.Describe();
  EXPECT_GE(r.Int("STAT_traps"), inside) << r.Describe();
  EXPECT_EQ(r.Int("STAT_traps_dropped"), 0) << r.Describe();
  EXPECT_GE(r.Int("STAT_races_found"), 1) << r.Describe();
  EXPECT_GE(r.Int("REPORTS"), 1) << r.Describe();
  EXPECT_EQ(r.Value("FIRST_RACER_IS_CHURN"), "1") << r.Describe();
  EXPECT_TRUE(Contains(r.err, "WARNING: trapsan: data race in churn_watcher / churn_writer (pid=" +
                                  std::to_string(r.pid) + ")"))
      << r.Describe();
  const int line = LineOf("programs/thread_churn.c", "CHURN_WRITE");
  EXPECT_TRUE(MatchesRegex(r.err, "\\n    #0 churn_writer \\S*thread_churn\\.c:" +
                                      std::to_string(line) + " "))
      << r.Describe();
}

// Threads blocked in read(), nanosleep() and poll() while others race and
// trap: trapsan signals only the trapping threads, so nothing gets EINTR.
TEST_F(LifecycleTest, BlockedSystemCallsAreNotInterrupted) {
  RunResult r = RunUntil("blocked_syscalls", {}, Aggressive(),
                         [](const RunResult& r) { return r.Int("RACE_REPORTS") > 0; });
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 66) << r.Describe();
  EXPECT_TRUE(Contains(r.err, std::string("WARNING: trapsan: ") + kRaceTitle)) << r.Describe();
  EXPECT_GE(r.Int("STAT_traps"), 1) << r.Describe();
  EXPECT_EQ(r.Int("READ_RESULT"), 8) << r.Describe();
  EXPECT_EQ(r.Int("READ_ERRNO"), 0) << r.Describe();
  EXPECT_EQ(r.Int("NANOSLEEP_RESULT"), 0) << r.Describe();
  EXPECT_EQ(r.Int("NANOSLEEP_ERRNO"), 0) << r.Describe();
  EXPECT_EQ(r.Int("POLL_RESULT"), 1) << r.Describe();
  EXPECT_EQ(r.Int("POLL_ERRNO"), 0) << r.Describe();
}

// The same with short windows, so that threads are often created while a
// re-arm (MODIFY_ATTRIBUTES) or disarm is in flight: the kernel can then
// leave the new thread with the old settings. Without trapsan's serializing
// of pthread_create against re-arming, this test lost 1 to 49 of the 3000
// writes in 3 runs of 5 (the others lost none).
TEST_F(LifecycleTest, ThreadChurnDuringRapidRearmingLosesNoTrap) {
  RunOptions o;
  o.trapsan_options = "sample_rate=1:delay_us=100:max_overhead=0";
  RunResult r = RunProgram("thread_churn", {"3000"}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 66) << r.Describe();
  EXPECT_EQ(r.Int("CHURN_THREADS"), 3000) << r.Describe();
  EXPECT_EQ(r.Int("LOST"), 0) << r.Describe();
  EXPECT_GE(r.Int("PROVEN_INSIDE"), 1500) << r.Describe();
  EXPECT_EQ(r.Int("TRAPPED_INSIDE"), r.Int("PROVEN_INSIDE")) << r.Describe();
  EXPECT_GE(r.Int("STAT_windows"), 500) << r.Describe();
}

// After a report, a program that reaps every child the common way
// (`while (wait(&s) > 0)`) gets ECHILD once its own are reaped: the
// llvm-symbolizer trapsan started for the report is not its child (it was,
// and wait() blocked for ever). Any backend (soft finds this race too).
TEST(LifecycleAnyBackendTest, ReapingEveryChildAfterAReportEnds) {
  RunOptions o;
  o.trapsan_options = "mode=ci";
  RunResult r = RunProgram("wait_children", {}, o);
  ASSERT_TRUE(r.exited) << r.Describe();  // (a hang: its alarm kills it)
  EXPECT_EQ(r.exit_code, 66) << r.Describe();
  EXPECT_GE(r.Int("REPORTS"), 1) << r.Describe();
  EXPECT_EQ(r.Value("REAPED"), "3") << r.Describe();
  EXPECT_EQ(r.Value("STATUS_SUM"), "6") << r.Describe();
  EXPECT_EQ(r.Value("WAIT_ERRNO"), "ECHILD") << r.Describe();
  EXPECT_EQ(r.Value("WAITID_ECHILD"), "1") << r.Describe();
  // The report's stacks came from llvm-symbolizer (file:line).
  EXPECT_TRUE(Contains(
      r.err, "wait_children.c:" +
                 std::to_string(LineOf("programs/wait_children.c",
                                       "WAIT_CHILDREN_RACE"))))
      << r.Describe();
  EXPECT_FALSE(Contains(r.err, "symbolizer stopped answering")) << r.Describe();
}

// A report callback that calls exit(3), the "fail fast" way: the report is
// printed, the program's buffered stdout is not lost, trapsan's summary is
// printed and the process exits with the callback's status, 3, not trapsan's
// exitcode (issue 10, defect 2). (Before: the exit handler waited for the
// lock the reporting thread held while it ran the callback; no report,
// stdout lost or a hang; then: status 66.) Any backend.
TEST(LifecycleAnyBackendTest, ReportCallbackThatExitsEndsThePrintedRun) {
  RunOptions o;
  o.trapsan_options = "mode=ci";
  RunResult r = RunProgram("callback_exit", {}, o);
  ASSERT_TRUE(r.exited) << r.Describe();  // (a hang: its alarm kills it)
  EXPECT_EQ(r.exit_code, 3) << r.Describe();
  EXPECT_EQ(r.Value("BUFFERED"), "1") << r.Describe();
  EXPECT_EQ(r.Value("CALLBACK"), "1") << r.Describe();
  EXPECT_EQ(r.Value("NOT_REACHED"), "") << r.Describe();
  // (The other thread may report too before the exit ends the process.)
  const std::vector<std::string> blocks = ReportBlocks(r.err);
  ASSERT_GE(blocks.size(), 1u) << r.Describe();
  EXPECT_TRUE(Contains(
      blocks[0],
      "callback_exit.c:" + std::to_string(LineOf("programs/callback_exit.c",
                                                 "CALLBACK_EXIT_RACE"))))
      << r.Describe();
  EXPECT_TRUE(MatchesRegex(r.err, "trapsan: reported [1-9][0-9]* data race\\(s\\)"))
      << r.Describe();
}

// The same with _exit(3) from the callback, and with abort_on_error=1: the
// status the callback chose stands (no SIGABRT, no exitcode), after the
// summary.
TEST(LifecycleAnyBackendTest, ReportCallbackExitStatusStands) {
  for (const char* how : {"exit", "_exit"}) {
    for (const char* options : {"mode=ci:exitcode=7", "mode=ci:abort_on_error=1"}) {
      RunOptions o;
      o.trapsan_options = options;
      RunResult r = RunProgram("callback_exit", {how}, o);
      SCOPED_TRACE(std::string(how) + " " + options);
      ASSERT_TRUE(r.exited) << r.Describe();
      EXPECT_EQ(r.exit_code, 3) << r.Describe();
      EXPECT_EQ(r.Value("CALLBACK"), "1") << r.Describe();
      EXPECT_EQ(r.Value("NOT_REACHED"), "") << r.Describe();
      EXPECT_TRUE(MatchesRegex(r.err, "trapsan: reported [1-9][0-9]* data race\\(s\\)"))
          << r.Describe();
    }
  }
}

// trapsan's descriptors under a low RLIMIT_NOFILE (issue 10, defect 5):
// fd_limit sets the limit and re-executes itself, counts the numbers it can
// open, and has a race reported (both sides checked: any backend).
RunResult RunFdLimit(const std::string& soft, const std::string& hard,
                     bool hold_every_fd) {
  RunOptions o;
  o.trapsan_options = kAggressive;
  std::vector<std::string> args = {soft, hard, "5000"};
  if (!hold_every_fd) args.push_back("free");
  return RunProgram("fd_limit", args, o);
}

void ExpectEveryNumberLeftToTheProgram(const RunResult& r) {
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 66) << r.Describe();  // the race was reported
  EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();
  EXPECT_GT(r.Int("EXPECTED"), 0) << r.Describe();
  // Every number it would have without trapsan, at start (perf events, with
  // the hw backend) and after a report (the symbolizer's pipes).
  EXPECT_EQ(r.Int("OPENED_START"), r.Int("EXPECTED")) << r.Describe();
  EXPECT_EQ(r.Int("OPENED_AFTER"), r.Int("EXPECTED")) << r.Describe();
  // No raw line from a library: whatever trapsan says, it says as trapsan.
  EXPECT_FALSE(Contains(r.err, "RAW:")) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "errno=")) << r.Describe();
}

// The hard limit leaves room above the soft one: trapsan's descriptors go
// there, so a report made while the program holds every number below it is
// symbolized as any other. (Before: the symbolizer's pipes could not be made,
// absl printed "[symbolize_elf.inc : 980] RAW: ... errno=24" and the report
// had no function name.)
TEST(DescriptorsTest, ReportWhileTheProgramHoldsEveryDescriptor) {
  RunResult r = RunFdLimit("16", "4096", /*hold_every_fd=*/true);
  EXPECT_TRUE(Contains(r.out, "ERRNO=Too many open files")) << r.Describe();
  ExpectEveryNumberLeftToTheProgram(r);
  EXPECT_TRUE(Contains(r.err, "racy_reader")) << r.Describe();
  EXPECT_TRUE(Contains(r.err, "racy_writer")) << r.Describe();
  EXPECT_TRUE(Contains(r.err, "race_kernel.c:")) << r.Describe();
}

// No room anywhere (soft = hard = 16, as `ulimit -n 16` sets): trapsan keeps
// no descriptor, and a report at EMFILE says why it has no names.
TEST(DescriptorsTest, NoReserveAndEveryDescriptorHeld) {
  RunResult r = RunFdLimit("16", "16", /*hold_every_fd=*/true);
  ExpectEveryNumberLeftToTheProgram(r);
  std::vector<std::string> lines = LinesContaining(r.err, "llvm-symbolizer");
  ASSERT_EQ(lines.size(), 1u) << r.Describe();
  EXPECT_EQ(lines[0].rfind("trapsan: WARNING: cannot start llvm-symbolizer: no "
                           "file descriptor", 0), 0u) << lines[0];
  EXPECT_TRUE(Contains(lines[0], "RLIMIT_NOFILE is 16 (hard limit 16)")) << lines[0];
}

// No room anywhere, descriptors free at the report: the symbolizer's pipes
// are the program's numbers for that report only. (Before: 2 fewer after it.)
TEST(DescriptorsTest, NoReserveReportGivesItsDescriptorsBack) {
  RunResult r = RunFdLimit("16", "16", /*hold_every_fd=*/false);
  ExpectEveryNumberLeftToTheProgram(r);
  EXPECT_TRUE(Contains(r.err, "racy_reader")) << r.Describe();
}

// Room above the soft limit, descriptors free at the report: the pipes are
// above it, the program keeps its numbers. (Before: 2 fewer after it.)
TEST(DescriptorsTest, ReserveAboveTheLimitKeepsTheProgramsNumbers) {
  RunResult r = RunFdLimit("16", "4096", /*hold_every_fd=*/false);
  ExpectEveryNumberLeftToTheProgram(r);
  EXPECT_TRUE(Contains(r.err, "racy_reader")) << r.Describe();
}

}  // namespace
}  // namespace trapsan_test
