#include <errno.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "label_state.h"
#include "runtime/core/clock.h"
#include "runtime/core/cookie.h"
#include "runtime/core/counters.h"
#include "runtime/core/slots.h"
#include "runtime/core/window.h"
#include "runtime/linux/breakpoints.h"
#include "runtime/linux/fd_reserve.h"
#include "runtime/linux/label_int3.h"
#include "runtime/linux/perf_fd.h"
#include "runtime/report/reporter.h"

// The calling thread's execution breakpoint for labels (label_state.h): the
// perf event, opened on first use and re-pointed from label to label, its
// self-test, the SIGTRAP handler's part, and closing it (thread exit, fork).

namespace trapsan {
namespace {

// Every thread's breakpoint fd (+ 1; 0: free entry), so that a fork child,
// where only the forking thread lives on, can close the others'.
constexpr int kMaxLabelFds = 4096;
std::atomic<int> g_label_fds[kMaxLabelFds];

void RegisterFd(int fd) {
  for (auto& entry : g_label_fds) {
    int free = 0;
    if (entry.compare_exchange_strong(free, fd + 1, std::memory_order_relaxed))
      return;
  }  // Full: that fd stays open in fork children.
}

void UnregisterFd(int fd) {
  for (auto& entry : g_label_fds) {
    int mine = fd + 1;
    if (entry.compare_exchange_strong(mine, 0, std::memory_order_relaxed)) return;
  }
}

// The event, enabled on `pc`. MODIFY_ATTRIBUTES wants all of it again.
perf_event_attr LabelAttr(uintptr_t pc) {
  perf_event_attr attr =
      SigtrapBreakpointAttr(HW_BREAKPOINT_X, pc, sizeof(long));
  attr.sig_data = kLabelCookie;
  return attr;
}

// Says once per process that label sites go unsampled.
void WarnOnce(int error) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return;
  PrintToSink(absl::StrCat(
      "trapsan: WARNING: thread ", CurrentThread().tid,
      " cannot set an execution breakpoint for instrumented code's label "
      "sites (perf_event_open: ", strerror(error),
      "): their accesses are not sampled in that thread",
      error == ENOSPC   ? " (every debug register is taken)"
      : error == EMFILE ? " (no descriptor free for trapsan's own: see "
                          "RLIMIT_NOFILE)"
                        : "",
      "\n"));
}

// A program without label sites at start-up (a library with them loaded
// later) gave the window backend all four debug registers: when a thread
// finds none free, the backend gives up its last watchpoint (waiting for
// its window to end), in every thread. True when the open may be retried.
bool FreeADebugRegister() {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (ActiveBackend() != Backend::kHw) return false;
  if (SlotCount() < kMaxSlots) return true;  // Done already, by another thread.
  if (!RetireLastSlot(/*max_wait_ns=*/100000000)) return false;
  return CloseLastBreakpoint();
}

// The calling thread's label event (`attr`: a perf_event_attr).
int OpenLabelEvent(void* attr) {
  return static_cast<int>(
      syscall(SYS_perf_event_open, attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
}

// Points the breakpoint at `pc` and enables it.
bool Arm(LabelState& s, uintptr_t pc, bool warn = true) {
  perf_event_attr attr = LabelAttr(pc);
  if (s.fd_plus_one == 0) {
    // Opened in the descriptor reserve (fd_reserve.h), off the program's
    // numbers; with no reserve (a low RLIMIT_NOFILE whose hard limit is the
    // soft one) it fails with EMFILE and this thread's labels go unsampled.
    int fd = ReserveOpen(OpenLabelEvent, &attr);
    if (fd < 0 && errno == ENOSPC && FreeADebugRegister())
      fd = ReserveOpen(OpenLabelEvent, &attr);
    if (fd < 0) {
      // No debug register left (ENOSPC), or no breakpoints at all.
      s.closed = true;
      if (warn) WarnOnce(errno);
      return false;
    }
    s.fd_plus_one = fd + 1;
    s.fd_id = NotePerfFd(fd);
    RegisterFd(fd);
    return true;
  }
  if (!OwnsPerfFd(s.fd_plus_one - 1, s.fd_id)) {
    // The program closed it (and may have opened a file there): forget it,
    // open a new one next time.
    UnregisterFd(s.fd_plus_one - 1);
    s.fd_plus_one = 0;
    return false;
  }
  return ioctl(s.fd_plus_one - 1, PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &attr) == 0;
}

void CloseFd(LabelState& s) {
  if (s.fd_plus_one != 0) {
    UnregisterFd(s.fd_plus_one - 1);
    ClosePerfFd(s.fd_plus_one - 1, s.fd_id);
  }
  s.fd_plus_one = 0;
}

}  // namespace

// The self-test's label: a nop of trapsan's own; and one that is never run
// (TRAPSAN_TESTONLY_EXEC_BREAKPOINTS=undelivered points the breakpoint
// self-test there).
extern "C" char __trapsan_unreached_label[];
__attribute__((noinline)) void ProbeLabelTarget() {
  asm volatile(
      ".globl __trapsan_probe_label\n.hidden __trapsan_probe_label\n"
      "__trapsan_probe_label: nop\n"
      "jmp 1f\n"
      ".globl __trapsan_unreached_label\n.hidden __trapsan_unreached_label\n"
      "__trapsan_unreached_label: nop\n"
      "1:" ::: "memory");
}

bool ProbeBreakpoints(std::string* evidence) {
  LabelState& s = t_label;
  uintptr_t pc = reinterpret_cast<uintptr_t>(&__trapsan_probe_label);
  const char* hook = getenv("TRAPSAN_TESTONLY_EXEC_BREAKPOINTS");
  const bool undelivered = hook != nullptr && strcmp(hook, "undelivered") == 0;
  if (undelivered) pc = reinterpret_cast<uintptr_t>(&__trapsan_unreached_label);
  s.armed = false;
  s.access = LabelAccess();
  s.access.probe = true;
  s.probe_traps = 0;
  s.pc = pc;
  s.armed = true;
  const uint64_t start = MonotonicNs();
  bool ok = Arm(s, pc, /*warn=*/false);
  if (!ok) {
    *evidence = absl::StrCat("cannot set an execution breakpoint (",
                             strerror(errno), ")");
  } else {
    ProbeLabelTarget();  // traps once: the handler counts it, disables
    ProbeLabelTarget();  // no trap: disabled
    const int traps = s.probe_traps;
    if (traps == 1) {
      *evidence = absl::StrCat(
          "label breakpoint self-test trap delivered in ",
          (MonotonicNs() - start) / 1000, " us");
    } else {
      ok = false;
      *evidence = absl::StrCat("an execution breakpoint on a label produced ",
                               traps, " SIGTRAPs, not 1",
                               undelivered ? " (test hook)" : "");
    }
  }
  s.armed = false;
  s.access = LabelAccess();
  // Not proven: nothing of it is kept (no perf fd left open).
  if (!ok) CloseFd(s);
  s.closed = false;
  return ok;
}

// Points the thread's execution breakpoint at the label.
bool ArmBreakpointLabel(LabelState& s, const Site& site,
                        const LabelAccess& access) {
  // The handler may run between any two of these steps (a trap of the old
  // label, or of the new one reached by a signal handler as soon as the
  // ioctl returns): it must see either "not armed" (a trap then is stale)
  // or the complete new label, before the breakpoint moves.
  s.armed = false;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.access = access;
  s.pc = site.pc;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.armed = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (!Arm(s, site.pc)) {
    s.armed = false;
    return false;
  }
  return true;
}

void HandleLabelTrap(void* ucontext) {
  LabelState& s = t_label;
  if (s.fd_plus_one != 0 && OwnsPerfFd(s.fd_plus_one - 1, 0))
    ioctl(s.fd_plus_one - 1, PERF_EVENT_IOC_DISABLE, 0);
  mcontext_t& m = static_cast<ucontext_t*>(ucontext)->uc_mcontext;
  const uintptr_t rip = static_cast<uintptr_t>(m.gregs[REG_RIP]);
  if (!s.armed || s.pending || rip != s.pc) {
    s.armed = false;
    Count(Stats().labels_stale);
    return;
  }
  s.armed = false;
  if (s.access.probe) {
    ++s.probe_traps;
    return;
  }
  // The breakpoint traps before the nop runs: back to it.
  TakeLabelSample(ucontext, rip, rip, s.access);
}

void CloseThreadLabel() {
  LabelState& s = t_label;
  s.closed = true;
  s.armed = false;
  CloseFd(s);
  if (Mechanism() == LabelMechanism::kInt3) Int3DisarmThread();
}

void ResetLabelsInChild() {
  // The parent's threads' events, this thread's included: none is ours.
  for (auto& entry : g_label_fds) {
    // Read first: writing every entry faulted in each page of the table.
    if (entry.load(std::memory_order_relaxed) == 0) continue;
    const int fd_plus_one = entry.exchange(0, std::memory_order_relaxed);
    // (Only the fstat check: the ids are the parent's threads'.)
    if (fd_plus_one != 0) ClosePerfFd(fd_plus_one - 1, 0);
  }
  t_label = LabelState();
  Int3ResetInChild();
}

}  // namespace trapsan
