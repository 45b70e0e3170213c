// Helpers shared by the checks: perf breakpoints, SIGTRAP, child processes.
#include <errno.h>
#include <linux/futex.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "tools/kcheck/kcheck.h"

namespace kcheck {

double ExactlyOnceSeconds(const Options& o) {
  if (o.stress_seconds > 0) return o.stress_seconds;
  return o.quick ? 1.2 : 4.0;
}

const char* VerdictName(Verdict v) {
  switch (v) {
    case kPass: return "PASS";
    case kFail: return "FAIL";
    case kSkip: return "SKIP";
    case kInfo: return "INFO";
  }
  return "?";
}

void Report::Set(Verdict v, bool ok_, const char* fmt, ...) {
  verdict = v;
  ok = ok_;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(evidence, sizeof(evidence), fmt, ap);
  va_end(ap);
}

void Report::Num(const char* name, double value) {
  for (int i = 0; i < n_numbers; ++i) {
    if (strcmp(numbers[i].name, name) == 0) {
      numbers[i].value = value;
      return;
    }
  }
  if (n_numbers >= kMaxNumbers) return;
  Number& n = numbers[n_numbers++];
  snprintf(n.name, sizeof(n.name), "%s", name);
  n.value = value;
}

// ------------------------------------------------------------ perf events

namespace {
perf_event_attr Attr(const BpSpec& s) {
  perf_event_attr a;
  memset(&a, 0, sizeof(a));
  a.type = PERF_TYPE_BREAKPOINT;
  a.size = sizeof(a);
  a.sample_period = 1;
  a.bp_type = s.exec ? HW_BREAKPOINT_X : s.rw ? HW_BREAKPOINT_RW : HW_BREAKPOINT_W;
  a.bp_addr = reinterpret_cast<uintptr_t>(s.addr);
  a.bp_len = s.exec ? sizeof(long) : static_cast<uint64_t>(s.len);
  a.disabled = s.disabled;
  a.inherit = s.inherit;
  a.inherit_thread = s.inherit;
  a.remove_on_exec = s.remove_on_exec;
  a.sigtrap = s.sigtrap;
  a.sig_data = s.sig_data;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  return a;
}
}  // namespace

int OpenBp(const BpSpec& s) {
  perf_event_attr a = Attr(s);
  return static_cast<int>(syscall(SYS_perf_event_open, &a, s.pid, -1, -1,
                                  s.cloexec ? PERF_FLAG_FD_CLOEXEC : 0));
}

int ModifyBp(int fd, const BpSpec& s) {
  perf_event_attr a = Attr(s);
  return ioctl(fd, PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &a);
}

int EnableBp(int fd) { return ioctl(fd, PERF_EVENT_IOC_ENABLE, 0); }
int DisableBp(int fd) { return ioctl(fd, PERF_EVENT_IOC_DISABLE, 0); }

PerfFields ReadPerf(const siginfo_t* si) {
  PerfFields f;
  memcpy(&f,
         reinterpret_cast<const char*>(si) + offsetof(siginfo_t, si_addr) +
             sizeof(void*),
         sizeof(f));
  return f;
}

void InstallTrapHandler(void (*fn)(int, siginfo_t*, void*)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sigemptyset(&sa.sa_mask);
  if (fn == nullptr) {
    sa.sa_handler = SIG_DFL;
  } else {
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
  }
  sigaction(SIGTRAP, &sa, nullptr);
}

void BlockTrap(bool block) {
  uint64_t set = 1ull << (SIGTRAP - 1);
  syscall(SYS_rt_sigprocmask, block ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr,
          sizeof(set));
}

bool TrapPending() {
  uint64_t set = 0;
  syscall(SYS_rt_sigpending, &set, sizeof(set));
  return (set & (1ull << (SIGTRAP - 1))) != 0;
}

// ----------------------------------------------------------- processes

std::string ChildStatus::Describe() const {
  if (timed_out) return "timed out (killed)";
  if (exited) return absl::StrCat("exited with ", exit_code);
  if (signal != 0) {
    // Not sigabbrev_np: glibc before 2.32 lacks it, and old distributions
    // are where kcheck matters most.
    const char* name = signal == SIGTRAP   ? "SIGTRAP"
                       : signal == SIGSEGV ? "SIGSEGV"
                       : signal == SIGBUS  ? "SIGBUS"
                       : signal == SIGKILL ? "SIGKILL"
                       : signal == SIGALRM ? "SIGALRM (watchdog)"
                       : signal == SIGABRT ? "SIGABRT"
                       : signal == SIGILL  ? "SIGILL"
                                           : "signal";
    return absl::StrCat("killed by ", name, " (", signal, ")");
  }
  return "unknown status";
}

ChildStatus WaitChild(pid_t pid, double timeout_seconds) {
  ChildStatus st;
  double deadline = Now() + timeout_seconds;
  double nap = 50e-6;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG | __WALL);
    if (r == pid) {
      if (WIFEXITED(status)) {
        st.exited = true;
        st.exit_code = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        st.signal = WTERMSIG(status);
      }
      return st;
    }
    if (r < 0 && errno != EINTR) return st;
    if (Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, __WALL);
      st.timed_out = true;
      return st;
    }
    SleepSeconds(nap);
    if (nap < 2e-3) nap *= 2;
  }
}

ChildStatus RunInChild(int (*fn)(void* arg), void* arg,
                       double timeout_seconds) {
  // A hung child is the finding; a slow machine is not: a test harness that
  // knows the machine is slower (the lab guest, whose CPUs kcheck shares
  // with other tests) says how much, in TRAPSAN_TEST_TIME_SCALE.
  const char* scale = getenv("TRAPSAN_TEST_TIME_SCALE");
  const double k = scale != nullptr ? atof(scale) : 1.0;
  if (k > 1.0) timeout_seconds *= k;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    ChildStatus st;
    st.exit_code = -errno;
    return st;
  }
  if (pid == 0) {
    alarm(static_cast<unsigned>(timeout_seconds + 1.5));
    _exit(fn(arg));
  }
  return WaitChild(pid, timeout_seconds);
}

int RunInternalMode(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[2], "remove_on_exec") == 0) {
    return RemoveOnExecNewImage(argc, argv);
  }
  if (argc >= 3 && strcmp(argv[2], "exec_pending") == 0) {
    return ExecPendingNewImage(argc, argv);
  }
  fprintf(stderr, "trapsan-kcheck: unknown internal mode\n");
  return 2;
}

// ----------------------------------------------------------------- misc

void FutexWait(int* word, int value) {
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, nullptr, nullptr, 0);
}

void FutexWakeAll(int* word) {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 0x7fffffff, nullptr, nullptr,
          0);
}

void StoreAndWake(int* word, int value) {
  __atomic_store_n(word, value, __ATOMIC_SEQ_CST);
  FutexWakeAll(word);
}

void WaitUntil(int* word, int want) {
  for (;;) {
    int v = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    if (v == want) return;
    FutexWait(word, v);
  }
}

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

void SleepSeconds(double s) {
  if (s <= 0) return;
  timespec ts;
  ts.tv_sec = static_cast<time_t>(s);
  ts.tv_nsec = static_cast<long>((s - static_cast<double>(ts.tv_sec)) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int CpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

pid_t Tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

std::string Percent(double part, double whole) {
  if (whole <= 0) return "n/a";
  char buf[32];
  snprintf(buf, sizeof(buf), "%.3g%%", 100.0 * part / whole);
  return buf;
}

}  // namespace kcheck
