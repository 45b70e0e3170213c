// trapsan-kcheck: checks, against the running kernel, the properties of perf
// breakpoint events with sigtrap that trapsan's hardware backend relies on.
//
// It does not link libtrapsan: every check opens its own perf events and
// installs its own SIGTRAP handler, in a child process of its own (a kernel
// that gets a property wrong can kill the process that tests it).
#ifndef TRAPSAN_TOOLS_KCHECK_KCHECK_H_
#define TRAPSAN_TOOLS_KCHECK_KCHECK_H_

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace kcheck {

// ---------------------------------------------------------------- options

struct Options {
  bool quick = false;
  bool json = false;
  double stress_seconds = 0;  // > 0: exactly_once runs that long
  std::vector<std::string> only;  // --only: these property ids alone
};

// How long exactly_once runs under these options.
double ExactlyOnceSeconds(const Options& o);

// --------------------------------------------------------------- verdicts

enum Verdict { kPass = 0, kFail = 1, kSkip = 2, kInfo = 3 };
const char* VerdictName(Verdict v);

// What a check reports, filled in by the child process that runs it (lives in
// shared memory: fixed-size, no pointers).
struct Report {
  static constexpr int kMaxNumbers = 40;
  static constexpr int kEvidenceLen = 1024;
  int done;         // the check returned
  int verdict;      // Verdict
  int ok;           // for INFO: the kernel behaved as expected
  char evidence[kEvidenceLen];
  int n_numbers;
  struct Number {
    char name[48];
    double value;
  } numbers[kMaxNumbers];

  void Set(Verdict v, bool ok_, const char* fmt, ...)
      __attribute__((format(printf, 4, 5)));
  void Num(const char* name, double value);
};

// A check runs in a fresh child process (forked from the single-threaded
// kcheck) and fills in `r`. It may create threads, open events, install
// handlers: the process is discarded afterwards.
using CheckFn = void (*)(const Options& o, Report* r);

struct Property {
  int index;
  const char* id;
  const char* title;
  bool relied_on;
  CheckFn run;
  double timeout_seconds;  // for the whole child; the stress time is added
};

// ------------------------------------------------------------ perf events

constexpr uint32_t kPerfTypeBreakpoint = 5;  // PERF_TYPE_BREAKPOINT
constexpr uint32_t kPerfFlagAsync = 1;       // TRAP_PERF_FLAG_ASYNC
#ifndef TRAP_PERF
#define TRAP_PERF 6
#endif

struct BpSpec {
  const volatile void* addr = nullptr;
  int len = 8;            // HW_BREAKPOINT_LEN_*
  bool rw = false;        // HW_BREAKPOINT_RW rather than HW_BREAKPOINT_W
  bool exec = false;      // HW_BREAKPOINT_X (length: sizeof(long))
  uint64_t sig_data = 0;
  bool disabled = false;
  bool inherit = true;    // inherit + inherit_thread
  bool remove_on_exec = true;
  bool sigtrap = true;
  bool cloexec = true;    // PERF_FLAG_FD_CLOEXEC
  int pid = 0;            // 0: the calling thread
};

// perf_event_open of a breakpoint; -1 with errno on failure.
int OpenBp(const BpSpec& s);
// PERF_EVENT_IOC_MODIFY_ATTRIBUTES with s's address, length, type, sig_data
// and disabled bit; 0 or -1 with errno.
int ModifyBp(int fd, const BpSpec& s);
int EnableBp(int fd);
int DisableBp(int fd);

// The perf fields of a TRAP_PERF siginfo (glibc has no names for them: the
// kernel puts them right after si_addr).
struct PerfFields {
  unsigned long data;
  uint32_t type;
  uint32_t flags;
};
PerfFields ReadPerf(const siginfo_t* si);

// Installs `fn` as the SA_SIGINFO handler of SIGTRAP (or SIG_DFL if null).
void InstallTrapHandler(void (*fn)(int, siginfo_t*, void*));
// Blocks/unblocks SIGTRAP in the calling thread with the raw rt_sigprocmask
// syscall (no libc wrapper in between).
void BlockTrap(bool block);
bool TrapPending();  // SIGTRAP in the calling thread's or process's pending set

// ----------------------------------------------------------- processes

// Result of a child process.
struct ChildStatus {
  bool timed_out = false;
  bool exited = false;
  int exit_code = -1;
  int signal = 0;  // killed by
  std::string Describe() const;
};

// Forks; the child runs fn(arg) and _exits with its return value (after an
// alarm(timeout) watchdog). The parent waits up to timeout_seconds, then
// SIGKILLs the child.
ChildStatus RunInChild(int (*fn)(void* arg), void* arg, double timeout_seconds);
// Waits for `pid` up to timeout_seconds, then SIGKILLs it.
ChildStatus WaitChild(pid_t pid, double timeout_seconds);

// The path of this executable and the hidden argument that makes it run an
// internal mode (after exec) instead of the checks.
constexpr const char* kInternalArg = "--kcheck-internal";
// Runs an internal mode: argv[2] names it. Returns the exit status.
int RunInternalMode(int argc, char** argv);
// Internal modes of the checks.
int RemoveOnExecNewImage(int argc, char** argv);
int ExecPendingNewImage(int argc, char** argv);

// ----------------------------------------------------------------- misc

// Waits while *word == value (futex; spurious returns possible), and wakes
// every waiter: direct hand-offs between threads, which spinning with
// sched_yield does not give on a loaded machine.
void FutexWait(int* word, int value);
void FutexWakeAll(int* word);
// Sets *word and wakes its waiters; waits until *word == want.
void StoreAndWake(int* word, int value);
void WaitUntil(int* word, int want);

double Now();  // CLOCK_MONOTONIC seconds
void SleepSeconds(double s);
int CpuCount();
pid_t Tid();
std::string Percent(double part, double whole);

// ---------------------------------------------------------- trap log
// A SIGTRAP handler for the simple checks: counts every SIGTRAP and records
// the first kTrapLogSize (trap_log.cpp).
struct TrapRecord {
  int code;             // si_code
  unsigned long data;   // si_perf_data
  uint32_t type;        // si_perf_type
  uint32_t flags;       // si_perf_flags
  uintptr_t addr;       // si_addr
  pid_t tid;            // the thread the handler ran in
};
constexpr int kTrapLogSize = 8192;
struct TrapLog {
  long count;           // every SIGTRAP
  long not_perf;        // si_code != TRAP_PERF
  long async;           // TRAP_PERF_FLAG_ASYNC set
  long wrong_data;      // si_perf_data != expect_data (when expect_data != 0)
  long wrong_addr;      // si_addr != expect_addr (when expect_addr != 0)
  unsigned long expect_data;
  uintptr_t expect_addr;
  TrapRecord rec[kTrapLogSize];
};
extern TrapLog g_trap_log;
// Clears g_trap_log and installs the recording handler.
void InstallTrapLog(unsigned long expect_data = 0, uintptr_t expect_addr = 0);
long TrapCount();
// Installs the trap log expecting s.sig_data at s.addr and opens the
// breakpoint. On failure sets *r (verdict `on_failure`, errno named) and
// returns -1.
int OpenLoggedBp(const BpSpec& s, Verdict on_failure, Report* r);  // g_trap_log.count, read atomically

// The checks, in order.
void CheckSigtrap(const Options& o, Report* r);             // 1
void CheckInheritThread(const Options& o, Report* r);       // 2
void CheckRemoveOnExec(const Options& o, Report* r);        // 3
void CheckModifyReachesThreads(const Options& o, Report* r);  // 4
void CheckExactlyOnce(const Options& o, Report* r);         // 5
void CheckManyOverflows(const Options& o, Report* r);       // 6
void CheckRefresh(const Options& o, Report* r);             // 7
void CheckBlockedAsync(const Options& o, Report* r);        // 8
void CheckCreateDuringModify(const Options& o, Report* r);  // 9
void CheckExitExecPending(const Options& o, Report* r);     // 10
void CheckExecBreakpoint(const Options& o, Report* r);      // 11

}  // namespace kcheck

#endif  // TRAPSAN_TOOLS_KCHECK_KCHECK_H_
