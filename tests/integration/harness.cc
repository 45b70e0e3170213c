#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "gtest/gtest.h"

extern char** environ;

namespace trapsan_test {
namespace {

double NowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

std::vector<std::string> ChildEnvironment(const RunOptions& options) {
  std::vector<std::string> env;
  auto overridden = [&](const std::string& entry) {
    if (entry.rfind("TRAPSAN_OPTIONS=", 0) == 0) return true;
    for (const auto& [k, v] : options.extra_env) {
      if (entry.rfind(k + "=", 0) == 0) return true;
    }
    return false;
  };
  for (char** e = environ; *e != nullptr; ++e) {
    if (!overridden(*e)) env.emplace_back(*e);
  }
  if (options.trapsan_options) {
    std::string value = *options.trapsan_options;
    // For checking the tests themselves, e.g. that they fail with
    // backend=soft (no SIGTRAPs): appended to every run but the probe's.
    const char* extra = std::getenv("TRAPSAN_TEST_EXTRA_OPTIONS");
    if (extra != nullptr && *extra != '\0' && !options.is_probe) {
      value += std::string(":") + extra;
    }
    env.push_back("TRAPSAN_OPTIONS=" + value);
  }
  for (const auto& [k, v] : options.extra_env) env.push_back(k + "=" + v);
  return env;
}

}  // namespace

std::map<std::string, std::string> RunResult::Values() const {
  std::map<std::string, std::string> values;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string key = line.substr(0, eq);
    if (key.find(' ') != std::string::npos) continue;
    values.emplace(key, line.substr(eq + 1));
  }
  return values;
}

std::string RunResult::Value(const std::string& key) const {
  auto values = Values();
  auto it = values.find(key);
  return it == values.end() ? "" : it->second;
}

long long RunResult::Int(const std::string& key) const {
  std::string v = Value(key);
  if (v.empty()) return -1;
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  return *end == '\0' ? n : -1;
}

std::string RunResult::Describe() const {
  std::ostringstream s;
  s << "pid " << pid << ", ";
  if (timed_out) s << "TIMED OUT, ";
  if (exited) s << "exit code " << exit_code;
  if (signaled) s << "killed by signal " << signal << " (" << strsignal(signal) << ")";
  s << ", " << seconds << " s, attempt(s) " << attempts << "\n";
  s << "--- stdout ---\n" << out << "--- stderr ---\n" << err << "--- end ---";
  return s.str();
}

std::string ProgramPath(const std::string& name) {
  return std::string(TRAPSAN_TEST_PROGRAMS_DIR) + "/" + name;
}

std::string TestSourcePath(const std::string& relative) {
  return std::string(TRAPSAN_TESTS_SOURCE_DIR) + "/" + relative;
}

double TimeScale() {
  const char* s = std::getenv("TRAPSAN_TEST_TIME_SCALE");
  double v = s != nullptr ? std::atof(s) : 1.0;
  return v >= 1.0 && v <= 1000.0 ? v : 1.0;
}

RunResult RunProgram(const std::string& program, const std::vector<std::string>& args,
              const RunOptions& options) {
  RunResult r;
  const std::string path = ProgramPath(program);
  std::vector<std::string> env = ChildEnvironment(options);
  std::vector<char*> argv, envp;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << strerror(errno);
    return r;
  }
  const double start = NowSeconds();
  pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    return r;
  }
  if (pid == 0) {
    // Its own process group, so a timeout kills whatever it forked too.
    setpgid(0, 0);
    // Tests kill programs with SIGTRAP on purpose: no core files.
    rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    sigset_t mask;
    sigemptyset(&mask);
    if (options.block_sigtrap) sigaddset(&mask, SIGTRAP);
    sigprocmask(SIG_SETMASK, &mask, nullptr);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execve(path.c_str(), argv.data(), envp.data());
    dprintf(2, "harness: execve %s: %s\n", path.c_str(), strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid);
  r.pid = pid;
  close(out_pipe[1]);
  close(err_pipe[1]);

  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  const double deadline = start + options.timeout_ms * TimeScale() / 1000.0;
  bool killed = false;
  while (open_fds > 0) {
    double left = deadline - NowSeconds();
    if (left <= 0 && !killed) {
      r.timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      killed = true;
    }
    int timeout = killed ? 1000 : static_cast<int>(left * 1000) + 1;
    int n = poll(fds, 2, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 && killed) break;  // a grandchild still holds the pipe
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        continue;
      }
      char buf[65536];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, 0);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
  }
  r.seconds = NowSeconds() - start;
  r.exited = WIFEXITED(status);
  r.exit_code = r.exited ? WEXITSTATUS(status) : -1;
  r.signaled = WIFSIGNALED(status);
  r.signal = r.signaled ? WTERMSIG(status) : 0;
  return r;
}

RunResult RunUntil(const std::string& program,
                   const std::vector<std::string>& args,
                   const RunOptions& options,
                   const std::function<bool(const RunResult&)>& done,
                   int attempts) {
  RunResult r;
  for (int i = 1; i <= attempts; ++i) {
    r = RunProgram(program, args, options);
    r.attempts = i;
    if (done(r)) break;
  }
  return r;
}

int LineOf(const std::string& relative, const std::string& marker) {
  std::ifstream in(TestSourcePath(relative));
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find(marker) != std::string::npos) return n;
  }
  ADD_FAILURE() << "marker " << marker << " not found in tests/" << relative;
  return -1;
}

int CountOccurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

std::vector<std::string> ReportBlocks(const std::string& text) {
  std::vector<std::string> blocks;
  size_t at = 0;
  while ((at = text.find("WARNING: trapsan:", at)) != std::string::npos) {
    size_t summary = text.find("SUMMARY: trapsan:", at);
    size_t end = summary == std::string::npos ? text.size()
                                              : text.find('\n', summary);
    if (end == std::string::npos) end = text.size();
    blocks.push_back(text.substr(at, end - at));
    at = end;
  }
  return blocks;
}

std::vector<std::string> LinesContaining(const std::string& text,
                                         const std::string& needle) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) lines.push_back(line);
  }
  return lines;
}

bool Contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

bool MatchesRegex(const std::string& text, const std::string& regex) {
  return std::regex_search(text, std::regex(regex, std::regex::ECMAScript));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TempDir::TempDir() {
  char name[] = "/tmp/trapsan-test-XXXXXX";
  path_ = mkdtemp(name) != nullptr ? name : "";
}

TempDir::~TempDir() {
  if (!path_.empty()) (void)!system(("rm -rf '" + path_ + "'").c_str());
}

std::vector<std::string> TempDir::Files() const {
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

void TempDir::Clear() const {
  for (const std::string& f : Files()) unlink((path_ + "/" + f).c_str());
}

const BackendProbe& ProbeBackend() {
  static const BackendProbe probe = [] {
    BackendProbe p;
    RunOptions o;
    o.trapsan_options = "verbosity=1";
    // E.g. backend=soft, to see what the suite does on a machine without
    // hardware watchpoints.
    const char* probe_extra = std::getenv("TRAPSAN_TEST_PROBE_OPTIONS");
    if (probe_extra != nullptr && *probe_extra != '\0') {
      *o.trapsan_options += std::string(":") + probe_extra;
    }
    o.timeout_ms = 20000;
    o.is_probe = true;
    RunResult r = RunProgram("probe_backend", {}, o);
    p.backend = r.Value("BACKEND");
    p.hw_slots = static_cast<int>(r.Int("HW_SLOTS"));
    p.details = r.Describe();
    return p;
  }();
  return probe;
}

void RequireHardwareBackend() {
  const BackendProbe& p = ProbeBackend();
  if (p.backend == "hw" && p.hw_slots > 0) return;
  std::string reason = "trapsan's backend here is '" + p.backend +
                       "', not 'hw': this test needs hardware watchpoints "
                       "(perf_event_open breakpoints with sigtrap). Probe:\n" +
                       p.details;
  const char* require = std::getenv("TRAPSAN_REQUIRE_HW");
  if (require != nullptr && std::string(require) == "1") {
    FAIL() << "TRAPSAN_REQUIRE_HW=1: " << reason;
  }
  GTEST_SKIP() << reason;
}

}  // namespace trapsan_test
