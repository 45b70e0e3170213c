// Label sites where execution breakpoints do not deliver: armed by patching
// their nop to int3 (runtime/linux/label_int3.h). These tests run on every
// machine: backend=soft never uses perf, and a test hook makes the
// execution-breakpoint self-test fail where the hardware would deliver.
// Also: nothing perf-related is left behind in soft mode, no ioctl reaches a
// file the program opened, and the degraded-detection warning is printed
// once per process tree.
#include <regex>
#include <string>

#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

std::string LibPath() {
  return std::string(TRAPSAN_TEST_PROGRAMS_DIR) + "/plugin_label_lib.so";
}

long long Stat(const RunResult& r, const char* name) {
  std::smatch m;
  const std::regex re(std::string("\\n *") + name + " +([0-9]+)");
  return std::regex_search(r.err, m, re) ? std::stoll(m[1].str()) : -1;
}

// With backend=soft (no perf at all) label sites are armed by int3 patching:
// under contention every sample is the sampling thread's own access, an
// armed label that was not reached is put back in a fork child's text and
// sampled later by the parent, a dlclose()d and reloaded library is sampled
// again, the program's own int3 reaches its own handler, and no label is
// left patched.
// Text is written through /proc/thread-self/mem, or (the hook: as where the
// kernel refuses forced writes) by mprotect.
class LabelInt3WriterTest : public ::testing::TestWithParam<const char*> {};

TEST_P(LabelInt3WriterTest, SoftBackendArmsLabelsByInt3) {
  const std::string writer = GetParam();
  RunOptions o;
  o.trapsan_options = "backend=soft:delay_us=0:max_overhead=0:verbosity=1";
  if (writer == "mprotect")
    o.extra_env.push_back({"TRAPSAN_TESTONLY_TEXT_WRITER", "mprotect"});
  RunResult r = RunProgram("plugin_label_int3_O2", {LibPath()}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_TRUE(Contains(r.err, "label sites armed by int3 patching"))
      << r.Describe();
  EXPECT_TRUE(Contains(r.err, "int3 self-test trap delivered in"))
      << r.Describe();
  EXPECT_TRUE(Contains(r.err, "text written through " + writer)) << r.Describe();
  EXPECT_EQ(r.Value("WRONG"), "0") << r.Describe();
  // 4 threads x 2000 forced expiries on one label: expiries that meet on
  // it share one sample (its taker's), so how many each thread takes
  // depends on timing; none is lost for want of a mechanism.
  EXPECT_GT(r.Int("SAMPLED"), 100) << r.Describe();
  // (An arming gives up after waiting 100 ms for another: rare.)
  EXPECT_LE(r.Int("STAT_labels_unavailable"), r.Int("STAT_labels_armed") / 100)
      << r.Describe();
  EXPECT_EQ(r.Value("ARMED_UNREACHED"), "1") << r.Describe();
  EXPECT_EQ(r.Value("CHILD_TEXT_RESTORED"), "1") << r.Describe();
  EXPECT_EQ(r.Value("CHILD_SAMPLED"), "1") << r.Describe();
  EXPECT_EQ(r.Value("PARENT_REACHED_ARMED"), "1") << r.Describe();
  EXPECT_EQ(r.Value("DLOPEN_SAMPLED"), "2") << r.Describe();
  EXPECT_EQ(r.Value("OWN_INT3_HANDLED"), "1") << r.Describe();
  EXPECT_EQ(r.Value("TEXT_RESTORED"), "1") << r.Describe();
  EXPECT_GE(r.Int("STAT_labels_reached"), r.Int("SAMPLED")) << r.Describe();
  EXPECT_EQ(r.Int("STAT_traps_foreign"), 1) << r.Describe();
}

INSTANTIATE_TEST_SUITE_P(Writers, LabelInt3WriterTest,
                         ::testing::Values("/proc/thread-self/mem", "mprotect"));

// Every kind of label site (register, frame slot, global, memcpy length,
// loop regions, both ways of a branch) picks the right access when reached
// through an int3, as through an execution breakpoint (plugin_test.cc).
TEST(LabelInt3Test, EverySiteKindPicksTheRightAccess) {
  for (const char* level : {"O0", "O2"}) {
    RunOptions o;
    // (No budget: a slow machine would refuse samples.)
    o.trapsan_options =
        "backend=soft:delay_us=0:max_overhead=0:print_stats=1:verbosity=1";
    RunResult r =
        RunProgram(std::string("plugin_site_cases_") + level, {}, o);
    ASSERT_TRUE(r.exited) << r.Describe();
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_EQ(r.Value("FAILURES"), "0") << r.Describe();
    for (const char* c : {"global", "register", "frame_slot", "memcpy", "loop",
                          "loop_region", "loop_register", "loop_nest"}) {
      EXPECT_TRUE(Contains(r.out, std::string("CASE ") + c + " ok=1"))
          << level << " " << c << "\n" << r.out;
    }
    EXPECT_EQ(r.Value("BRANCH_PICKED_0"), "3") << r.Describe();
    EXPECT_EQ(r.Value("BRANCH_PICKED_1"), "3") << r.Describe();
    EXPECT_FALSE(Contains(r.out, "on_path=0")) << r.out;
    EXPECT_GT(Stat(r, "labels_reached"), 0) << r.Describe();
    EXPECT_TRUE(Contains(r.err, "label sites armed by int3 patching"))
        << r.Describe();
  }
}

// The test hook makes the execution-breakpoint self-test fail (its
// breakpoint is set on a nop that never runs, as on a machine whose debug
// registers do not deliver): labels are then armed by int3 patching, and
// the racy plugin-built program is still reported within a few runs,
// whatever backend this machine gives (hw: watchpoints catch the other
// side; soft: the other side's own sample meets the window, or the value
// changes).
TEST(LabelInt3Test, UndeliveredExecBreakpointsStillCatchTheRace) {
  RunOptions o;
  o.trapsan_options = "mode=ci:verbosity=1:print_stats=1";
  o.extra_env.push_back({"TRAPSAN_TESTONLY_EXEC_BREAKPOINTS", "undelivered"});
  RunResult r = RunUntil("plugin_racy_plugin_O2", {"3000"}, o,
                         [](const RunResult& r) {
                           return r.exited && r.exit_code == 66 &&
                                  !ReportBlocks(r.err).empty();
                         });
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 66) << r.Describe();
  ASSERT_FALSE(ReportBlocks(r.err).empty()) << r.Describe();
  const std::string report = ReportBlocks(r.err)[0];
  EXPECT_TRUE(Contains(report, "BumpShared()") ||
              Contains(report, "ReadShared()"))
      << report;
  EXPECT_TRUE(Contains(r.err, "label sites armed by int3 patching"))
      << r.Describe();
  if (Contains(r.err, "started: backend=hw")) {
    // The hook, not the hardware, failed the self-test; no perf fd of the
    // failed mechanism is used afterwards.
    EXPECT_TRUE(Contains(r.err, "produced 0 SIGTRAPs, not 1 (test hook)"))
        << r.Describe();
  }
  EXPECT_GT(Stat(r, "labels_reached"), 0) << r.Describe();
  EXPECT_EQ(Stat(r, "labels_stale"), 0) << r.Describe();
}

// Without the hook, on this machine: whichever mechanism the self-tests
// prove is used, and verbosity=1 names it.
TEST(LabelInt3Test, VerbosityNamesTheMechanism) {
  RunOptions o;
  o.trapsan_options = "verbosity=1";
  RunResult r = RunProgram("plugin_site_cases_O2", {}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_TRUE(
      MatchesRegex(r.err, "trapsan: label sites armed by (execution "
                          "breakpoints|int3 patching|none) \\("))
      << r.Describe();
}

// Under a debugger (a ptrace tracer) label sites are not patched either:
// no int3 stops the program in the tracer.
TEST(LabelInt3Test, UnderADebuggerNoLabelIsPatched) {
  RunOptions o;
  o.trapsan_options = "backend=soft:delay_us=0:max_overhead=0:verbosity=1";
  RunResult r = RunProgram(
      "plugin_traced_launcher",
      {std::string(TRAPSAN_TEST_PROGRAMS_DIR) + "/plugin_label_threads_O2"}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.Value("TRACED_SIGTRAPS"), "0") << r.Describe();
  EXPECT_EQ(r.Value("STAT_labels_reached"), "0") << r.Describe();
  EXPECT_TRUE(Contains(r.err, "label sites not used under a debugger"))
      << r.Describe();
}

// A program without label sites dlopen()s an instrumented library: the
// first check that runs out chooses the mechanism (the self-test of int3
// patching in soft mode), and the library's labels are sampled.
TEST(LabelInt3Test, LibraryLoadedLaterIsSampledByInt3) {
  RunOptions o;
  o.trapsan_options = "backend=soft:delay_us=0:max_overhead=0:verbosity=1";
  RunResult r = RunProgram("plugin_label_dlopen", {LibPath()}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.Value("SAMPLED"), "2") << r.Describe();  // the first only draws
  EXPECT_EQ(r.Value("STAT_labels_unavailable"), "0") << r.Describe();
  EXPECT_TRUE(Contains(r.err, "label sites armed by int3 patching"))
      << r.Describe();
  EXPECT_FALSE(Contains(r.err, "WARNING")) << r.Describe();
}

// A program that closes every fd above 2 and opens its own files: with
// backend=soft trapsan has no perf fd at all and never calls ioctl on the
// program's files, and label sites are still sampled. With the default
// backend (hw where the machine has it) trapsan sees that its fds are gone
// and does not touch the files that took their numbers.
TEST(ClosedFdsTest, NoIoctlOnTheProgramsFiles) {
  for (const char* backend : {"soft", "auto"}) {
    RunOptions o;
    o.trapsan_options =
        std::string("backend=") + backend + ":delay_us=0:max_overhead=0";
    RunResult r = RunProgram("plugin_closes_fds_O2", {}, o);
    ASSERT_TRUE(r.exited) << backend << "\n" << r.Describe();
    EXPECT_EQ(r.exit_code, 0) << backend << "\n" << r.Describe();
    EXPECT_EQ(r.Value("FOREIGN_IOCTLS"), "0") << backend << "\n" << r.Describe();
    EXPECT_EQ(r.Value("OWN_FILES_OK"), "1") << backend << "\n" << r.Describe();
    EXPECT_GT(r.Int("STAT_labels_reached"), 0) << backend << "\n"
                                               << r.Describe();
    if (std::string(backend) == "soft") {
      EXPECT_EQ(r.Value("PERF_FDS_AT_START"), "0") << r.Describe();
      EXPECT_EQ(r.Value("PERF_FDS_AT_END"), "0") << r.Describe();
    }
  }
}

// Where watchpoints do not deliver (the hook leaves out the self-test's
// write), a build tool's exec'd children would each print the fallback
// warning: it is printed once per process tree.
TEST(StartupLineTest, FallbackWarningOncePerProcessTree) {
  RunOptions o;
  o.trapsan_options = "backend=auto";
  o.extra_env.push_back({"TRAPSAN_TESTONLY_WATCHPOINTS", "undelivered"});
  RunResult r = RunProgram("plugin_exec_chain", {"3"}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_TRUE(Contains(r.out, "CHAIN=0")) << r.Describe();  // 4 processes ran
  EXPECT_EQ(CountOccurrences(r.err, "WARNING: hardware watchpoints unavailable"),
            1)
      << r.Describe();
  EXPECT_TRUE(Contains(r.err, "no SIGTRAP arrived for a write to a watched "
                              "variable"))
      << r.Describe();
  // It says what detection remains.
  EXPECT_TRUE(Contains(r.err, "falling back to backend=soft: ")) << r.Describe();
  EXPECT_TRUE(Contains(r.err, "are not seen")) << r.Describe();
}

}  // namespace
}  // namespace trapsan_test
