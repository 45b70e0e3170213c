// The integration tests' harness: runs a test program (tests/programs) as a
// child process with TRAPSAN_OPTIONS set, captures its stdout, stderr and
// exit status (with a timeout), and helps asserting on what a user sees.
#ifndef TRAPSAN_TESTS_INTEGRATION_HARNESS_H_
#define TRAPSAN_TESTS_INTEGRATION_HARNESS_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace trapsan_test {

struct RunResult {
  pid_t pid = -1;
  bool exited = false;   // WIFEXITED
  int exit_code = -1;    // WEXITSTATUS, when exited
  bool signaled = false; // WIFSIGNALED
  int signal = 0;        // WTERMSIG, when signaled
  bool timed_out = false;
  std::string out, err;  // stdout, stderr
  double seconds = 0;
  int attempts = 1;      // runs made by RunUntil

  // stdout's KEY=VALUE lines (the first value of each key).
  std::map<std::string, std::string> Values() const;
  // Value of KEY, or "" if absent.
  std::string Value(const std::string& key) const;
  // Value of KEY as an integer, or -1 if absent or not a number.
  long long Int(const std::string& key) const;
  // Everything, for failure messages.
  std::string Describe() const;
};

// How much slower than a native machine this one is taken to be: the
// environment's TRAPSAN_TEST_TIME_SCALE (the lab guest sets it; docs/lab.md),
// at least 1. Time limits scale by it (RunOptions::timeout_ms, the programs'
// max_ms through tests/programs/common.h), so verdicts do not depend on speed.
double TimeScale();

struct RunOptions {
  // TRAPSAN_OPTIONS for the child; nullopt removes it from the environment.
  std::optional<std::string> trapsan_options;
  int timeout_ms = 30000;  // scaled by TimeScale()
  std::vector<std::pair<std::string, std::string>> extra_env;
  // Start the program with SIGTRAP blocked (a blocked mask survives exec:
  // a parent such as a process supervisor can hand it down).
  bool block_sigtrap = false;
  // The backend probe: never gets TRAPSAN_TEST_EXTRA_OPTIONS.
  bool is_probe = false;
};

// Path of a test program by name (tests/programs, e.g. "racy_counter").
std::string ProgramPath(const std::string& name);
// Path of a file in the source tree, relative to tests/.
std::string TestSourcePath(const std::string& relative);

RunResult RunProgram(const std::string& program, const std::vector<std::string>& args,
              const RunOptions& options);

// Race detection is probabilistic: runs up to `attempts` times until
// `done(result)` holds; returns the last run (attempts set).
RunResult RunUntil(const std::string& program,
                   const std::vector<std::string>& args,
                   const RunOptions& options,
                   const std::function<bool(const RunResult&)>& done,
                   int attempts = 5);

// Options for racy programs: every check samples, long windows, no budget.
inline constexpr char kAggressive[] =
    "sample_rate=1:delay_us=2000:max_overhead=0";
// Options for race-free programs: every check samples, short windows.
inline constexpr char kManyShortWindows[] =
    "sample_rate=1:delay_us=20:max_overhead=0";

// 1-based line of the first line of tests/<relative> containing `marker`;
// fails the test (and returns -1) when not found.
int LineOf(const std::string& relative, const std::string& marker);

int CountOccurrences(const std::string& text, const std::string& needle);
// The report blocks ("WARNING: trapsan: ..." up to its SUMMARY line).
std::vector<std::string> ReportBlocks(const std::string& text);
// Lines of `text` containing `needle`.
std::vector<std::string> LinesContaining(const std::string& text,
                                         const std::string& needle);
bool Contains(const std::string& text, const std::string& needle);
bool MatchesRegex(const std::string& text, const std::string& regex);

// The whole of a file ("" if it cannot be read).
std::string ReadFile(const std::string& path);

// A fresh directory under /tmp (for log_path files, scripts), removed with
// everything in it at the end of the test; path() is "" if none could be
// made.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // The names of the files in it, sorted.
  std::vector<std::string> Files() const;
  // Removes the files in it (between attempts of RunUntil).
  void Clear() const;

 private:
  std::string path_;
};

// The backend trapsan picks here, from programs/probe_backend (run once).
struct BackendProbe {
  std::string backend;  // "hw", "soft", "off" or "" if the probe failed
  int hw_slots = 0;
  std::string details;  // the probe's output, for messages
};
const BackendProbe& ProbeBackend();

// For tests that need hardware watchpoints (call it from a fixture's SetUp,
// as HardwareTest does: a skip inside a helper does not end a test body):
// when trapsan's backend here is not "hw", skips the test with the reason,
// or fails it if TRAPSAN_REQUIRE_HW=1.
void RequireHardwareBackend();

// Fixture for tests that need hardware watchpoints: calls
// RequireHardwareBackend() in SetUp, so a skip or failure there stops the
// test before its body runs.
class HardwareTest : public ::testing::Test {
 protected:
  void SetUp() override { RequireHardwareBackend(); }
};

}  // namespace trapsan_test

#endif  // TRAPSAN_TESTS_INTEGRATION_HARNESS_H_
