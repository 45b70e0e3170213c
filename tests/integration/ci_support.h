// Shared by the CI-output integration tests (issue 11): ci_output_test.cc
// (formats, log files, TSan-style options) and ci_suppressions_test.cc. The
// racy program is ci_report (tests/programs); machine-readable files are
// read by check_report.py. (TempDir and ReadFile: harness.h.)
#ifndef TRAPSAN_TESTS_INTEGRATION_CI_SUPPORT_H_
#define TRAPSAN_TESTS_INTEGRATION_CI_SUPPORT_H_

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "harness.h"

namespace trapsan_test {
namespace ci {

inline constexpr char kProgram[] = "ci_report";
inline constexpr char kSource[] = "programs/race_kernel.c";
inline constexpr char kTitle[] = "data race in racy_reader / racy_writer";

// check_report.py's KEY=VALUE lines (every ERROR line joined).
inline std::map<std::string, std::string> Check(const std::string& args) {
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

inline std::string Describe(const std::map<std::string, std::string>& values) {
  std::string s;
  for (const auto& [k, v] : values) s += k + "=" + v + "\n";
  return s;
}

inline RunOptions Options(const std::string& extra) {
  RunOptions o;
  o.trapsan_options = std::string(kAggressive) + (extra.empty() ? "" : ":") + extra;
  return o;
}

inline bool Reported(const RunResult& r) { return r.exited && r.exit_code == 66; }

inline std::string WriteLine() {
  return std::to_string(LineOf(kSource, "RACE_WRITE_CHECKED"));
}
inline std::string ReadLine() {
  return std::to_string(LineOf(kSource, "RACE_READ_CHECKED"));
}

inline std::string WriteFile(const TempDir& dir, const std::string& name,
                      const std::string& text) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// An executable script at `path`.
inline std::string WriteScript(const TempDir& dir, const std::string& name,
                        const std::string& text) {
  const std::string path = WriteFile(dir, name, text);
  chmod(path.c_str(), 0755);
  return path;
}

}  // namespace ci
}  // namespace trapsan_test

#endif  // TRAPSAN_TESTS_INTEGRATION_CI_SUPPORT_H_
