#include "labels.h"

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
#include "runtime/core/budget.h"
#include "runtime/core/clock.h"
#include "runtime/core/cookie.h"
#include "runtime/core/counters.h"
#include "runtime/core/sampler.h"
#include "runtime/core/slots.h"
#include "runtime/core/thread_state.h"
#include "runtime/core/window.h"
#include "runtime/linux/breakpoints.h"
#include "runtime/report/reporter.h"
#include "sites.h"

extern "C" void __trapsan_label_resume();  // site_stub.S

namespace trapsan {
namespace {

// The calling thread's label breakpoint and the access it is armed for.
// Zero-initialized: no event yet.
struct LabelState {
  int fd_plus_one;  // the event's fd + 1; 0: none yet
  bool closed;      // exiting, or the event cannot be opened: no more labels
  bool armed;       // the breakpoint is on `pc`
  uintptr_t pc;
  // The armed access, from the label's note.
  SiteOperand base, size_operand;
  bool size_in_operand;
  int32_t offset;
  uint32_t size, line;
  bool is_write;
  // The self-test's: traps at `pc` are only counted.
  bool probing;
  int probe_traps;
  // Set by the handler when the label was reached: the access to sample
  // (a copy: a signal handler's check may re-arm before it is sampled).
  bool pending;
  struct {
    uintptr_t addr;
    uint64_t len;
    uint32_t line;
    bool is_write;
  } sample;
};

thread_local LabelState t_label __attribute__((tls_model("initial-exec")));

// Off when the start-up self-test failed.
std::atomic<bool> g_labels_usable{true};

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
      "): their accesses are not sampled in that thread", error == ENOSPC
          ? " (every debug register is taken)" : "", "\n"));
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

// Points the breakpoint at `pc` and enables it.
bool Arm(LabelState& s, uintptr_t pc) {
  perf_event_attr attr = LabelAttr(pc);
  if (s.fd_plus_one == 0) {
    int fd = static_cast<int>(
        syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0 && errno == ENOSPC && FreeADebugRegister()) {
      fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1,
                                    PERF_FLAG_FD_CLOEXEC));
    }
    if (fd < 0) {
      // No debug register left (ENOSPC), or no breakpoints at all.
      s.closed = true;
      WarnOnce(errno);
      return false;
    }
    s.fd_plus_one = fd + 1;
    RegisterFd(fd);
    return true;
  }
  return ioctl(s.fd_plus_one - 1, PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &attr) == 0;
}

// A saved register of the interrupted context, by sites.h's SavedSlot.
uintptr_t RegisterOf(const mcontext_t& m, int slot) {
  static constexpr int kGreg[] = {
      REG_R15, REG_R14, REG_R13, REG_R12, REG_R11, REG_R10, REG_R9, REG_R8,
      REG_RDI, REG_RSI, REG_RBX, REG_RDX, REG_RCX, REG_RAX, REG_EFL, REG_RBP,
      REG_RIP, REG_RSP};
  static_assert(sizeof(kGreg) / sizeof(kGreg[0]) == kSlotRsp + 1, "slots");
  if (slot < 0 || slot > kSlotRsp) return 0;
  return static_cast<uintptr_t>(m.gregs[kGreg[slot]]);
}

uintptr_t ValueOf(const mcontext_t& m, const SiteOperand& op) {
  const uintptr_t reg =
      op.slot == SiteOperand::kNoSlot ? 0 : RegisterOf(m, op.slot);
  return reg + static_cast<uintptr_t>(op.add);
}

// The self-test's label: a nop of trapsan's own.
extern "C" char __trapsan_probe_label[];
__attribute__((noinline)) void ProbeLabelTarget() {
  asm volatile(
      ".globl __trapsan_probe_label\n.hidden __trapsan_probe_label\n"
      "__trapsan_probe_label: nop" ::: "memory");
}

}  // namespace

bool ProbeLabels(std::string* evidence) {
  LabelState& s = t_label;
  const uintptr_t pc = reinterpret_cast<uintptr_t>(&__trapsan_probe_label);
  s.armed = false;
  s.probing = true;
  s.probe_traps = 0;
  s.pc = pc;
  s.armed = true;
  const uint64_t start = MonotonicNs();
  bool ok = Arm(s, pc);
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
                               traps, " SIGTRAPs, not 1");
    }
  }
  s.armed = false;
  s.probing = false;
  g_labels_usable.store(ok, std::memory_order_relaxed);
  return ok;
}

void DisableLabels() {
  g_labels_usable.store(false, std::memory_order_relaxed);
}

void CheckExpired(uint64_t region) {
  ThreadState& t = CurrentThread();
  if (!BeginSample(t)) return;
  LabelState& s = t_label;
  // A label's sample still waits for the stub (a signal handler runs first):
  // a trap now would be stale.
  if (s.pending) return;
  if (s.closed || !g_labels_usable.load(std::memory_order_relaxed)) {
    Count(Stats().labels_unavailable);
    return;
  }
  if (!WindowBudget().WouldFit()) {
    // As a refused window: come back later.
    Count(Stats().skipped_budget);
    BackOffOverBudget();
    return;
  }
  InRuntime guard;
  const uint64_t start = MonotonicNs();
  Site site;
  if (!PickLabel(region, NextRandom(t), &site)) return;
  const SiteVariant& variant = site.variant[0];
  if (variant.count == 0) return;
  const SiteAccess& a =
      site.access[variant.first + NextRandom(t) % variant.count];
  // The handler may run between any two of these steps (a trap of the old
  // label, or of the new one reached by a signal handler as soon as the
  // ioctl returns): it must see either "not armed" (a trap then is stale)
  // or the complete new label, before the breakpoint moves.
  s.armed = false;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.base = site.operand[a.base_operand];
  s.size_in_operand = a.size_operand != kNoOperand;
  if (s.size_in_operand) s.size_operand = site.operand[a.size_operand];
  s.offset = a.offset;
  s.size = a.size;
  s.line = a.line;
  s.is_write = a.is_write != 0;
  s.pc = site.pc;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.armed = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (!Arm(s, site.pc)) {
    s.armed = false;
    Count(Stats().labels_unavailable);
    return;
  }
  Count(Stats().labels_armed);
  // Arming is part of what sampling costs.
  const uint64_t cost = MonotonicNs() - start;
  WindowBudget().Charge(cost);
  Count(Stats().budget_ns, cost);
}

void HandleLabelTrap(void* ucontext) {
  LabelState& s = t_label;
  if (s.fd_plus_one != 0) ioctl(s.fd_plus_one - 1, PERF_EVENT_IOC_DISABLE, 0);
  mcontext_t& m = static_cast<ucontext_t*>(ucontext)->uc_mcontext;
  const uintptr_t rip = static_cast<uintptr_t>(m.gregs[REG_RIP]);
  if (!s.armed || s.pending || rip != s.pc) {
    s.armed = false;
    Count(Stats().labels_stale);
    return;
  }
  s.armed = false;
  if (s.probing) {
    ++s.probe_traps;
    return;
  }
  s.sample.addr = ValueOf(m, s.base) +
                  static_cast<uintptr_t>(static_cast<intptr_t>(s.offset));
  s.sample.len = s.size_in_operand ? ValueOf(m, s.size_operand) : s.size;
  s.sample.line = s.line;
  s.sample.is_write = s.is_write;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.pending = true;
  // Resume in the stub, which returns to the nop: push the nop's address as
  // the return address. (Instrumented functions have no red zone.)
  const uintptr_t sp = static_cast<uintptr_t>(m.gregs[REG_RSP]) - 8;
  *reinterpret_cast<uintptr_t*>(sp) = rip;
  m.gregs[REG_RSP] = static_cast<greg_t>(sp);
  m.gregs[REG_RIP] =
      static_cast<greg_t>(reinterpret_cast<uintptr_t>(&__trapsan_label_resume));
}

void CloseThreadLabel() {
  LabelState& s = t_label;
  s.closed = true;
  s.armed = false;
  if (s.fd_plus_one != 0) {
    UnregisterFd(s.fd_plus_one - 1);
    close(s.fd_plus_one - 1);
  }
  s.fd_plus_one = 0;
}

void ResetLabelsInChild() {
  // The parent's threads' events, this thread's included: none is ours.
  for (auto& entry : g_label_fds) {
    const int fd_plus_one = entry.exchange(0, std::memory_order_relaxed);
    if (fd_plus_one != 0) close(fd_plus_one - 1);
  }
  t_label = LabelState();
}

}  // namespace trapsan

using namespace trapsan;

// Called by __trapsan_label_resume with its saved block; the return address
// in it is the label's nop.
extern "C" __attribute__((visibility("hidden"))) void __trapsan_label_slow(
    uint64_t* saved) {
  LabelState& s = t_label;
  if (!s.pending) return;
  const auto sample = s.sample;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.pending = false;
  const uintptr_t pc = saved[kSlotReturn];
  RecordSiteSample(sample.addr, sample.len, sample.line, sample.is_write);
  Count(Stats().labels_reached);
  ThreadState& t = CurrentThread();
  if (t.in_runtime != 0) {
    Count(Stats().skipped_reentrant);
    return;
  }
  // pc as the access's pc: the nop's line is the site's.
  RunSample(t, reinterpret_cast<const volatile void*>(sample.addr),
            static_cast<size_t>(sample.len), sample.is_write, pc, pc,
            sample.line);
}
