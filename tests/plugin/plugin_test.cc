// The compiler plugin path: programs built by trapsan-c++ (no manual checks)
// at -O0 and -O2 are race-checked, report the racy file:line and stay quiet
// when synchronized; the IR of ir_cases.c shows what is instrumented.
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

constexpr char kRacySource[] = "plugin/racy_plugin.cc";

class PluginRacyTest : public HardwareTest,
                       public ::testing::WithParamInterface<const char*> {};

// The first report naming both sides (a report may instead be of unknown
// origin: the racer's trap handler ran after the window closed, when a
// loaded machine descheduled it for milliseconds; its own late report
// follows), or an empty string.
std::string TwoSidedReport(const std::string& err) {
  for (const std::string& block : ReportBlocks(err)) {
    if (Contains(block, "data race in BumpShared() / ReadShared()") ||
        Contains(block, "data race in ReadShared() / BumpShared()"))
      return block;
  }
  return "";
}

// Runs racy_plugin_<level> with `options` until a run reports the race with
// both sides (at most 5 runs of <= 3 s, scaled), and checks that report:
// both racy lines are the top frames.
// `soft_checked`: the report must come with a soft check's record
// (soft_conflicts), not only from a sampled access meeting the window.
void ExpectRacyLinesReported(const std::string& level,
                             const std::string& options,
                             bool soft_checked = false) {
  const std::string program = std::string("plugin_racy_plugin_") + level;
  RunOptions o;
  o.trapsan_options = options;
  RunResult r = RunUntil(program, {"3000"}, o, [&](const RunResult& r) {
    return r.exited && r.exit_code == 66 && !TwoSidedReport(r.err).empty() &&
           (!soft_checked || r.Int("STAT_soft_conflicts") >= 1);
  });
  if (soft_checked) {
    EXPECT_GE(r.Int("STAT_soft_conflicts"), 1) << r.Describe();
    // Counted once per (thread, window): the writer and the reader at most.
    EXPECT_LE(r.Int("STAT_soft_conflicts"), 2 * r.Int("STAT_windows"))
        << r.Describe();
  }
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 66) << r.Describe();
  ASSERT_FALSE(ReportBlocks(r.err).empty()) << r.Describe();
  const std::string report = TwoSidedReport(r.err);
  const std::string write_line =
      std::to_string(LineOf(kRacySource, "PLUGIN_RACE_WRITE"));
  const std::string read_line =
      std::to_string(LineOf(kRacySource, "PLUGIN_RACE_READ"));
  EXPECT_TRUE(Contains(report, "data race in BumpShared() / ReadShared()") ||
              Contains(report, "data race in ReadShared() / BumpShared()"))
      << report;
  EXPECT_TRUE(MatchesRegex(report, "\\n    #0 BumpShared\\(\\) \\S*racy_plugin\\.cc:" +
                                       write_line + " "))
      << report;
  EXPECT_TRUE(MatchesRegex(report, "\\n    #0 ReadShared\\(\\) \\S*racy_plugin\\.cc:" +
                                       read_line + " "))
      << report;
  EXPECT_TRUE(MatchesRegex(report, "Location is global 'g_shared'")) << report;
  EXPECT_TRUE(MatchesRegex(report, "\\nSUMMARY: trapsan: data race \\S*racy_plugin\\.cc:(" +
                                       write_line + "|" + read_line + ") in "))
      << report;
  EXPECT_GE(r.Int("STAT_windows"), 1) << r.Describe();
}

// mode=ci, as a user would run it, with hardware watchpoints.
TEST_P(PluginRacyTest, ModeCiReportsTheRacyLines) {
  ExpectRacyLinesReported(GetParam(), "mode=ci");
}

INSTANTIATE_TEST_SUITE_P(Levels, PluginRacyTest, ::testing::Values("O0", "O2"));

// The same with backend=soft forced, on every machine: label sites are armed
// by int3 patching when execution breakpoints are not used, and the reader's
// sampled access meets the writer's open window (or the other way around):
// both sides in the report, without a hardware watchpoint.
class PluginSoftTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PluginSoftTest, ModeCiReportsTheRacyLines) {
  ExpectRacyLinesReported(GetParam(), "mode=ci:backend=soft");
}

INSTANTIATE_TEST_SUITE_P(Levels, PluginSoftTest, ::testing::Values("O0", "O2"));

// Plugin-built sites check the open soft windows themselves
// (runtime/linux/soft_sites.h): while the writer's window is open the
// reader's sites are made to reach the runtime (and the other way around),
// so the race between two plugin-built threads is recorded by a soft check
// (soft_conflicts; before, only a sampled access could meet the window),
// with both racy lines. Label sites and calling sites, O0 and O2.
class PluginSoftCheckTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PluginSoftCheckTest, SitesCheckOpenWindows) {
  ExpectRacyLinesReported(GetParam(), "mode=ci:backend=soft:print_stats=1",
                          /*soft_checked=*/true);
}

INSTANTIATE_TEST_SUITE_P(Sites, PluginSoftCheckTest,
                         ::testing::Values("O0", "O2", "call_O0", "call_O2"));

// The runtime finds each sampled access from the registers at its site:
// through a register, a frame slot, a global's address, a memcpy's run-time
// length, a promoted loop's register countdown, a loop region's label and
// both ways of a branch (site_cases.c checks each against the real
// address). Label sites (O0, O2) are reached through execution breakpoints:
// the hw backend; calling sites (call_O2) also have a join's variants.
class PluginSiteTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PluginSiteTest, EverySiteKindPicksTheRightAccess) {
  const bool call_sites = std::string(GetParam()).rfind("call_", 0) == 0;
  RunOptions o;
  std::vector<std::string> args;
  if (call_sites) {
    o.trapsan_options = "backend=off";
    args.push_back("call");
  } else {
    RequireHardwareBackend();
    if (IsSkipped() || HasFailure()) return;
    // No overhead budget: on a slow machine (the lab guest: arming ~0.15 ms)
    // the default 1% refused most samples, and a way was never picked.
    o.trapsan_options = "delay_us=0:max_overhead=0:print_stats=1:verbosity=1";
  }
  RunResult r = RunProgram(std::string("plugin_site_cases_") + GetParam(), args, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.Value("FAILURES"), "0") << r.Describe();
  for (const char* c :
       {"global", "register", "frame_slot", "memcpy", "loop", "loop_region",
        "loop_register", "loop_nest"}) {
    EXPECT_TRUE(Contains(r.out, std::string("CASE ") + c + " ok=1")) << c << "\n"
                                                                     << r.out;
  }
  if (call_sites) {
    // Both ways through the join expired at each of their accesses.
    for (const char* line :
         {"JOIN c=0 k=1 expired=1", "JOIN c=0 k=2 expired=1",
          "JOIN c=0 k=3 expired=0", "JOIN c=1 k=1 expired=1",
          "JOIN c=1 k=3 expired=1", "JOIN c=1 k=4 expired=0"})
      EXPECT_TRUE(Contains(r.out, line)) << line << "\n" << r.out;
  } else {
    // Each way was sampled (3 times, within 200 tries), always on the way.
    EXPECT_EQ(r.Value("BRANCH_PICKED_0"), "3") << r.Describe();
    EXPECT_EQ(r.Value("BRANCH_PICKED_1"), "3") << r.Describe();
    EXPECT_TRUE(std::regex_search(r.err, std::regex("labels_reached +[1-9]")))
        << r.Describe();
    // The start-up self-test of label breakpoints ran, and trapsan says so;
    // one debug register is left to the labels.
    EXPECT_TRUE(Contains(r.err, "label breakpoint self-test trap delivered in"))
        << r.Describe();
    EXPECT_TRUE(Contains(r.err, "backend=hw, 3 watchpoint slot(s)")) << r.Describe();
  }
  EXPECT_FALSE(Contains(r.out, "on_path=0")) << r.out;
  EXPECT_EQ(r.Int("LINE_STORE_GLOBAL"),
            LineOf("plugin/site_cases.c", "LINE_STORE_GLOBAL"));
  EXPECT_EQ(r.Value("MEMCPY_SIZE"), "40");
}

INSTANTIATE_TEST_SUITE_P(Levels, PluginSiteTest,
                         ::testing::Values("O0", "O2", "call_O2"));

// Every register survives a site's first expiry, whatever the binding:
// registers_site.c keeps distinct values in rax, rcx, rdx, rsi, rdi, r8-r11
// and xmm0-xmm15 across a single-block loop's calling site and a loop's
// region check, each the object's first call of __trapsan_site in one of
// the two runs. Through a lazily bound PLT entry that first call ran the
// dynamic linker's resolver before the stub, which clobbered r10 and r11
// (DataRaceBench's DRB070-simd1 crashed). Built -z lazy and -z now, PIE and
// not, the sites in the program, in a library it links and in one it
// dlopen()s; run without LD_BIND_NOW. Needs no watchpoint: the sites call
// the runtime whichever the backend.
class PluginRegistersTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PluginRegistersTest, FirstExpiryPreservesEveryCallerSavedRegister) {
  unsetenv("LD_BIND_NOW");  // (the children inherit the environment)
  const std::string program = std::string("plugin_registers_") + GetParam();
  const bool lazy = program.find("_lazy_") != std::string::npos;
  const std::string lib = std::string(TRAPSAN_TEST_PROGRAMS_DIR) +
                          "/plugin_registers_lib_" + (lazy ? "lazy" : "now") +
                          ".so";
  for (const char* first : {"loop", "check"}) {
    SCOPED_TRACE(std::string(first) + " first");
    RunOptions o;
    // No expiry but the ones the program forces (it sets the countdown to 1
    // before each loop).
    o.trapsan_options = "sample_rate=1000000000";
    RunResult r = RunProgram(program, {first, lib}, o);
    ASSERT_TRUE(r.exited) << r.Describe();
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_EQ(r.Value("LD_BIND_NOW"), "unset") << r.Describe();
    EXPECT_FALSE(Contains(r.out, "CLOBBERED ")) << r.Describe();
    EXPECT_EQ(r.Value("LOOP_CLOBBERED"), "0") << r.Describe();
    EXPECT_EQ(r.Value("CHECK_CLOBBERED"), "0") << r.Describe();
    EXPECT_EQ(r.Value("LOOP_EXPIRED"), "1") << r.Describe();
    EXPECT_EQ(r.Value("CHECK_EXPIRED"), "1") << r.Describe();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Bindings, PluginRegistersTest,
    ::testing::Values("lazy_pie", "lazy_nopie", "now_pie", "now_nopie",
                      "lazy_pie_linked", "lazy_nopie_linked", "now_pie_linked",
                      "now_nopie_linked", "lazy_pie_dlopen", "lazy_nopie_dlopen",
                      "now_pie_dlopen", "now_nopie_dlopen", "lazy_pie_call"));

// Label breakpoints belong to threads: 300 threads each reach a label (each
// opened its own breakpoint), none is left open after they exit, and a fork
// child closes the breakpoint fds it inherited and (like its parent after
// the fork) still reaches labels.
TEST(PluginLabelTest, BreakpointsArePerThreadClosedAtExitAndReopenedInAChild) {
  RequireHardwareBackend();
  if (IsSkipped() || HasFailure()) return;
  RunOptions o;
  o.trapsan_options = "delay_us=0:max_overhead=0";
  RunResult r = RunProgram("plugin_label_threads_O2", {}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.Value("THREADS_SAMPLED"), "300") << r.Describe();
  EXPECT_LT(r.Int("FDS"), 40) << r.Describe();
  EXPECT_EQ(r.Value("MAIN_SAMPLED"), "1") << r.Describe();
  EXPECT_EQ(r.Value("CHILD_SAMPLED"), "1") << r.Describe();
  // The child closed the breakpoints of the 5 threads alive at the fork and
  // the forking thread's (parent's events all).
  EXPECT_EQ(r.Value("CHILD_FDS_CLOSED"), "6") << r.Describe();
  EXPECT_EQ(r.Value("PARENT_AFTER_FORK_SAMPLED"), "1") << r.Describe();
  EXPECT_GE(r.Int("STAT_labels_reached"), 302) << r.Describe();
  EXPECT_EQ(r.Value("STAT_labels_unavailable"), "0") << r.Describe();
}

// Label breakpoints in the descriptor reserve (issue 10, defect 5): under a
// soft RLIMIT_NOFILE of 32, 64 threads open their label events at once; each
// reaches its label, the program can still open every number below its limit
// while they hold them, and the limit is the program's afterwards. (Before:
// label events at the program's numbers took them, EMFILE left labels
// unavailable; in the reserve of 0c17334, one thread restored the limit
// under another's move: EINVAL, labels unavailable.)
TEST(PluginLabelTest, BreakpointsOfManyThreadsStayOutOfTheProgramsNumbers) {
  RequireHardwareBackend();
  if (IsSkipped() || HasFailure()) return;
  RunOptions o;
  o.trapsan_options = "delay_us=0:max_overhead=0";
  RunResult r = RunProgram("plugin_label_nofile_O2", {}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  if (r.Value("SKIP") == "1") GTEST_SKIP() << "hard RLIMIT_NOFILE too low";
  EXPECT_EQ(r.Value("THREADS_SAMPLED"), "64") << r.Describe();
  EXPECT_EQ(r.Value("OPENED"), r.Value("EXPECTED")) << r.Describe();
  EXPECT_EQ(r.Value("LIMIT_AFTER"), r.Value("SOFT")) << r.Describe();
  EXPECT_EQ(r.Value("STAT_labels_unavailable"), "0") << r.Describe();
  EXPECT_GE(r.Int("STAT_labels_reached"), 64) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "WARNING")) << r.Describe();
}

// A program without label sites dlopen()s an instrumented library: the
// first label breakpoint finds the four debug registers taken by the
// watchpoints, which give one up; the library's labels are then reached.
TEST(PluginLabelTest, LibraryLoadedLaterGetsADebugRegister) {
  RequireHardwareBackend();
  if (IsSkipped() || HasFailure()) return;
  RunOptions o;
  o.trapsan_options = "delay_us=0:max_overhead=0";
  RunResult r = RunProgram("plugin_label_dlopen",
                           {std::string(TRAPSAN_TEST_PROGRAMS_DIR) +
                            "/plugin_label_lib.so"},
                           o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.Value("HW_SLOTS_BEFORE"), "4") << r.Describe();
  EXPECT_EQ(r.Value("HW_SLOTS_AFTER"), "3") << r.Describe();
  EXPECT_EQ(r.Value("SAMPLED"), "2") << r.Describe();  // the first only draws
  EXPECT_EQ(r.Value("STAT_labels_unavailable"), "0") << r.Describe();
  EXPECT_FALSE(Contains(r.err, "WARNING")) << r.Describe();
}

// Runs site_signals.c's storm (1 s of a 20 us timer whose handler runs
// instrumented code) with `options`: it must end, with DONE=1.
RunResult RunSignalStorm(const std::string& options) {
  RunOptions o;
  o.trapsan_options = options;
  o.timeout_ms = 30000;
  RunResult r = RunProgram("plugin_site_signals_O2", {}, o);
  EXPECT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();
  return r;
}

// Under a debugger (a ptrace tracer), label sites are not used: none of
// their SIGTRAPs stops the program, and trapsan says so. (Without the tracer
// the same run reaches hundreds of labels: the test above.)
TEST(PluginLabelTest, UnderADebuggerLabelsStayQuiet) {
  RequireHardwareBackend();
  if (IsSkipped() || HasFailure()) return;
  RunOptions o;
  o.trapsan_options = "delay_us=0:max_overhead=0:verbosity=1";
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

// A signal handler's instrumented code expiring while its thread is in a
// site's slow path (holding the site index lock): no deadlock.
TEST(PluginSiteSignalTest, HandlerSitesDuringTheSlowPathDoNotDeadlock) {
  RunResult r = RunSignalStorm("backend=off");
  if (!r.exited) return;
  EXPECT_GT(r.Int("SIGNALS"), 100) << r.Describe();
  EXPECT_GT(r.Int("SITE_EXPIRIES"), 1000) << r.Describe();
}

// The same signal storm with the hw backend: label breakpoints armed by the
// main loop and by the handler (which interrupts everything, trapsan's own
// SIGTRAP handler and the resume stub included) are reached, not lost as
// stale (before the fix: 900 armed, 0 reached).
TEST(PluginSiteSignalTest, LabelsArmedAmongSignalsAreReached) {
  RequireHardwareBackend();
  if (IsSkipped() || HasFailure()) return;
  // No overhead budget: how many labels it would let arm depends on the
  // machine's speed and load.
  RunResult r = RunSignalStorm("delay_us=0:max_overhead=0:print_stats=1");
  if (!r.exited) return;
  auto stat = [&](const char* name) -> long long {
    std::smatch m;
    const std::regex re(std::string("\\n *") + name + " +([0-9]+)");
    return std::regex_search(r.err, m, re) ? std::stoll(m[1].str()) : -1;
  };
  const long long armed = stat("labels_armed"), reached = stat("labels_reached");
  EXPECT_GT(armed, 20) << r.Describe();
  EXPECT_GE(reached, armed - std::max(2LL, armed / 10)) << r.Describe();
}

// GoogleTest's sources and a test file built by the plugin at -O2 (the pass
// verified every function it changed): the tests pass under mode=ci, no
// report, and windows were opened in them.
TEST(PluginRealCodeTest, GoogleTestBuiltAndRunUnderTrapsan) {
#if TRAPSAN_PLUGIN_GTEST
  RunOptions o;
  o.trapsan_options = "mode=ci:print_stats=1";
  RunResult r = RunProgram("plugin_gtest_under_trapsan", {}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_TRUE(Contains(r.out, "[  PASSED  ] 3 tests.")) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "WARNING: trapsan")) << r.Describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("\\n *windows +([0-9]+)")))
      << r.Describe();
  EXPECT_GT(std::stoll(m[1].str()), 0) << r.Describe();
#else
  GTEST_SKIP() << "no GoogleTest sources (/usr/src/googletest)";
#endif
}

class PluginRaceFreeTest : public ::testing::TestWithParam<const char*> {};

// Every instrumented access samples: thousands of windows on mutex, condition
// variable, acquire/release, call_once and join hand-offs, not one report.
// Runs race_free_plugin_<level> with every instrumented access sampled
// (plus `extra` options) and checks it is silent over thousands of windows.
RunResult ExpectRaceFreeSilent(const std::string& level,
                               const std::string& extra) {
  const std::string program = std::string("plugin_race_free_plugin_") + level;
  RunOptions o;
  o.trapsan_options = std::string(kManyShortWindows) + extra;
  RunResult r = RunProgram(program, {}, o);
  EXPECT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "WARNING: trapsan")) << r.Describe();
  EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();
  EXPECT_EQ(r.Value("VALUE_OK"), "1") << r.Describe();
  EXPECT_GT(r.Int("STAT_windows"), 1000) << r.Describe();
  EXPECT_EQ(r.Int("STAT_races_found"), 0) << r.Describe();
  return r;
}

TEST_P(PluginRaceFreeTest, NoReportOverThousandsOfWindows) {
  RunResult r = ExpectRaceFreeSilent(GetParam(), "");
  if (!r.exited) return;
  EXPECT_EQ(r.Int("STAT_traps"), 0) << r.Describe();
  EXPECT_EQ(r.Int("STAT_skipped_budget"), 0) << r.Describe();
  EXPECT_NE(r.Int("STAT_backend"), 0) << r.Describe();
}

INSTANTIATE_TEST_SUITE_P(Levels, PluginRaceFreeTest,
                         ::testing::Values("O0", "O2"));

// backend=soft forced: every instrumented access samples, thousands of soft
// windows, not one report.
TEST_P(PluginSoftTest, RaceFreeNoReportOverThousandsOfWindows) {
  RunResult r = ExpectRaceFreeSilent(GetParam(), ":backend=soft");
  if (!r.exited) return;
  EXPECT_EQ(r.Int("STAT_backend"), 1) << r.Describe();  // soft
}

// The same with calling sites, which check every access of their segment
// while a window is open.
TEST(PluginSoftCheckRaceFree, CallSitesNoReportOverThousandsOfWindows) {
  RunResult r = ExpectRaceFreeSilent("call_O2", ":backend=soft");
  if (!r.exited) return;
  EXPECT_EQ(r.Int("STAT_backend"), 1) << r.Describe();  // soft
}

// The IR: instrumented sites per function (inline asm: a label site's
// `2: nop` and note, or a calling site's `subl $$N, <countdown>` and call
// of __trapsan_site), region checks, and the !dbg lines of sites.
struct Ir {
  std::map<std::string, int> samples;           // function -> sites
  // function -> accesses: the sum of the label sites' note counts and the
  // calling sites' countdown steps.
  std::map<std::string, int> accesses;
  std::map<std::string, int> checks;            // function -> region checks
  std::map<std::string, std::vector<std::string>> dbgs;  // "!N" of each call
  std::map<std::string, std::string> first_dbg;  // function -> "!N" of 1st call
  std::map<std::string, int> line_of;           // "!N" -> DILocation line
  std::string text;
};

Ir ReadIr(const std::string& name) {
  Ir ir;
  std::ifstream in(std::string(TRAPSAN_PLUGIN_IR_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::string line, function;
  const std::regex define_re("^define .*@([A-Za-z_0-9.]+)\\(");
  const std::regex dbg_re("!dbg (![0-9]+)");
  const std::regex loc_re("^(![0-9]+) = !DILocation\\(line: ([0-9]+)");
  const std::regex site_re("asm sideeffect \"subl \\$\\$([0-9]+), ");
  // The note header: version 4, flags (2: a label, 4: a check; + 8: its
  // release points marked), ...
  const std::regex label_re(
      "asm sideeffect \"2:\\\\0Anop\\\\0A.*\\.byte 4, (?:2|10), 1, [0-9]+, "
      "[0-9]+, 0\\\\0A\\.short ([0-9]+)");
  const std::regex check_re("\\.byte 4, (?:4|12), 1, 0, 255, 0");
  std::smatch m;
  while (std::getline(in, line)) {
    ir.text += line + "\n";
    if (std::regex_search(line, m, define_re)) {
      function = m[1];
      ir.samples[function] += 0;
      ir.accesses[function] += 0;
    } else if (line == "}") {
      function.clear();
    } else if (!function.empty() && std::regex_search(line, check_re)) {
      ++ir.checks[function];
    } else if (!function.empty() && (std::regex_search(line, m, label_re) ||
                                     std::regex_search(line, m, site_re))) {
      ++ir.samples[function];
      ir.accesses[function] += std::stoi(m[1]);
      if (std::regex_search(line, m, dbg_re)) {
        if (!ir.first_dbg.count(function)) ir.first_dbg[function] = m[1];
        ir.dbgs[function].push_back(m[1]);
      }
    } else if (std::regex_search(line, m, loc_re)) {
      ir.line_of[m[1]] = std::stoi(m[2]);
    }
  }
  return ir;
}

class PluginIrTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PluginIrTest, InstrumentsPlainAccessesOnly) {
  const std::string level = GetParam();
  Ir ir = ReadIr("ir_cases_" + level + ".ll");
  // Call sites: one per segment (the accesses of a block up to a call,
  // atomic or fence: the countdown is updated once for them, by their
  // number, and one of them is sampled) and source line.
  auto count = [&](const char* f) {
    EXPECT_TRUE(ir.samples.count(f)) << f << " not defined in the IR";
    return ir.samples[f];
  };
  auto accesses = [&](const char* f) { return ir.accesses[f]; };
  // Instrumented.
  EXPECT_EQ(count("write_global"), 1);
  EXPECT_EQ(accesses("write_global"), 1);
  EXPECT_EQ(count("read_pointer"), 1);
  EXPECT_EQ(accesses("read_pointer"), 1);
  EXPECT_EQ(count("increment"), 1);       // read covered by the write
  EXPECT_EQ(accesses("increment"), 1);
  // The load after sink(): the store before it cannot race (no other
  // thread can know the address yet).
  EXPECT_EQ(count("escaping_local"), 1);
  EXPECT_EQ(accesses("escaping_local"), 1);
  EXPECT_EQ(count("copy"), 1);            // memcpy: one line,
  EXPECT_EQ(accesses("copy"), 2);         // source and destination
  EXPECT_EQ(count("fill"), 1);            // memset: destination
  EXPECT_EQ(accesses("fill"), 1);
  EXPECT_GE(count("sum_array"), 1);       // a loop (at -O2 a single block)
  EXPECT_GE(accesses("sum_array"), 1);
  // Left alone.
  for (const char* f : {"atomics", "local_only", "const_table", "opted_out",
                        "sanitizers_disabled"}) {
    EXPECT_EQ(count(f), 0) << f;
    EXPECT_EQ(accesses(f), 0) << f;
  }
  // no_sanitize("thread"): through trapsan-cc's clang plugin (the
  // TRAPSAN_NO_INSTRUMENT annotation), or under -fsanitize=thread (the
  // missing sanitize_thread attribute); with neither it is not seen.
  if (level == "tsan" || TRAPSAN_CLANG_PLUGIN) {
    EXPECT_EQ(count("no_sanitize_thread"), 0);
    EXPECT_EQ(accesses("no_sanitize_thread"), 0);
  } else {
    EXPECT_GE(count("no_sanitize_thread"), 1);
    EXPECT_GE(accesses("no_sanitize_thread"), 2);
  }
  // The fast path: the initial-exec TLS countdown (its offset loaded from
  // the GOT once per function), the stub, the site's note.
  EXPECT_TRUE(Contains(ir.text, "movq __trapsan_countdown@GOTTPOFF(%rip), $0"))
      << "countdown offset";
  // The stub is called through the GOT, never a lazily bound PLT entry
  // (whose resolver would clobber the site's live registers).
  EXPECT_TRUE(Contains(ir.text,
                       "%fs:($0)\\0Ajg 1f\\0Acall *__trapsan_site@GOTPCREL(%rip)\\0A"));
  EXPECT_FALSE(Contains(ir.text, "call __trapsan_site"));
  // Label sites, and a check for the region of each function that has
  // them (here: no loop in these).
  EXPECT_TRUE(Contains(ir.text, "asm sideeffect \"2:\\0Anop\\0A"));
  for (const char* f : {"write_global", "read_pointer", "copy"})
    EXPECT_EQ(ir.checks[f], 1) << f;
  EXPECT_TRUE(Contains(ir.text, ".pushsection .note.trapsan,"));
  // The call carries the access's line: the report's top frame.
  ASSERT_TRUE(ir.first_dbg.count("write_global")) << "no !dbg on the call";
  EXPECT_EQ(ir.line_of[ir.first_dbg["write_global"]],
            LineOf("plugin/ir_cases.c", "IR_WRITE_GLOBAL"));
  ASSERT_TRUE(ir.first_dbg.count("escaping_local"));
  bool read_line_found = false;
  for (const std::string& dbg : ir.dbgs["escaping_local"])
    read_line_found |=
        ir.line_of[dbg] == LineOf("plugin/ir_cases.c", "IR_ESCAPED_READ");
  EXPECT_TRUE(read_line_found) << "no call with the escaped read's line";
}

// A second run of the pass (as a ThinLTO backend would make) adds nothing:
// the module carries the "trapsan.instrumented" flag.
TEST(PluginIrOnceTest, SecondRunInstrumentsNothing) {
  Ir once = ReadIr("ir_cases_O2.ll");
  Ir twice = ReadIr("ir_cases_O2_twice.ll");
  EXPECT_TRUE(Contains(once.text, "!\"trapsan.instrumented\", i32 1}"));
  EXPECT_EQ(once.samples, twice.samples);
  EXPECT_EQ(twice.samples["write_global"], 1);
}

INSTANTIATE_TEST_SUITE_P(Levels, PluginIrTest,
                         ::testing::Values("O0", "O2", "tsan"));

// Issue 10, defect 7: start-up work is not charged to the program's
// overhead budget. A short plugin-built program (two threads, 10,000 label
// samples' worth of checks each, a few milliseconds) run with mode=ci and the
// default budget opens windows from the start, whether the hardware
// self-test passes or fails. Where it failed, ~0.5 s had been charged before
// the first window, and such programs opened none (skipped_budget ~124k,
// windows 0); at b86c65e this no longer reproduced here, and this test keeps
// it away: the budget now starts after the self-tests.
// The threshold is far below what the 0.5 s allowance buys on any machine
// (each window charges at most its 300 us stall plus a few ms of CPU).
class ShortProgramTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ShortProgramTest, ModeCiSamplesFromTheStart) {
  RunOptions o;
  o.trapsan_options = "mode=ci:print_stats=1";
  if (std::string(GetParam()) == "selftest_fails") {
    // The self-test of hardware watchpoints fails (test hook): the machine
    // of the defect, on every machine.
    o.extra_env.push_back({"TRAPSAN_TESTONLY_WATCHPOINTS", "undelivered"});
  }
  // Labels are armed only while the budget has room, and a loaded machine
  // makes each stall cost more of it (the final CI of session 10, under
  // load: windows 389, labels_reached 2, budget_ns 142 ms of a 217 ms run):
  // up to 3 attempts for the counts, each checked in full.
  long long windows = 0, labels = 0;
  RunResult r;
  for (int attempt = 0; attempt < 3; ++attempt) {
    r = RunProgram("plugin_short_program_O2", {}, o);
    ASSERT_TRUE(r.exited) << r.Describe();
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.err, m, std::regex("\\n  windows +([0-9]+)")))
        << r.Describe();
    windows = std::stoll(m[1]);
    ASSERT_TRUE(
        std::regex_search(r.err, m, std::regex("\\n  labels_reached +([0-9]+)")))
        << r.Describe();
    labels = std::stoll(m[1]);
    if (windows >= 20 && labels >= 10) break;
  }
  EXPECT_GE(windows, 20) << r.Describe();
  EXPECT_GE(labels, 10) << r.Describe();
}

INSTANTIATE_TEST_SUITE_P(Machines, ShortProgramTest,
                         ::testing::Values("this_machine", "selftest_fails"));

}  // namespace
}  // namespace trapsan_test
