// LD_PRELOAD=libtrapsan.so on programs nobody rebuilt (issue 12): plain
// gcc -O2 builds sampled by the per-thread task-clock timer, their sampled
// accesses watched from the SIGTRAP handler. What a user sees: reports (or
// none), output and exit status the same as without trapsan.
//
// Tests that need hardware watchpoints (both stacks of a race between two
// uninstrumented threads) skip here without them; tools/lab/test-suite runs
// them in the lab guest.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <ostream>
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

constexpr char kReport[] = "WARNING: trapsan: data race";

RunOptions Preloaded(const std::string& options, int timeout_ms = 120000) {
  RunOptions o;
  o.trapsan_options = options;
  o.timeout_ms = timeout_ms;
  o.extra_env = {{"LD_PRELOAD", TRAPSAN_PRELOAD_LIBRARY}};
  return o;
}

RunOptions Plain(int timeout_ms = 120000) {
  RunOptions o;
  o.trapsan_options = std::nullopt;
  o.timeout_ms = timeout_ms;
  return o;
}

// A counter of print_stats=1's table, summed over the processes that
// printed one (a program's forked children print theirs too); -1 if none.
long long Stat(const std::string& err, const std::string& name) {
  std::regex re("\\n  " + name + " +([0-9]+)");
  long long sum = -1;
  for (std::sregex_iterator it(err.begin(), err.end(), re), end; it != end;
       ++it) {
    sum = (sum < 0 ? 0 : sum) + std::stoll((*it)[1]);
  }
  return sum;
}

// The runtime starts from its constructor before main, so the threads main
// creates inherit the timer; samples of theirs open windows.
TEST(PreloadTest, InitializesBeforeThreadsAndSamplesThem) {
  RunResult r = RunProgram(
      "preload_racy_plain", {"300"},
      Preloaded("backend=soft:preload_timer=perf:preload_period_us=100:"
                "print_stats=1:max_overhead=0:quiet=1"));
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.out, "done\n") << r.Describe();
  EXPECT_GT(Stat(r.err, "timer_samples"), 100) << r.Describe();
  EXPECT_GT(Stat(r.err, "windows"), 10) << r.Describe();
}

// The default timer (preload_timer=tick): a POSIX timer on each thread's CPU
// time, which every thread pthread_create starts gets its own of (a tick
// apart at most: 1-10 ms of CPU time per sample).
TEST(PreloadTest, TickTimerSamplesEveryThread) {
  // A window needs a sample on bump()'s one instruction, which a loaded
  // machine makes rarer (1 run in 12 had none at load 9): a few attempts.
  RunResult r = RunUntil(
      "preload_racy_plain", {"500"},
      Preloaded("backend=soft:preload_timer=tick:print_stats=1:"
                "max_overhead=0:quiet=1"),
      [](const RunResult& r) { return Stat(r.err, "windows") > 0; }, 3);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.out, "done\n") << r.Describe();
  EXPECT_GT(Stat(r.err, "timer_samples"), 10) << r.Describe();
  // Only the two workers run bump(), whose addq is the one plain access:
  // windows mean the threads pthread_create started were sampled.
  EXPECT_GT(Stat(r.err, "windows"), 0) << r.Describe();
}

TEST(PreloadTest, OffWhenAskedOrNotPreloaded) {
  RunResult r = RunProgram(
      "preload_racy_plain", {"100"},
      Preloaded("backend=soft:preload_sampling=0:print_stats=1:quiet=1"));
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(Stat(r.err, "timer_samples"), 0) << r.Describe();
}

// Without hardware watchpoints a sampled unlocked read-modify-write whose
// value another thread changes during its window is reported (one stack).
TEST(PreloadTest, SoftReportsPlainReadModifyWriteChanged) {
  RunResult r = RunUntil(
      "preload_racy_plain", {"500"},
      Preloaded("mode=ci:backend=soft:preload_period_us=100"),
      [](const RunResult& r) { return Contains(r.err, kReport); }, 5);
  EXPECT_TRUE(Contains(r.err, "data race in bump / <unknown origin>"))
      << r.Describe();
  EXPECT_TRUE(r.exited && r.exit_code == 66) << r.Describe();
}

class PreloadHardwareTest : public HardwareTest {};

// The same race with both stacks: the other thread's add traps.
TEST_F(PreloadHardwareTest, RacyPlainProgramDetected) {
  RunResult r = RunUntil(
      "preload_racy_plain", {"1000"},
      Preloaded("mode=ci:backend=hw"),
      [](const RunResult& r) {
        return Contains(r.err, "data race in bump / bump");
      },
      5);
  EXPECT_TRUE(Contains(r.err, "data race in bump / bump")) << r.Describe();
  EXPECT_TRUE(r.exited && r.exit_code == 66) << r.Describe();
}

// A race that is rare in time: race_rate's two threads race on a global
// about once per millisecond of the lab guest (1.1 per ms there without
// trapsan), the rest of their time private work on their stacks. A timer
// sample almost never lands on the racing increment (0 of 10 runs found it
// before data lures: docs/preload.md); a lure on the counter catches one
// thread's write and watches for the other's (9 of 10 runs of 1 s there).
// Bounded retries; no verdict depends on the machine's speed.
TEST_F(PreloadHardwareTest, RareRaceFoundByDataLures) {
  RunResult r = RunUntil(
      "preload_race_rate", {"1000", "200000"},
      Preloaded("mode=ci:backend=hw:print_stats=1"),
      // (A run where a timer window found it and no lure was caught does
      // not count: the lures are what is tested.)
      [](const RunResult& r) {
        return Contains(r.err, "data race in racy_bump / racy_bump") &&
               Stat(r.err, "lures_caught") > 0;
      },
      6);
  EXPECT_TRUE(Contains(r.err, "data race in racy_bump / racy_bump"))
      << r.Describe();
  EXPECT_GT(Stat(r.err, "lures_caught"), 0) << r.Describe();
  EXPECT_TRUE(r.exited && r.exit_code == 66) << r.Describe();
}

// A read/write race, rare in time: race_rw's reader polls a plain int that
// its writer increments about once per millisecond of the lab guest (the
// same work as race_rate's). A read-write lure on the int is caught by
// either; the other's access in the owner's stall is the race (a
// write-only lure never saw the reads, and one writer races with no other).
TEST_F(PreloadHardwareTest, ReadWriteRaceFoundByDataLures) {
  const std::regex race(
      "data race in (reader_poll / writer_bump|writer_bump / reader_poll)");
  RunResult r = RunUntil(
      "preload_race_rw", {"1000", "200000"},
      Preloaded("mode=ci:backend=hw:print_stats=1"),
      [&race](const RunResult& r) {
        return std::regex_search(r.err, race) &&
               Stat(r.err, "lures_caught") > 0;
      },
      6);
  EXPECT_TRUE(std::regex_search(r.err, race)) << r.Describe();
  EXPECT_GT(Stat(r.err, "lures_caught"), 0) << r.Describe();
  EXPECT_TRUE(r.exited && r.exit_code == 66) << r.Describe();
}

// Shared read-only data read by both threads: lures on it are caught by a
// reader and the other reader's accesses trap in the stall. Two reads are no
// race: nothing is reported even with report_possible=1 (which reports the
// pairs that may be two atomics; here nothing but plain reads touch the
// table), and lures were caught (on reads: nothing writes the program's data
// while the threads run but their one result word each).
TEST_F(PreloadHardwareTest, SharedReadOnlyDataNoReportEvenPossible) {
  long long caught = 0;
  for (int i = 0; i < 3; ++i) {
    RunResult r = RunProgram(
        "preload_race_free_plain", {"readonly", "3000000"},
        Preloaded("mode=ci:preload_period_us=50:backend=hw:print_stats=1:"
                  "report_possible=1"));
    ASSERT_TRUE(r.exited) << r.Describe();
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_FALSE(Contains(r.err, kReport)) << r.Describe();
    EXPECT_TRUE(Contains(r.out, "readonly ok=1\n")) << r.Describe();
    caught += std::max(0LL, Stat(r.err, "lures_caught"));
  }
  EXPECT_GT(caught, 0);
}

struct RaceFreeCase {
  const char* mode;
  const char* expected;
};

void PrintTo(const RaceFreeCase& c, std::ostream* os) { *os << c.mode; }

const RaceFreeCase kRaceFree[] = {
    {"private", "private sum="},  {"mutex", "mutex counter=800000\n"},
    {"spsc", "spsc sum=80000200000\n"}, {"seqlock", "seqlock torn=0\n"},
    {"refcount", "refcount final=1\n"}, {"readonly", "readonly ok=1\n"},
};

void ExpectSilent(const std::string& backend, const RaceFreeCase& c,
                  int runs) {
  for (int i = 0; i < runs; ++i) {
    RunResult r = RunProgram(
        "preload_race_free_plain", {c.mode, "400000"},
        Preloaded("mode=ci:preload_period_us=50:backend=" + backend));
    ASSERT_TRUE(r.exited) << r.Describe();
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_FALSE(Contains(r.err, kReport)) << r.Describe();
    EXPECT_TRUE(Contains(r.out, c.expected)) << r.Describe();
  }
}

class PreloadRaceFreeTest : public testing::TestWithParam<RaceFreeCase> {};
TEST_P(PreloadRaceFreeTest, NoReportSoft) { ExpectSilent("soft", GetParam(), 2); }
INSTANTIATE_TEST_SUITE_P(Modes, PreloadRaceFreeTest, testing::ValuesIn(kRaceFree),
                         [](const auto& info) { return std::string(info.param.mode); });

class PreloadRaceFreeHardwareTest : public testing::TestWithParam<RaceFreeCase> {
 protected:
  void SetUp() override { RequireHardwareBackend(); }
};
TEST_P(PreloadRaceFreeHardwareTest, NoReport) { ExpectSilent("hw", GetParam(), 3); }
INSTANTIATE_TEST_SUITE_P(Modes, PreloadRaceFreeHardwareTest,
                         testing::ValuesIn(kRaceFree),
                         [](const auto& info) { return std::string(info.param.mode); });

void ExpectSharedPtrSilent(const std::string& backend, int runs) {
  for (int i = 0; i < runs; ++i) {
    RunResult r = RunProgram(
        "preload_race_free_shared_ptr", {"200000"},
        Preloaded("mode=ci:preload_period_us=50:backend=" + backend));
    ASSERT_TRUE(r.exited) << r.Describe();
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_FALSE(Contains(r.err, kReport)) << r.Describe();
    EXPECT_TRUE(Contains(r.out, "shared_ptr sums=")) << r.Describe();
  }
}
TEST(PreloadTest, SharedPtrNoReportSoft) { ExpectSharedPtrSilent("soft", 2); }
TEST_F(PreloadHardwareTest, SharedPtrNoReport) { ExpectSharedPtrSilent("hw", 3); }

// fork, exec, signals and blocking system calls under timer-heavy sampling
// (a sample every 20 us of CPU time): the same output and exit status, and
// no EINTR from a poll, epoll_wait, select, read, futex or nanosleep.
void ExpectBehaviourUnchanged(const std::string& backend,
                              const std::string& timer = "perf") {
  RunResult without = RunProgram("preload_behaviour", {"100"}, Plain());
  ASSERT_TRUE(without.exited) << without.Describe();
  ASSERT_EQ(without.exit_code, 3) << without.Describe();
  ASSERT_FALSE(Contains(without.out, "EINTR in")) << without.Describe();
  RunResult with = RunProgram(
      "preload_behaviour", {"100"},
      Preloaded("mode=ci:preload_period_us=20:print_stats=1:preload_timer=" +
                timer + ":backend=" + backend));
  ASSERT_TRUE(with.exited) << with.Describe();
  EXPECT_EQ(with.exit_code, without.exit_code) << with.Describe();
  EXPECT_EQ(with.out, without.out) << with.Describe();
  EXPECT_FALSE(Contains(with.err, kReport)) << with.Describe();
  EXPECT_GT(Stat(with.err, "timer_samples"), 0) << with.Describe();
}
TEST(PreloadTest, BehaviourUnchangedSoft) { ExpectBehaviourUnchanged("soft"); }
// The tick timer's signal is sent on the way back to user mode, never into a
// sleeping system call.
TEST(PreloadTest, BehaviourUnchangedTickTimer) {
  ExpectBehaviourUnchanged("soft", "tick");
}
TEST_F(PreloadHardwareTest, BehaviourUnchanged) { ExpectBehaviourUnchanged("hw"); }

// A library built with the compiler plugin (trapsan-cc -c) but linked
// without the runtime, used by a plain program: its sites take their
// __trapsan_* symbols from the preloaded runtime and sample (label sites
// by int3 here, both sides checked: both stacks in soft mode too).
TEST(PreloadTest, PluginBuiltNotLinked) {
  if (!TRAPSAN_PRELOAD_PLUGIN) GTEST_SKIP() << "the compiler plugin is not built";
  RunResult r = RunUntil(
      "preload_plugin_host", {"500"},
      Preloaded("mode=ci:backend=soft:preload_sampling=0"),
      [](const RunResult& r) {
        return Contains(r.err, "data race in lib_bump / lib_bump");
      },
      5);
  EXPECT_TRUE(Contains(r.err, "data race in lib_bump / lib_bump"))
      << r.Describe();
  EXPECT_TRUE(r.exited && r.exit_code == 66) << r.Describe();
}

// Real programs run unchanged: stdout and exit status, by the shell.
struct Shell {
  int status = -1;
  std::string out;
};
Shell RunShell(const std::string& command) {
  Shell s;
  FILE* f = popen(command.c_str(), "r");
  if (f == nullptr) return s;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) s.out.append(buf, n);
  s.status = pclose(f);
  return s;
}

bool Have(const std::string& tool) {
  return RunShell("command -v " + tool + " >/dev/null 2>&1").status == 0;
}

// `option_sets`: each run of every tool, compared with the run without
// trapsan.
void ExpectRealToolsUnchanged(const std::vector<std::string>& option_sets) {
  const std::string src = TRAPSAN_SOURCE_DIR;
  const std::string make_dir = src + "/tests/preload/make";
  std::vector<std::pair<std::string, std::string>> tools = {
      {"python3", "python3 -c 'import json, threading; "
                  "t = [threading.Thread(target=sum, args=(range(200000),)) "
                  "for _ in range(4)]; [x.start() for x in t]; "
                  "[x.join() for x in t]; print(json.dumps({\"ok\": "
                  "sum(range(10**6))}))'"},
      {"git", "git -C " + src + " rev-list --max-parents=0 HEAD"},
      {"make", "make --no-print-directory -s -C " + make_dir + " -j2 all"},
      {"sqlite3", "sqlite3 :memory: 'create table t(x); insert into t "
                  "values (1),(2),(3); select sum(x) from t;'"},
  };
  int ran = 0;
  for (const auto& [tool, command] : tools) {
    if (!Have(tool)) {
      std::printf("(%s is not installed: not run)\n", tool.c_str());
      continue;
    }
    ++ran;
    Shell without = RunShell("env -u TRAPSAN_OPTIONS -u LD_PRELOAD " + command +
                             " 2>/dev/null");
    for (const std::string& options : option_sets) {
      Shell with = RunShell(std::string("env LD_PRELOAD=") +
                            TRAPSAN_PRELOAD_LIBRARY + " TRAPSAN_OPTIONS=" +
                            options + " " + command + " 2>/dev/null");
      EXPECT_EQ(with.status, without.status) << tool << " " << options;
      EXPECT_EQ(with.out, without.out) << tool << " " << options;
    }
    EXPECT_FALSE(without.out.empty()) << tool;
  }
  EXPECT_GE(ran, 2);
}

// mode=ci (the perf timer) and the defaults (the tick timer).
TEST(PreloadTest, RealToolsUnchanged) {
  ExpectRealToolsUnchanged({"mode=ci:preload_period_us=100", "quiet=1"});
}

// With hardware watchpoints: mode=ci's data lures (read-write watchpoints on
// the tools' data, their catches stalling a thread in its SIGTRAP handler)
// and timer windows, samples every 100 us and every 20 us.
TEST_F(PreloadHardwareTest, RealToolsUnchanged) {
  ExpectRealToolsUnchanged({"mode=ci:backend=hw:preload_period_us=100",
                            "mode=ci:backend=hw:preload_period_us=20"});
}

}  // namespace
}  // namespace trapsan_test
