// What CI reads (issue 11): format=json and format=sarif, log_path files
// (one per process, none without a report, complete when killed),
// log_path=/dev/null, and the options a ThreadSanitizer user expects
// (include, __trapsan_default_options, quiet, log_exe_name,
// strip_path_prefix, abort_on_error, external_symbolizer_path).
// Suppressions: ci_suppressions_test.cc.
// The racy program checks both sides, so every backend reports it (the soft
// one through its window check). Machine-readable files are read by
// check_report.py (python3; SARIF is validated with python3-jsonschema).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "ci_support.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

using namespace ci;  // NOLINT: the CI tests' shared helpers

TEST(CiOutputTest, JsonLinesFilePerProcessWithRaceAndSummary) {
  TempDir dir;
  RunResult r = RunUntil(kProgram, {}, Options("format=json:log_path=" + dir.path() + "/r"),
                         [&](const RunResult& r) {
                           if (Reported(r)) return true;
                           dir.Clear();
                           return false;
                         });
  ASSERT_TRUE(Reported(r)) << r.Describe();
  const std::string file = "r." + std::to_string(r.pid) + ".jsonl";
  ASSERT_EQ(dir.Files(), std::vector<std::string>{file}) << r.Describe();
  auto v = Check("jsonl '" + dir.path() + "/" + file + "'");
  EXPECT_EQ(v["ERROR"], "") << Describe(v);
  // The race, and maybe the same race seen as a value change (unknown origin).
  EXPECT_EQ(v["RACES"], std::to_string(r.Int("STAT_races_reported"))) << Describe(v);
  EXPECT_GE(r.Int("STAT_races_reported"), 1) << r.Describe();
  EXPECT_EQ(v["SUMMARIES"], "1") << Describe(v);
  EXPECT_EQ(v["PID"], std::to_string(r.pid));
  EXPECT_EQ(v["EXE"], ProgramPath(kProgram));
  EXPECT_EQ(v["TITLE"], kTitle);
  EXPECT_EQ(v["FUNCTIONS"], "racy_reader,racy_writer");
  // Both sides, each with its checked line.
  const std::string writer = "racy_writer:" + WriteLine();
  const std::string reader = "racy_reader:" + ReadLine();
  EXPECT_TRUE((v["SAMPLED_TOP"] == writer && v["CONCURRENT_TOP"] == reader) ||
              (v["SAMPLED_TOP"] == reader && v["CONCURRENT_TOP"] == writer))
      << Describe(v);
  EXPECT_EQ(v["LOCATION_KIND"], "global") << Describe(v);
  EXPECT_TRUE(Contains(v["LOCATION"], "global 'g_counter' of size 4")) << Describe(v);
  EXPECT_EQ(v["THREADS"], "2") << Describe(v);
  EXPECT_EQ(v["SUMMARY_RACES_REPORTED"], v["RACES"]) << Describe(v);
  EXPECT_EQ(v["SUMMARY_RACES_FOUND"], std::to_string(r.Int("STAT_races_found")))
      << Describe(v) << r.Describe();
  EXPECT_EQ(v["SUMMARY_DISTINCT"], v["RACES"]) << Describe(v);
  // Nothing of the report on stderr; the exit line is there (not in the file).
  EXPECT_FALSE(Contains(r.err, "WARNING: trapsan:")) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "{\"type\"")) << r.Describe();
  EXPECT_TRUE(Contains(r.err, "trapsan: reported " + v["RACES"] + " data race(s)"))
      << r.Describe();
}

TEST(CiOutputTest, SarifFileIsValidWithBothStacks) {
  TempDir dir;
  RunResult r = RunUntil(kProgram, {}, Options("format=sarif:log_path=" + dir.path() + "/r"),
                         [&](const RunResult& r) {
                           if (Reported(r)) return true;
                           dir.Clear();
                           return false;
                         });
  ASSERT_TRUE(Reported(r)) << r.Describe();
  const std::string file = "r." + std::to_string(r.pid) + ".sarif";
  ASSERT_EQ(dir.Files(), std::vector<std::string>{file}) << r.Describe();
  auto v = Check("sarif '" + dir.path() + "/" + file + "' '" +
                 TestSourcePath("integration/data/sarif-2.1.0-subset.schema.json") + "'");
  EXPECT_EQ(v["ERROR"], "") << Describe(v);
  EXPECT_EQ(v["VALID"], "1") << Describe(v);
  EXPECT_EQ(v["RESULTS"], std::to_string(r.Int("STAT_races_reported"))) << Describe(v);
  EXPECT_EQ(v["TWO_SIDED"], "1") << Describe(v);
  EXPECT_EQ(v["PROCESS_ID"], std::to_string(r.pid));
  EXPECT_EQ(v["THREADFLOWS"], "2") << Describe(v);
  const std::string uri = "file://" + TestSourcePath(kSource);
  const std::string w = uri + ":" + WriteLine(), rd = uri + ":" + ReadLine();
  EXPECT_TRUE((v["TOP"] == w && v["RELATED"] == rd) || (v["TOP"] == rd && v["RELATED"] == w))
      << Describe(v);
  EXPECT_TRUE(v["FLOW_TOPS"] == "racy_reader,racy_writer" ||
              v["FLOW_TOPS"] == "racy_writer,racy_reader")
      << Describe(v);
  EXPECT_EQ(v["FINGERPRINT"], "racy_reader / racy_writer");
  EXPECT_FALSE(Contains(r.err, "WARNING: trapsan:")) << r.Describe();
}

// Without line information (symbolize=0: module+offset only) each result
// still names an artifact, the module, as GitHub code scanning requires of
// every result location (else it refuses the whole log); check_report.py
// checks that for every SARIF test.
TEST(CiOutputTest, SarifWithoutSourceNamesTheModule) {
  TempDir dir;
  RunResult r = RunUntil(kProgram, {},
                         Options("symbolize=0:format=sarif:log_path=" + dir.path() + "/r"),
                         [&](const RunResult& r) {
                           if (Reported(r)) return true;
                           dir.Clear();
                           return false;
                         });
  ASSERT_TRUE(Reported(r)) << r.Describe();
  const std::string file = dir.path() + "/r." + std::to_string(r.pid) + ".sarif";
  auto v = Check("sarif '" + file + "' '" +
                 TestSourcePath("integration/data/sarif-2.1.0-subset.schema.json") + "'");
  EXPECT_EQ(v["ERROR"], "") << Describe(v);
  EXPECT_EQ(v["VALID"], "1") << Describe(v);
  EXPECT_EQ(v["RESULTS"], std::to_string(r.Int("STAT_races_reported"))) << Describe(v);
  EXPECT_TRUE(Contains(ReadFile(file), "\"artifactLocation\":{\"uri\":\"ci_report\"}"))
      << ReadFile(file);
}

// A file an earlier process with the same pid left (pids are reused; a CI
// keeps its log directory) is emptied at this process's first report, not
// appended to: one process's reports per file, one JSON summary. (TSan
// truncates too.)
TEST(CiOutputTest, FileOfAnEarlierProcessWithThePidStartsOver) {
  for (const std::string format : {"json", "text", "sarif"}) {
    TempDir dir;
    const std::string ext = format == "json" ? ".jsonl" : format == "sarif" ? ".sarif" : "";
    RunOptions o = Options("format=" + format + ":log_path=" + dir.path() + "/r");
    o.extra_env = {{"TP_OLD_LOG", dir.path() + "/r.%d" + ext}};
    RunResult r = RunUntil(kProgram, {}, o, [&](const RunResult& r) {
      if (Reported(r)) return true;
      dir.Clear();
      return false;
    });
    ASSERT_TRUE(Reported(r)) << format << "\n" << r.Describe();
    const std::string file = dir.path() + "/r." + std::to_string(r.pid) + ext;
    ASSERT_EQ(r.Value("OLD_LOG"), file) << r.Describe();  // planted where trapsan writes
    const std::string text = ReadFile(file);
    EXPECT_FALSE(Contains(text, "OLD-PROCESS-LINE")) << text;
    if (format == "json") {
      auto v = Check("jsonl '" + file + "'");
      EXPECT_EQ(v["ERROR"], "") << Describe(v);
      EXPECT_EQ(v["RACES"], std::to_string(r.Int("STAT_races_reported"))) << Describe(v);
      EXPECT_EQ(v["SUMMARIES"], "1") << Describe(v);
    } else if (format == "sarif") {
      auto v = Check("sarif '" + file + "' '" +
                     TestSourcePath("integration/data/sarif-2.1.0-subset.schema.json") + "'");
      EXPECT_EQ(v["VALID"], "1") << Describe(v);
      EXPECT_EQ(v["RESULTS"], std::to_string(r.Int("STAT_races_reported"))) << Describe(v);
    } else {
      EXPECT_EQ(text.rfind("==================", 0), 0u) << text;
      EXPECT_TRUE(Contains(text, kTitle)) << text;
    }
  }
}

// The same pid in an exec'd image is the same process: its reports follow
// those of the image before it in one file (only the last image, which
// exits, writes a JSON summary; SARIF: one valid log with both images'
// results).
TEST(CiOutputTest, ExecdImageAddsToTheFileOfTheImageBefore) {
  for (const std::string format : {"json", "text", "sarif"}) {
    TempDir dir;
    const std::string ext = format == "json" ? ".jsonl" : format == "sarif" ? ".sarif" : "";
    RunResult r = RunUntil(kProgram, {"exec"},
                           Options("format=" + format + ":log_path=" + dir.path() + "/r"),
                           [&](const RunResult& r) {
                             if (Reported(r) && r.Int("EXEC_REPORTS") > 0) return true;
                             dir.Clear();
                             return false;
                           });
    ASSERT_TRUE(Reported(r) && r.Int("EXEC_REPORTS") > 0) << format << "\n" << r.Describe();
    ASSERT_EQ(r.Value("EXEC_PID"), std::to_string(r.pid)) << r.Describe();
    ASSERT_GE(r.Int("STAT_races_reported"), 1) << r.Describe();  // the exec'd image's
    const std::string file = "r." + std::to_string(r.pid) + ext;
    ASSERT_EQ(dir.Files(), std::vector<std::string>{file}) << r.Describe();
    const std::string text = ReadFile(dir.path() + "/" + file);
    if (format == "json") {
      auto v = Check("jsonl '" + dir.path() + "/" + file + "'");
      EXPECT_EQ(v["ERROR"], "") << Describe(v);
      // Races of both images (each counts its own reports, which may
      // include a race at unknown origin besides the pair).
      EXPECT_GE(std::stoll(v["RACES"]), r.Int("STAT_races_reported") + 1) << Describe(v);
      EXPECT_EQ(v["SUMMARIES"], "1") << Describe(v);
      EXPECT_EQ(v["SUMMARY_RACES_REPORTED"], std::to_string(r.Int("STAT_races_reported")))
          << Describe(v);
      EXPECT_EQ(v["PID"], std::to_string(r.pid)) << Describe(v);
    } else if (format == "sarif") {
      auto v = Check("sarif '" + dir.path() + "/" + file + "' '" +
                     TestSourcePath("integration/data/sarif-2.1.0-subset.schema.json") + "'");
      EXPECT_EQ(v["ERROR"], "") << Describe(v);
      EXPECT_EQ(v["VALID"], "1") << Describe(v);
      EXPECT_GE(std::stoll(v["RESULTS"]), r.Int("STAT_races_reported") + 1) << Describe(v);
      EXPECT_EQ(v["PROCESS_ID"], std::to_string(r.pid)) << Describe(v);
    } else {
      EXPECT_GE(CountOccurrences(text, std::string("WARNING: trapsan: ") + kTitle), 2) << text;
    }
  }
}

// SIGKILL right after the first report (a test runner's timeout): no exit
// handler runs, and the files hold the complete report all the same.
TEST(CiOutputTest, KilledProcessLeavesCompleteFiles) {
  for (const std::string format : {"json", "sarif", "text"}) {
    TempDir dir;
    RunResult r = RunUntil(kProgram, {"kill"},
                           Options("format=" + format + ":log_path=" + dir.path() + "/r"),
                           [&](const RunResult& r) {
                             if (r.signaled) return true;
                             dir.Clear();
                             return false;
                           });
    ASSERT_TRUE(r.signaled && r.signal == SIGKILL) << format << "\n" << r.Describe();
    ASSERT_EQ(r.Value("KILLING"), "1") << r.Describe();
    const std::string base = dir.path() + "/r." + std::to_string(r.pid);
    if (format == "json") {
      auto v = Check("jsonl '" + base + ".jsonl'");
      EXPECT_EQ(v["ERROR"], "") << Describe(v);
      EXPECT_EQ(v["RACES"], r.Value("REPORTS")) << Describe(v);
      EXPECT_EQ(v["FUNCTIONS"], "racy_reader,racy_writer") << Describe(v);
      EXPECT_EQ(v["SUMMARIES"], "0") << Describe(v);  // no exit: no summary
    } else if (format == "sarif") {
      auto v = Check("sarif '" + base + ".sarif' '" +
                     TestSourcePath("integration/data/sarif-2.1.0-subset.schema.json") + "'");
      EXPECT_EQ(v["ERROR"], "") << Describe(v);
      EXPECT_EQ(v["VALID"], "1") << Describe(v);
      EXPECT_EQ(v["RESULTS"], r.Value("REPORTS")) << Describe(v);
      EXPECT_EQ(v["TWO_SIDED"], "1") << Describe(v);
    } else {
      const std::string text = ReadFile(base);
      EXPECT_EQ(std::to_string(ReportBlocks(text).size()), r.Value("REPORTS")) << text;
      EXPECT_TRUE(Contains(text, kTitle)) << text;
    }
  }
}

// A process with nothing to report leaves no file, even with the start-up
// line asked for (it goes to stderr).
TEST(CiOutputTest, NoFileWithoutReport) {
  TempDir dir;
  RunOptions o;
  for (const std::string format : {"text", "json", "sarif"}) {
    o.trapsan_options = std::string(kManyShortWindows) + ":verbosity=1:format=" + format +
                        ":log_path=" + dir.path() + "/r";
    RunResult r = RunProgram("mutex_counter", {"200"}, o);
    ASSERT_TRUE(r.exited) << r.Describe();
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();
    EXPECT_EQ(dir.Files().size(), 0u) << format << "\n" << r.Describe();
    EXPECT_EQ(LinesContaining(r.err, "trapsan: started:").size(), 1u) << r.Describe();
  }
}

TEST(CiOutputTest, LogPathDevNullDiscardsAndCreatesNothing) {
  struct stat before;
  ASSERT_EQ(stat("/dev/null", &before), 0);
  RunResult r = RunUntil(kProgram, {}, Options("log_path=/dev/null"), Reported);
  ASSERT_TRUE(Reported(r)) << r.Describe();
  struct stat st;
  EXPECT_NE(stat(("/dev/null." + std::to_string(r.pid)).c_str(), &st), 0)
      << "/dev/null.<pid> was created";
  EXPECT_FALSE(Contains(r.err, "trapsan")) << r.Describe();
  EXPECT_GE(r.Int("REPORTS"), 1) << r.Describe();  // still found and reported
}

TEST(CiOutputTest, LogPathStderrAndStdoutJson) {
  RunResult r = RunUntil(kProgram, {}, Options("format=json:log_path=stdout"), Reported);
  ASSERT_TRUE(Reported(r)) << r.Describe();
  std::vector<std::string> lines = LinesContaining(
      r.out, "\"title\":\"data race in racy_reader / racy_writer\",\"summary\"");
  ASSERT_EQ(lines.size(), 1u) << r.Describe();
  EXPECT_EQ(lines[0].rfind("{\"type\":\"race\",", 0), 0u) << lines[0];
  EXPECT_EQ(std::to_string(LinesContaining(r.out, "{\"type\":\"race\"").size()),
            r.Value("REPORTS"));
  EXPECT_EQ(LinesContaining(r.out, "{\"type\":\"summary\"").size(), 1u) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "{\"type\"")) << r.Describe();
}

// --- Options a ThreadSanitizer user expects ---

// __trapsan_default_options() (ci_report returns TP_DEFAULT_OPTIONS), then
// TRAPSAN_OPTIONS with include=FILE: later items win.
TEST(CiOptionsTest, DefaultOptionsHookThenEnvironmentWithInclude) {
  TempDir dir;
  const std::string opts =
      WriteFile(dir, "ci.opts", "# options for CI\nexitcode=42   # not 66\nformat=text\n");
  RunOptions o = Options("include=" + opts);
  o.extra_env = {{"TP_DEFAULT_OPTIONS", "format=json:log_path=stdout:exitcode=7"}};
  RunResult r = RunUntil(kProgram, {}, o, [](const RunResult& r) {
    return r.exited && r.exit_code == 42;
  });
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 42) << r.Describe();               // include over the hook
  EXPECT_TRUE(Contains(r.out, std::string("WARNING: trapsan: ") + kTitle))  // hook's log_path
      << r.Describe();
  EXPECT_FALSE(Contains(r.out, "{\"type\"")) << r.Describe();  // include's format
  // The hook alone.
  RunOptions h = Options("");
  h.extra_env = {{"TP_DEFAULT_OPTIONS", "format=json:log_path=stdout:exitcode=7"}};
  r = RunUntil(kProgram, {}, h, [](const RunResult& r) { return r.exited && r.exit_code == 7; });
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 7) << r.Describe();
  EXPECT_EQ(LinesContaining(r.out, "{\"type\":\"summary\"").size(), 1u) << r.Describe();
}

TEST(CiOptionsTest, UnreadableIncludeIsOneError) {
  RunOptions o;
  o.trapsan_options = std::string(kManyShortWindows) + ":include=/nonexistent/x.opts";
  RunResult r = RunProgram("mutex_counter", {"200"}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(LinesContaining(r.err, "cannot read include file '/nonexistent/x.opts'").size(),
            1u)
      << r.Describe();
}

// quiet=1: the report, nothing else (no start-up line, fallback warning or
// exit line), even with verbosity=1.
TEST(CiOptionsTest, QuietPrintsOnlyReports) {
  RunResult r = RunUntil(kProgram, {}, Options("quiet=1:verbosity=1"), Reported);
  ASSERT_TRUE(Reported(r)) << r.Describe();
  EXPECT_TRUE(Contains(r.err, kTitle)) << r.Describe();
  for (const std::string& line : LinesContaining(r.err, "trapsan")) {
    EXPECT_TRUE(Contains(line, "WARNING: trapsan: data race") ||
                Contains(line, "SUMMARY: trapsan: data race"))
        << line << "\n" << r.Describe();
  }
}

// quiet=1 by construction: with the reports in a log_path file, nothing at
// all reaches stderr (not trapsan's lines, nor those of the llvm-symbolizer
// it starts: here one that warns on stderr), and the file holds reports
// only. Errors still show.
TEST(CiOptionsTest, QuietLeavesStderrEmpty) {
  TempDir dir, tools;
  const std::string symbolizer = WriteScript(
      tools, "symbolizer.sh",
      "#!/bin/sh\necho 'symbolizer: warning: not a report' >&2\n"
      "exec /usr/bin/llvm-symbolizer \"$@\"\n");
  const std::string base = "verbosity=2:symbolizer_path=" + symbolizer + ":log_path=" +
                           dir.path() + "/r";
  RunResult loud = RunUntil(kProgram, {}, Options(base), Reported);
  ASSERT_TRUE(Reported(loud)) << loud.Describe();
  EXPECT_TRUE(Contains(loud.err, "symbolizer: warning")) << loud.Describe();  // the control
  dir.Clear();
  RunResult r = RunUntil(kProgram, {}, Options(base + ":quiet=1"), [&](const RunResult& r) {
    if (Reported(r)) return true;
    dir.Clear();
    return false;
  });
  ASSERT_TRUE(Reported(r)) << r.Describe();
  EXPECT_EQ(r.err, "") << r.Describe();
  const std::string file = dir.path() + "/r." + std::to_string(r.pid);
  const std::string text = ReadFile(file);
  EXPECT_TRUE(Contains(text, kTitle)) << text;
  // Every line inside a report's ===== rules.
  bool inside = false;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("==================", 0) == 0) {
      inside = !inside;
      continue;
    }
    EXPECT_TRUE(inside) << "outside a report: '" << line << "'\n" << text;
  }
  EXPECT_FALSE(inside) << text;
  // An error is not dropped.
  r = RunUntil(kProgram, {}, Options(base + ":quiet=1:bogus_option=1"), Reported);
  ASSERT_TRUE(Reported(r)) << r.Describe();
  EXPECT_EQ(LinesContaining(r.err, "trapsan: ERROR: unknown option 'bogus_option'").size(), 1u)
      << r.Describe();
  EXPECT_EQ(LinesContaining(r.err, "").size(), 1u) << r.Describe();
}

TEST(CiOptionsTest, LogExeNameAndStripPathPrefix) {
  TempDir dir;
  const std::string prefix = std::string(TRAPSAN_SOURCE_DIR) + "/";
  RunResult r = RunUntil(
      kProgram, {},
      Options("log_exe_name=1:strip_path_prefix=" + prefix + ":log_path=" + dir.path() + "/r"),
      [&](const RunResult& r) {
        if (Reported(r)) return true;
        dir.Clear();
        return false;
      });
  ASSERT_TRUE(Reported(r)) << r.Describe();
  const std::string file = "r.ci_report." + std::to_string(r.pid);
  ASSERT_EQ(dir.Files(), std::vector<std::string>{file}) << r.Describe();
  const std::string text = ReadFile(dir.path() + "/" + file);
  EXPECT_TRUE(Contains(text, " tests/programs/race_kernel.c:" + WriteLine())) << text;
  EXPECT_FALSE(Contains(text, prefix + "tests/programs")) << text;
}

// strip_path_prefix in the machine-readable formats too: the JSON frames'
// "file" and the SARIF artifact URIs are relative to the source tree (what
// code scanning maps to the repository).
TEST(CiOptionsTest, StripPathPrefixInJsonAndSarif) {
  const std::string prefix = std::string(TRAPSAN_SOURCE_DIR) + "/";
  for (const std::string format : {"json", "sarif"}) {
    TempDir dir;
    RunResult r = RunUntil(
        kProgram, {},
        Options("format=" + format + ":strip_path_prefix=" + prefix + ":log_path=" +
                dir.path() + "/r"),
        [&](const RunResult& r) {
          if (Reported(r)) return true;
          dir.Clear();
          return false;
        });
    ASSERT_TRUE(Reported(r)) << r.Describe();
    const std::string base = dir.path() + "/r." + std::to_string(r.pid);
    if (format == "json") {
      auto v = Check("jsonl '" + base + ".jsonl'");
      EXPECT_EQ(v["ERROR"], "") << Describe(v);
      EXPECT_EQ(v["SAMPLED_FILE"], "tests/programs/race_kernel.c") << Describe(v);
    } else {
      auto v = Check("sarif '" + base + ".sarif' '" +
                     TestSourcePath("integration/data/sarif-2.1.0-subset.schema.json") + "'");
      EXPECT_EQ(v["ERROR"], "") << Describe(v);
      EXPECT_EQ(v["VALID"], "1") << Describe(v);
      const std::string uri = "tests/programs/race_kernel.c:";
      EXPECT_TRUE(v["TOP"].rfind(uri, 0) == 0 && v["RELATED"].rfind(uri, 0) == 0)
          << Describe(v);
    }
    // No source path left whole (the executable's path is no source path).
    const std::string text = ReadFile(base + (format == "json" ? ".jsonl" : ".sarif"));
    EXPECT_FALSE(Contains(text, prefix + "tests/programs")) << text;
    EXPECT_TRUE(Contains(text, "tests/programs/race_kernel.c")) << text;
  }
}

// ThreadSanitizer's option name external_symbolizer_path (trapsan's
// symbolizer_path): the named symbolizer is the one run (it leaves a mark),
// and reports carry its file:line.
TEST(CiOptionsTest, TsanExternalSymbolizerPathIsUsed) {
  TempDir tools;
  const std::string mark = tools.path() + "/ran";
  const std::string symbolizer =
      WriteScript(tools, "symbolizer.sh",
                  "#!/bin/sh\ntouch '" + mark + "'\nexec /usr/bin/llvm-symbolizer \"$@\"\n");
  RunResult r = RunUntil(kProgram, {}, Options("external_symbolizer_path=" + symbolizer),
                         Reported);
  ASSERT_TRUE(Reported(r)) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "unknown option")) << r.Describe();
  EXPECT_EQ(access(mark.c_str(), F_OK), 0) << "the symbolizer named did not run\n"
                                           << r.Describe();
  EXPECT_TRUE(Contains(r.err, "race_kernel.c:" + WriteLine()) ||
              Contains(r.err, "race_kernel.c:" + ReadLine()))
      << r.Describe();
}

TEST(CiOptionsTest, AbortOnErrorEndsWithSigabrt) {
  RunResult r = RunUntil(kProgram, {}, Options("abort_on_error=1"),
                         [](const RunResult& r) { return r.signaled; });
  ASSERT_TRUE(r.signaled) << r.Describe();
  EXPECT_EQ(r.signal, SIGABRT) << r.Describe();
  EXPECT_TRUE(Contains(r.err, kTitle)) << r.Describe();
  EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();  // at exit, not before
}

}  // namespace
}  // namespace trapsan_test
