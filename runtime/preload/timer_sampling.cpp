#include "timer_sampling.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "runtime/core/budget.h"
#include "runtime/core/counters.h"
#include "runtime/core/options.h"
#include "runtime/core/pending_races.h"
#include "runtime/core/sampler.h"
#include "runtime/core/thread_state.h"
#include "runtime/core/window.h"
#include "runtime/linux/fd_reserve.h"
#include "runtime/linux/perf_fd.h"
#include "runtime/linux/safe_read.h"
#include "runtime/linux/unwind.h"
#include "runtime/preload/data_lure.h"
#include "runtime/report/sample_decode.h"
#include "runtime/report/reporter.h"

namespace trapsan {
namespace {

// Which timer samples (option preload_timer).
enum class TimerKind { kTick, kPerf };
TimerKind g_kind = TimerKind::kTick;

// The initializing thread's event, then one per adopted thread (perf); the
// adopted threads' timers (tick: the initializing thread's is t_tick_timer).
constexpr int kMaxFds = 1 + 64;
int g_fds[kMaxFds];
int g_fd_count = 0;
std::atomic<bool> g_active{false};
// The process has (had) more than one thread of its own: only then can a
// window see a race, and only then does the reporter thread run (a
// single-threaded program, a shell or a compiler under make, pays for the
// timer's signals only).
std::atomic<bool> g_multithreaded{false};
bool g_other_threads_adopted = false;

// Accesses this close below the stack pointer (the red zone, a callee's
// frame being built) or this far above it are the thread's own stack when
// its bounds are not known.
constexpr uintptr_t kBelowStack = 64 * 1024;
constexpr uintptr_t kAboveStack = 1024 * 1024;

constexpr int kMaxInstructionLength = 15;

// The share of max_overhead a timer sample's soft window may use.
constexpr double kSoftTimerWindowBudgetScale = 0.25;

// This thread's POSIX CPU-time timer (tick), kernel timer id + 1; 0: none.
__thread int t_tick_timer __attribute__((tls_model("initial-exec")));

// The CPU-time clock of thread `tid` (the kernel's MAKE_THREAD_CPUCLOCK,
// CPUCLOCK_SCHED: what CLOCK_THREAD_CPUTIME_ID is for the calling thread).
clockid_t ThreadCpuClock(int tid) {
  return static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6);
}

// A timer on thread `tid`'s CPU time sending it SIGTRAP (SI_TIMER, sival
// kTimerCookie) every preload_period_us. The kernel checks CPU-time timers
// at its scheduler tick (so the period is at least a tick: 1-10 ms) and
// sends their signal from task work on the thread's return to user mode
// (POSIX_CPU_TIMERS_TASK_WORK, always set on x86): after a system call has
// finished, never while one sleeps, so no EINTR. -1 (errno) on failure.
int CreateTickTimer(int tid) {
  sigevent sev;
  memset(&sev, 0, sizeof(sev));
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGTRAP;
  sev.sigev_value.sival_ptr = reinterpret_cast<void*>(kTimerCookie);
  sev._sigev_un._tid = tid;
  int id = -1;
  if (syscall(SYS_timer_create, ThreadCpuClock(tid), &sev, &id) != 0) {
    return -1;
  }
  int64_t period_us = GetOptions().preload_period_us;
  if (period_us < 10) period_us = 10;
  itimerspec spec;
  spec.it_interval.tv_sec = static_cast<time_t>(period_us / 1000000);
  spec.it_interval.tv_nsec = static_cast<long>(period_us % 1000000) * 1000;
  spec.it_value = spec.it_interval;
  if (syscall(SYS_timer_settime, id, 0, &spec, nullptr) != 0) {
    const int err = errno;
    syscall(SYS_timer_delete, id);
    errno = err;
    return -1;
  }
  return id;
}

int OpenTimerEvent(int tid) {
  perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.type = PERF_TYPE_SOFTWARE;
  attr.size = sizeof(attr);
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  int64_t period_us = GetOptions().preload_period_us;
  if (period_us < 10) period_us = 10;  // the kernel's floor for hrtimer events
  attr.sample_period = static_cast<uint64_t>(period_us) * 1000;
  attr.exclude_kernel = 1;  // user mode only: a system call is never cut short
  attr.exclude_hv = 1;
  attr.inherit = 1;
  attr.inherit_thread = 1;
  attr.remove_on_exec = 1;
  attr.sigtrap = 1;
  attr.sig_data = kTimerCookie;
  return ReserveFd(static_cast<int>(syscall(SYS_perf_event_open, &attr, tid,
                                            -1, -1, PERF_FLAG_FD_CLOEXEC)));
}

std::string OpenError(int err) {
  if (g_kind == TimerKind::kTick) {
    return absl::StrCat("timer_create(thread CPU-time clock) failed: ",
                        strerror(err));
  }
  return absl::StrCat(
      "perf_event_open(task-clock, sigtrap) failed: ", strerror(err),
      err == EACCES || err == EPERM
          ? " (perf_event_paranoid, seccomp or a container may forbid it)"
      : err == EINVAL ? " (kernel older than 5.13?)"
                      : "");
}

// Copies the (up to) 15 bytes at pc: directly when they lie in pc's page
// (it is being executed, so mapped), else through the kernel.
// The dynamic linker's code: not sampled. Its bookkeeping is racy by design
// (lazy binding counts its lookups with an unlocked ++ on _rtld_global,
// dl-lookup.c), not the program's, and ThreadSanitizer does not check it
// either: its samples were reported as races in race-free programs.
uintptr_t g_loader_lo = 0, g_loader_hi = 0;

int FindLoaderCode(dl_phdr_info* info, size_t, void*) {
  const char* name = info->dlpi_name;
  if (name == nullptr || strstr(name, "/ld-linux") == nullptr) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    const uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    if (g_loader_lo == 0 || lo < g_loader_lo) g_loader_lo = lo;
    if (lo + ph.p_memsz > g_loader_hi) g_loader_hi = lo + ph.p_memsz;
  }
  return 1;
}

bool InLoader(uintptr_t pc) { return pc >= g_loader_lo && pc < g_loader_hi; }

int ReadCode(uintptr_t pc, uint8_t (&bytes)[kMaxInstructionLength]) {
  if ((pc & 4095) <= 4096 - kMaxInstructionLength) {
    memcpy(bytes, reinterpret_cast<const void*>(pc), kMaxInstructionLength);
    return kMaxInstructionLength;
  }
  for (int n = kMaxInstructionLength; n >= 1; --n) {
    if (SafeRead(pc, bytes, static_cast<size_t>(n))) return n;
  }
  return 0;
}

bool OnOwnStack(const ThreadState& t, uintptr_t addr, uintptr_t sp) {
  if (t.stack_hi != 0 && addr >= t.stack_lo && addr < t.stack_hi) return true;
  return addr + kBelowStack >= sp && addr < sp + kAboveStack;
}

using PthreadCreateFn = int (*)(pthread_t*, const pthread_attr_t*,
                                void* (*)(void*), void*);

// The reporter: reports what the handlers queued, in ordinary context.
void* ReporterMain(void*) {
  ++t_thread.in_runtime;  // for good: never sampled, never a sample's owner
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);  // (SIGTRAP stays open)
  prctl(PR_SET_NAME, "trapsan-report", 0, 0, 0);
  for (;;) {
    WaitForPendingRaces(200 * 1000000ull);
    DrainLateConflicts();  // the queued races first, then late traps
  }
  return nullptr;
}

void StartReporter() {
  static PthreadCreateFn real = reinterpret_cast<PthreadCreateFn>(
      dlsym(RTLD_NEXT, "pthread_create"));
  if (real == nullptr) return;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  real(&thread, &attr, ReporterMain, nullptr);  // (the registry skips it)
  pthread_attr_destroy(&attr);
}

}  // namespace

bool LoadedByPreload() {
  const char* preload = getenv("LD_PRELOAD");
  Dl_info info;
  if (preload == nullptr ||
      dladdr(reinterpret_cast<void*>(&LoadedByPreload), &info) == 0 ||
      info.dli_fname == nullptr) {
    return false;
  }
  const char* ours = strrchr(info.dli_fname, '/');
  ours = ours != nullptr ? ours + 1 : info.dli_fname;
  // LD_PRELOAD: names separated by spaces or colons; compared by file name.
  const size_t ours_len = strlen(ours);
  const char* p = preload;
  while (*p != '\0') {
    const char* end = p;
    while (*end != '\0' && *end != ':' && *end != ' ') ++end;
    const char* name = p;
    for (const char* q = p; q < end; ++q) {
      if (*q == '/') name = q + 1;
    }
    if (static_cast<size_t>(end - name) == ours_len &&
        memcmp(name, ours, ours_len) == 0) {
      return true;
    }
    p = *end != '\0' ? end + 1 : end;
  }
  return false;
}

bool TimerSamplingWanted() {
  const Options& o = GetOptions();
  if (o.preload_sampling == "0") return false;
  if (o.preload_sampling == "1") return true;
  return LoadedByPreload();
}

bool StartTimerSampling(std::string* why) {
  dl_iterate_phdr(FindLoaderCode, nullptr);
  PrepareDataLures();
  g_kind = GetOptions().preload_timer == "perf" ? TimerKind::kPerf
                                                : TimerKind::kTick;
  if (g_kind == TimerKind::kTick) {
    const int id = CreateTickTimer(static_cast<int>(syscall(SYS_gettid)));
    if (id < 0) {
      *why = OpenError(errno);
      return false;
    }
    t_tick_timer = id + 1;
    g_active.store(true, std::memory_order_release);
    return true;
  }
  const int fd = OpenTimerEvent(0);
  if (fd < 0) {
    *why = OpenError(errno);
    return false;
  }
  g_fds[0] = fd;
  g_fd_count = 1;
  g_active.store(true, std::memory_order_release);
  return true;
}

void StartTimerReporterOnce() {
  if (!TimerSamplingActive() ||
      g_multithreaded.load(std::memory_order_acquire)) {
    return;
  }
  // The decoder is loaded here, not at start-up: samples of a process with
  // one thread open no window and decode nothing, and most processes under
  // LD_PRELOAD (a shell, a compiler under make) never start a second
  // thread; loading Zydis and Zycore was ~1.5 ms of each one's start-up
  // (docs/performance.md). Before the flag below: the handler decodes only
  // once it is set (and refuses everything while Zydis is not loaded).
  static std::atomic<bool> warned{false};
  if (!PrepareSampleDecoder() && !warned.exchange(true)) {
    PrintToSink(
        "trapsan: WARNING: code not built with trapsan will not be sampled: "
        "cannot load the instruction decoder (Zydis)\n");
  }
  if (g_multithreaded.exchange(true)) return;
  StartReporter();
}

bool TimerSamplingActive() { return g_active.load(std::memory_order_acquire); }

bool AdoptThreadForTimer(int tid, std::string* why) {
  if (!TimerSamplingActive()) return true;
  if (g_fd_count >= kMaxFds) {
    *why = absl::StrCat("more than ", kMaxFds - 1,
                        " threads existed before trapsan started");
    return false;
  }
  const int fd = g_kind == TimerKind::kTick ? CreateTickTimer(tid)
                                            : OpenTimerEvent(tid);
  if (fd < 0) {
    if (errno == ESRCH || errno == EINVAL) return true;  // gone meanwhile
    *why = OpenError(errno);
    return false;
  }
  g_fds[g_fd_count++] = fd;  // (a tick timer's id: deleted with its thread)
  g_other_threads_adopted = true;
  return true;
}

bool OtherThreadsAdopted() { return g_other_threads_adopted; }

void StartThreadTimer() {
  if (g_kind != TimerKind::kTick || !TimerSamplingActive()) return;
  const int id = CreateTickTimer(static_cast<int>(syscall(SYS_gettid)));
  t_tick_timer = id + 1;  // (none if it failed: this thread is not sampled)
}

void StopThreadTimer() {
  if (t_tick_timer == 0) return;
  syscall(SYS_timer_delete, t_tick_timer - 1);
  t_tick_timer = 0;
}

bool IsTickTimerSignal(const siginfo_t* si) {
  return si->si_code == SI_TIMER &&
         si->si_value.sival_ptr == reinterpret_cast<void*>(kTimerCookie);
}

void RestartTimerSamplingInChild() {
  ResetPendingRaces();
  ResetDataLuresInChild();
  g_multithreaded.store(false, std::memory_order_relaxed);  // one thread now
  if (!TimerSamplingActive()) return;
  if (g_kind == TimerKind::kTick) {
    // A child inherits no POSIX timer: its only thread gets a new one.
    g_fd_count = 0;
    const int id = CreateTickTimer(static_cast<int>(syscall(SYS_gettid)));
    t_tick_timer = id + 1;
    if (id < 0) g_active.store(false, std::memory_order_release);
    return;
  }
  for (int i = 0; i < g_fd_count; ++i) ClosePerfFd(g_fds[i], 0);
  g_fd_count = 0;
  const int fd = OpenTimerEvent(0);
  if (fd < 0) {
    g_active.store(false, std::memory_order_release);
    return;
  }
  g_fds[0] = fd;
  g_fd_count = 1;
}

bool InDynamicLinker(uintptr_t pc) { return InLoader(pc); }

namespace {

// A timer sample's own window, for the interrupted instruction. False if
// the sample opened none (its thread may arm a data lure instead).
bool SampleInstruction(ThreadState& t, void* ucv) {
  const ucontext_t* uc = static_cast<const ucontext_t*>(ucv);
  const uintptr_t pc = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  const uintptr_t sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  if (InLoader(pc)) {
    Count(Stats().timer_skipped);
    return false;
  }
  uint8_t bytes[kMaxInstructionLength];
  const int length = ReadCode(pc, bytes);
  uint64_t registers[16];
  CopyRegisters(uc, registers);
  SampledAccess sampled;
  if (length == 0 ||
      DecodeSampledInstruction(bytes, length, pc, registers, &sampled) !=
          SampleRefusal::kNone ||
      OnOwnStack(t, sampled.addr, sp)) {
    Count(Stats().timer_skipped);
    return false;
  }
  NoteSampledAddress(t, sampled.addr);
  // Without hardware watchpoints a window finds a racer only by a value
  // change, reported for an instruction no atomic compiles to, or by an
  // instrumented access of another thread meeting it. With neither, it
  // could report nothing: not opened (it would stall the thread for
  // nothing; in production that was most of the preload overhead here).
  if (ActiveBackend() == Backend::kSoft &&
      sampled.atomicity != Atomicity::kPlain &&
      Stats().checks_slow.load(std::memory_order_relaxed) == 0) {
    Count(Stats().timer_skipped);
    return false;
  }
  const bool is_write = sampled.kind == AccessKind::kWrite;
  if (is_write ? t.ignore_writes != 0 : t.ignore_reads != 0) {
    Count(Stats().skipped_ignored);
    return false;
  }
  if (IsBenign(sampled.addr, sampled.size)) {
    Count(Stats().skipped_benign);
    return false;
  }
  // Without hardware watchpoints such a window only sees a value change of
  // an instruction no atomic compiles to (one stack), and its stall holds
  // up whatever waits for the thread (a join, a lock it holds): it gets a
  // quarter of max_overhead (docs/preload.md, Options).
  const double scale =
      ActiveBackend() == Backend::kSoft ? kSoftTimerWindowBudgetScale : 1.0;
  uint64_t reserved_ns;
  if (!WindowBudget().TryReserve(&reserved_ns, scale)) {
    Count(Stats().skipped_budget);
    return false;
  }
  InRuntime guard;
  AccessInfo access{};
  access.tid = t.tid;
  access.thread_id = t.thread_id;
  access.addr = sampled.addr;
  access.size = sampled.size;
  access.kind = sampled.kind;
  access.pc_after_access = false;
  access.time_ns = MonotonicNs();
  UnwindFromSignalContext(uc, t.stack_lo, t.stack_hi, &access.stack);
  // pcs[0] is read as a return address (symbolized at pc - 1), as the
  // sampler's access_pc + 1.
  if (access.stack.depth > 0) access.stack.pcs[0] = pc + 1;
  const AccessInfo* saved = t.current_access;
  t.current_access = &access;
  const uint64_t cost =
      WatchAccessInSignal(access, sampled.atomicity == Atomicity::kPlain);
  t.current_access = saved;
  WindowBudget().Settle(reserved_ns, cost);
  return cost != 0;
}

}  // namespace

void HandleTimerSample(void* ucv) {
  Count(Stats().timer_samples);
  ThreadState& t = CurrentThread();
  if (!RuntimeReady() || t.in_runtime != 0 ||
      !g_multithreaded.load(std::memory_order_relaxed) ||
      ActiveBackend() == Backend::kOff) {
    Count(Stats().timer_skipped);
    return;
  }
  if (!SampleInstruction(t, ucv)) MaybeArmLure(t);
}

}  // namespace trapsan
