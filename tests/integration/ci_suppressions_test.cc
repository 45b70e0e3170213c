// Suppressions (issue 11, item 1) end to end: ThreadSanitizer's syntax in a
// suppressions= file, matched against the names of real reports (function,
// file, module, global; top frames or any frame of either stack),
// print_suppressions, errors naming the file and line, relative paths, and
// the decision kept per pair of stacks (a suppressed race is symbolized once).
// Rule semantics in detail: tests/unit/suppressions_test.cc.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ci_support.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

using namespace ci;  // NOLINT: the CI tests' shared helpers

// The count print_suppressions gives `rule`, or -1.
long long SuppressionCount(const std::string& err, const std::string& rule) {
  for (const std::string& line : LinesContaining(err, " " + rule + " (line ")) {
    return std::strtoll(line.c_str(), nullptr, 10);
  }
  return -1;
}

// The racy pair, suppressed by the global it races on (a race at unknown
// origin, which names only one side, is suppressed by it too) or by either
// top frame: nothing reported, exit 0, and print_suppressions counts it.
TEST(CiSuppressionsTest, MatchedRacesAreSilentAndCounted) {
  TempDir dir;
  const std::string file = WriteFile(
      dir, "s.supp",
      "# the racy pair of race_kernel.c\n\nrace:^g_counter$\nrace_top:^racy_\n");
  for (const std::string rule : {"race:^g_counter$", "race_top:^racy_"}) {
    const std::string only = WriteFile(dir, "only.supp", "# one rule\n  " + rule + "  \n");
    (void)file;
    RunResult r = RunUntil(
        kProgram, {"exit", "1500"},
        Options("print_suppressions=1:suppressions=" + only),
        [&](const RunResult& r) { return SuppressionCount(r.err, rule) >= 1; });
    ASSERT_TRUE(r.exited) << r.Describe();
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();
    EXPECT_EQ(r.Int("REPORTS"), 0) << r.Describe();
    EXPECT_EQ(r.Int("STAT_races_found"), 0) << r.Describe();
    EXPECT_FALSE(Contains(r.err, "WARNING: trapsan: data race")) << r.Describe();
    EXPECT_TRUE(Contains(r.err, "trapsan: suppressions used:")) << r.Describe();
    EXPECT_GE(SuppressionCount(r.err, rule), 1) << r.Describe();
  }
}

// A bad line is an error naming the file and line; the good lines apply, and
// a race no rule matches is still reported.
TEST(CiSuppressionsTest, BadLineIsAnErrorWithFileAndLine) {
  TempDir dir;
  const std::string file =
      WriteFile(dir, "bad.supp", "race:not_in_this_program\nrcae:racy_writer\n");
  RunResult r = RunUntil(kProgram, {}, Options("suppressions=" + file), Reported);
  ASSERT_TRUE(Reported(r)) << r.Describe();
  std::vector<std::string> lines = LinesContaining(r.err, "trapsan: ERROR: suppressions");
  ASSERT_EQ(lines.size(), 1u) << r.Describe();
  EXPECT_EQ(lines[0], "trapsan: ERROR: suppressions file '" + file +
                          "' line 2: unknown suppression type 'rcae' (expected race, "
                          "race_top or called_from_lib) (got 'rcae:racy_writer')");
  EXPECT_TRUE(Contains(r.err, kTitle)) << r.Describe();
}

TEST(CiSuppressionsTest, MissingFileIsOneError) {
  RunOptions o = Options("suppressions=/nonexistent/trapsan.supp");
  RunResult r = RunUntil(kProgram, {}, o, Reported);
  ASSERT_TRUE(Reported(r)) << r.Describe();
  EXPECT_EQ(LinesContaining(r.err, "trapsan: ERROR: cannot read suppressions file "
                                   "'/nonexistent/trapsan.supp': No such file")
                .size(),
            1u)
      << r.Describe();
}

// How many races print_suppressions says were suppressed, or -1.
long long SuppressedCount(const std::string& err) {
  const std::string head = "trapsan: suppressions used: ";
  for (const std::string& line : LinesContaining(err, head)) {
    return std::strtoll(line.c_str() + line.find(head) + head.size(), nullptr, 10);
  }
  return -1;
}

// Suppressed races are counted (stats and print_suppressions) and cost no
// symbolization after the first: llvm-symbolizer (behind a script that logs
// every request) is asked about each address once, however many suppressed
// races recur, and about no more than one race's two stacks hold; and the
// reporter's own count says every race after the first of its pair of
// stacks was decided without symbolizing (LOOKUPS_*: test_hooks.cpp).
TEST(CiSuppressionsTest, SuppressedRacesAreCountedAndSymbolizedOnce) {
  TempDir dir;
  const std::string supp = WriteFile(dir, "s.supp", "race_top:^racy_\n");
  const std::string log = dir.path() + "/requests";
  const std::string symbolizer = WriteScript(
      dir, "symbolizer.sh",
      "#!/bin/sh\ntee -a '" + log + "' | exec /usr/bin/llvm-symbolizer \"$@\"\n");
  RunResult r = RunUntil(
      kProgram, {"exit", "3000"},
      Options("print_suppressions=1:print_stats=1:symbolizer_path=" + symbolizer +
              ":suppressions=" + supp),
      [&](const RunResult& r) {
        if (SuppressedCount(r.err) >= 10) return true;
        unlink(log.c_str());  // counted per run
        return false;
      });
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  const long long suppressed = SuppressedCount(r.err);
  ASSERT_GE(suppressed, 10) << r.Describe();
  // Every race was looked up (the rule suppresses all of this program's):
  // symbolized once per pair of stacks (the two sides in either order, each
  // maybe also seen as a value change: a few), every other one answered
  // from the decision kept for its pair.
  const long long symbolized = r.Int("LOOKUPS_SYMBOLIZED");
  const long long cached = r.Int("LOOKUPS_CACHED");
  EXPECT_EQ(symbolized + cached, suppressed) << r.Describe();
  EXPECT_GE(symbolized, 1) << r.Describe();
  EXPECT_LE(symbolized, 8) << r.Describe();
  EXPECT_GE(cached, suppressed - 8) << r.Describe();
  // What that saves (printed for the record, not asserted: machine speed).
  std::printf("suppressed %lld: %lld symbolized, mean %lld us; %lld from the kept "
              "decision, mean %lld ns\n",
              suppressed, symbolized,
              symbolized ? r.Int("LOOKUPS_SYMBOLIZED_NS") / symbolized / 1000 : 0,
              cached, cached ? r.Int("LOOKUPS_CACHED_NS") / cached : 0);
  // The stats say the same.
  const std::vector<std::string> stat = LinesContaining(r.err, "  races_suppressed ");
  ASSERT_EQ(stat.size(), 1u) << r.Describe();
  EXPECT_EQ(std::strtoll(stat[0].c_str() + stat[0].find("races_suppressed") + 16,
                         nullptr, 10),
            suppressed)
      << r.Describe();
  // llvm-symbolizer's side: each code address asked once (the symbolizer's
  // cache), the global's address once per symbolized pair of stacks (with
  // hardware watchpoints the checked and the trapped lines make a few
  // pairs), whatever the number of races.
  const std::string requests = ReadFile(log);
  std::vector<std::string> code = LinesContaining(requests, "CODE ");
  const std::vector<std::string> data = LinesContaining(requests, "DATA ");
  EXPECT_GT(code.size(), 0u) << "the script was not used\n" << r.Describe();
  EXPECT_LE(code.size() + data.size(), 2u * 32 + 2 + 8) << requests << r.Describe();
  EXPECT_LE(static_cast<long long>(data.size()), symbolized) << requests;
  EXPECT_EQ(code.size() + data.size(), LinesContaining(requests, "").size()) << requests;
  std::sort(code.begin(), code.end());
  EXPECT_EQ(std::adjacent_find(code.begin(), code.end()), code.end())
      << "a code address asked twice:\n" << requests;
}

// Rules matched against the names in real reports, each rule alone: the
// source file of the top frames, the executable's path (module) of the top
// frames (race: and called_from_lib:), a deeper frame's function and its
// module (start_thread in libc: below the thread function in both stacks),
// and a rule naming one side only (either stack: whichever side was
// sampled). Suppressed: no report of the pair, and print_suppressions counts
// the rule. A race at unknown origin names one side only: with the
// one-sided rule the other side's may still be reported (nothing else).
TEST(CiSuppressionsTest, FileModuleDeeperFrameAndEitherSide) {
  TempDir dir;
  struct Case {
    std::string rule;
    bool all;  // suppresses every race this program has
  };
  for (const Case& c : {Case{"race:race_kernel.c$", true}, Case{"race:/ci_report$", true},
                        Case{"called_from_lib:ci_report$", true},
                        Case{"race:^start_thread$", true}, Case{"race:libc.so.6$", true},
                        Case{"race_top:^racy_reader$", false}}) {
    const std::string file = WriteFile(dir, "one.supp", c.rule + "\n");
    RunResult r = RunUntil(
        kProgram, {"exit", "1500"}, Options("print_suppressions=1:suppressions=" + file),
        [&](const RunResult& r) { return SuppressionCount(r.err, c.rule) >= 1; });
    ASSERT_GE(SuppressionCount(r.err, c.rule), 1) << c.rule << "\n" << r.Describe();
    ASSERT_TRUE(r.exited) << c.rule << "\n" << r.Describe();
    EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();
    EXPECT_FALSE(Contains(r.err, kTitle)) << c.rule << "\n" << r.Describe();
    if (c.all) {
      EXPECT_EQ(r.exit_code, 0) << c.rule << "\n" << r.Describe();
      EXPECT_FALSE(Contains(r.err, "WARNING: trapsan: data race")) << r.Describe();
    } else {
      for (const std::string& line : LinesContaining(r.err, "WARNING: trapsan: data race")) {
        EXPECT_TRUE(Contains(line, "data race in racy_writer / <unknown origin>"))
            << c.rule << ": " << line << "\n" << r.Describe();
      }
    }
  }
}

// A relative suppressions= in an options file read through include= is
// found beside that file, wherever the program runs; given directly, in the
// working directory; a missing one is an error naming that directory.
TEST(CiSuppressionsTest, RelativePathsResolveBesideTheOptionsFile) {
  TempDir dir;
  ASSERT_EQ(mkdir((dir.path() + "/conf").c_str(), 0755), 0);
  const std::string rule = "race_top:^racy_";
  WriteFile(dir, "conf/races.supp", rule + "\n");
  const std::string opts =
      WriteFile(dir, "conf/ci.opts", "suppressions=races.supp  # beside me\n");
  auto suppressed = [&](const RunResult& r) { return SuppressionCount(r.err, rule) >= 1; };
  RunResult r = RunUntil(kProgram, {"exit", "1500"},
                         Options("print_suppressions=1:include=" + opts), suppressed);
  EXPECT_TRUE(suppressed(r)) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "trapsan: ERROR")) << r.Describe();

  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(chdir((dir.path() + "/conf").c_str()), 0);
  r = RunUntil(kProgram, {"exit", "1500"},
               Options("print_suppressions=1:suppressions=races.supp"), suppressed);
  RunResult missing = RunUntil(kProgram, {}, Options("suppressions=missing.supp"), Reported);
  ASSERT_EQ(chdir(cwd), 0);
  EXPECT_TRUE(suppressed(r)) << r.Describe();
  ASSERT_TRUE(Reported(missing)) << missing.Describe();
  EXPECT_EQ(LinesContaining(missing.err,
                            "trapsan: ERROR: cannot read suppressions file 'missing.supp' "
                            "(relative to the working directory '" +
                                dir.path() + "/conf'): No such file or directory; no "
                                             "race is suppressed")
                .size(),
            1u)
      << missing.Describe();
}

}  // namespace
}  // namespace trapsan_test
