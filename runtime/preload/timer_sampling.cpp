#include "timer_sampling.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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
#include "runtime/report/sample_decode.h"

namespace trapsan {
namespace {

// The initializing thread's event, then one per adopted thread.
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
  return absl::StrCat(
      "perf_event_open(task-clock, sigtrap) failed: ", strerror(err),
      err == EACCES || err == EPERM
          ? " (perf_event_paranoid, seccomp or a container may forbid it)"
      : err == EINVAL ? " (kernel older than 5.13?)"
                      : "");
}

// Copies the (up to) 15 bytes at pc: directly when they lie in pc's page
// (it is being executed, so mapped), else through the kernel.
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
  if (!TimerSamplingActive() || g_multithreaded.exchange(true)) return;
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
  const int fd = OpenTimerEvent(tid);
  if (fd < 0) {
    if (errno == ESRCH) return true;  // gone meanwhile
    *why = OpenError(errno);
    return false;
  }
  g_fds[g_fd_count++] = fd;
  g_other_threads_adopted = true;
  return true;
}

bool OtherThreadsAdopted() { return g_other_threads_adopted; }

void RestartTimerSamplingInChild() {
  ResetPendingRaces();
  g_multithreaded.store(false, std::memory_order_relaxed);  // one thread now
  if (!TimerSamplingActive()) return;
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

void HandleTimerSample(void* ucv) {
  Count(Stats().timer_samples);
  ThreadState& t = CurrentThread();
  if (!RuntimeReady() || t.in_runtime != 0 ||
      !g_multithreaded.load(std::memory_order_relaxed) ||
      ActiveBackend() == Backend::kOff) {
    Count(Stats().timer_skipped);
    return;
  }
  const ucontext_t* uc = static_cast<const ucontext_t*>(ucv);
  const uintptr_t pc = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  const uintptr_t sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
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
    return;
  }
  const bool is_write = sampled.kind == AccessKind::kWrite;
  if (is_write ? t.ignore_writes != 0 : t.ignore_reads != 0) {
    Count(Stats().skipped_ignored);
    return;
  }
  if (IsBenign(sampled.addr, sampled.size)) {
    Count(Stats().skipped_benign);
    return;
  }
  uint64_t reserved_ns;
  if (!WindowBudget().TryReserve(&reserved_ns)) {
    Count(Stats().skipped_budget);
    return;
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
}

}  // namespace trapsan
