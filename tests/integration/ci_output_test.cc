// What CI reads (issue 11): format=json and format=sarif, log_path files
// (one per process, none without a report, complete when killed),
// log_path=/dev/null, suppressions, and the options a ThreadSanitizer user
// expects (include, __trapsan_default_options, quiet, log_exe_name,
// strip_path_prefix, abort_on_error). The racy program checks both sides, so
// every backend reports it (the soft one through its window check).
// Machine-readable files are read by check_report.py (python3; SARIF is
// validated with python3-jsonschema).
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

constexpr char kProgram[] = "ci_report";
constexpr char kSource[] = "programs/race_kernel.c";
constexpr char kTitle[] = "data race in racy_reader / racy_writer";

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/trapsan-ci-XXXXXX";
    path_ = mkdtemp(name) != nullptr ? name : "";
  }
  ~TempDir() {
    if (!path_.empty()) {
      (void)!system(("rm -rf '" + path_ + "'").c_str());
    }
  }
  const std::string& path() const { return path_; }
  // The names of the files in it, sorted.
  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    if (DIR* d = opendir(path_.c_str())) {
      while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
      }
      closedir(d);
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  void Clear() const {
    for (const std::string& f : Files()) unlink((path_ + "/" + f).c_str());
  }

 private:
  std::string path_;
};

// check_report.py's KEY=VALUE lines (every ERROR line joined).
std::map<std::string, std::string> Check(const std::string& args) {
  std::string cmd = "python3 '" + TestSourcePath("integration/check_report.py") +
                    "' " + args + " 2>&1";
  std::map<std::string, std::string> values;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return values;
  char line[8192];
  while (fgets(line, sizeof(line), p) != nullptr) {
    std::string l(line);
    while (!l.empty() && l.back() == '\n') l.pop_back();
    size_t eq = l.find('=');
    if (eq == std::string::npos) {
      values["ERROR"] += "[" + l + "]";
      continue;
    }
    std::string key = l.substr(0, eq);
    if (key == "ERROR") {
      values[key] += "[" + l.substr(eq + 1) + "]";
    } else {
      values.emplace(key, l.substr(eq + 1));
    }
  }
  pclose(p);
  return values;
}

std::string Describe(const std::map<std::string, std::string>& values) {
  std::string s;
  for (const auto& [k, v] : values) s += k + "=" + v + "\n";
  return s;
}

RunOptions Options(const std::string& extra) {
  RunOptions o;
  o.trapsan_options = std::string(kAggressive) + (extra.empty() ? "" : ":") + extra;
  return o;
}

bool Reported(const RunResult& r) { return r.exited && r.exit_code == 66; }

std::string WriteLine() {
  return std::to_string(LineOf(kSource, "RACE_WRITE_CHECKED"));
}
std::string ReadLine() {
  return std::to_string(LineOf(kSource, "RACE_READ_CHECKED"));
}

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
      const std::string text = Read(base);
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

// --- Suppressions ---

std::string WriteFile(const TempDir& dir, const std::string& name,
                      const std::string& text) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

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

// An executable script at `path`.
std::string WriteScript(const TempDir& dir, const std::string& name,
                        const std::string& text) {
  const std::string path = WriteFile(dir, name, text);
  chmod(path.c_str(), 0755);
  return path;
}

// Suppressed races are counted (stats and print_suppressions) and cost no
// symbolization after the first: llvm-symbolizer (behind a script that logs
// every request) is asked about each address once, however many suppressed
// races recur, and about no more than one race's two stacks hold.
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
        if (SuppressedCount(r.err) >= 3) return true;
        unlink(log.c_str());  // counted per run
        return false;
      });
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  const long long suppressed = SuppressedCount(r.err);
  ASSERT_GE(suppressed, 3) << r.Describe();
  // The stats say the same.
  const std::vector<std::string> stat = LinesContaining(r.err, "  races_suppressed ");
  ASSERT_EQ(stat.size(), 1u) << r.Describe();
  EXPECT_EQ(std::strtoll(stat[0].c_str() + stat[0].find("races_suppressed") + 16,
                         nullptr, 10),
            suppressed)
      << r.Describe();
  const std::string requests = Read(log);
  std::vector<std::string> lines = LinesContaining(requests, "");
  EXPECT_GT(lines.size(), 0u) << "the script was not used\n" << r.Describe();
  EXPECT_LE(lines.size(), 2u * 32 + 2) << requests << r.Describe();
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(std::adjacent_find(lines.begin(), lines.end()), lines.end())
      << "an address asked twice:\n" << requests;
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
  const std::string text = Read(file);
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
  const std::string text = Read(dir.path() + "/" + file);
  EXPECT_TRUE(Contains(text, " tests/programs/race_kernel.c:" + WriteLine())) << text;
  EXPECT_FALSE(Contains(text, prefix + "tests/programs")) << text;
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
