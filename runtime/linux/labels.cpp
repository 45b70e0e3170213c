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
#include "runtime/linux/cancel.h"
#include "runtime/linux/fd_reserve.h"
#include "runtime/core/options.h"
#include "runtime/core/release.h"
#include "runtime/linux/label_int3.h"
#include "runtime/linux/soft_sites.h"
#include "runtime/core/soft_watch.h"
#include "runtime/linux/perf_fd.h"
#include "runtime/linux/probe.h"
#include "runtime/linux/sigtrap.h"
#include "runtime/report/reporter.h"
#include "sites.h"

extern "C" void __trapsan_label_resume();  // site_stub.S

namespace trapsan {
namespace {

// Cold labels remembered for re-arming (LabelState::displaced).
constexpr int kMaxDisplacedColdLabels = 4;

// The calling thread's label breakpoint and the access it is armed for.
// Zero-initialized: no event yet.
struct LabelState {
  int fd_plus_one;  // the event's fd + 1; 0: none yet
  uint64_t fd_id;   // its event id (perf_fd.h)
  bool closed;      // exiting, or the event cannot be opened: no more labels
  bool armed;       // the breakpoint is on `pc`
  uintptr_t pc;
  LabelAccess access;  // the armed access, from the label's note
  int probe_traps;     // the self-test's traps (access.probe)
  // Set by the handler when the label was reached: the access to sample
  // (a copy: a signal handler's check may re-arm before it is sampled).
  bool pending;
  // A label armed at one of its region's first executions (cold_sites.h)
  // waits to be reached until this time (MonotonicNs): checks that are not
  // cold do not re-point the breakpoint meanwhile (a loop between a
  // function's entry and its one-off access would, at every expiry).
  uint64_t cold_until;
  // The armed cold label (while cold_until is set), and cold labels a later
  // cold check re-pointed the breakpoint away from before they were reached
  // (a callee's first execution armed its own: main's one-off write after
  // a call of a function that runs for the first time). When a cold chain
  // ends (its region has no next label), the newest of them is armed again.
  uint64_t cold_region;
  uintptr_t cold_pc;
  struct {
    uint64_t region;
    uintptr_t pc;
    uint64_t until;  // MonotonicNs(): forgotten after
  } displaced[kMaxDisplacedColdLabels];
  int displaced_count;
  struct {
    uintptr_t addr;
    uint64_t len;
    uintptr_t pc;  // the label
    uint32_t line;
    bool is_write;
    int patch;  // the int3 patch to put back (label_int3.h), or -1
    uint64_t patch_generation;
    bool soft_check;  // (LabelAccess::soft_check)
    bool releases_marked;  // (LabelAccess::releases_marked)
    bool cold;        // (LabelAccess::cold)
    uint64_t region;  // (LabelAccess::region)
  } sample;
};

thread_local LabelState t_label __attribute__((tls_model("initial-exec")));

// How long a cold label keeps the breakpoint from checks that are not cold.
constexpr uint64_t kColdLabelWaitNs = 20000000;  // 20 ms

// How labels are armed (a LabelMechanism).
std::atomic<int> g_mechanism{static_cast<int>(LabelMechanism::kUnknown)};

LabelMechanism Mechanism() {
  return static_cast<LabelMechanism>(g_mechanism.load(std::memory_order_acquire));
}

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

// The self-test's label: a nop of trapsan's own; and one that is never run
// (TRAPSAN_TESTONLY_EXEC_BREAKPOINTS=undelivered points the breakpoint
// self-test there).
extern "C" char __trapsan_probe_label[];
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

void CloseFd(LabelState& s) {
  if (s.fd_plus_one != 0) {
    UnregisterFd(s.fd_plus_one - 1);
    ClosePerfFd(s.fd_plus_one - 1, s.fd_id);
  }
  s.fd_plus_one = 0;
}

// The self-test of execution breakpoints, on the calling thread.
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

}  // namespace

const char* LabelMechanismName(LabelMechanism m) {
  switch (m) {
    case LabelMechanism::kUnknown: return "not decided";
    case LabelMechanism::kNone: return "none";
    case LabelMechanism::kBreakpoint: return "execution breakpoints";
    case LabelMechanism::kInt3: return "int3 patching";
  }
  return "?";
}

LabelMechanism CurrentLabelMechanism() { return Mechanism(); }

LabelMechanism ProbeLabels(bool breakpoints, std::string* evidence) {
  LabelMechanism chosen = LabelMechanism::kNone;
  std::string seen;
  if (breakpoints) {
    if (ProbeBreakpoints(&seen)) {
      chosen = LabelMechanism::kBreakpoint;
    } else {
      absl::StrAppend(&seen, "; ");
    }
  } else {
    seen = "execution breakpoints not used (no hardware backend); ";
  }
  if (chosen == LabelMechanism::kNone) {
    std::string int3;
    if (Int3Probe(reinterpret_cast<uintptr_t>(&__trapsan_probe_label),
                  ProbeLabelTarget, &int3)) {
      chosen = LabelMechanism::kInt3;
    }
    absl::StrAppend(&seen, int3);
  }
  *evidence = absl::StrCat("label sites armed by ", LabelMechanismName(chosen),
                           " (", seen, ")");
  g_mechanism.store(static_cast<int>(chosen), std::memory_order_release);
  return chosen;
}

void DisableLabels() {
  g_mechanism.store(static_cast<int>(LabelMechanism::kNone),
                    std::memory_order_release);
}

namespace {

// Labels arrived after start-up (a dlopen()ed library): the first check
// that runs out decides how they are armed.
LabelMechanism DecideLate() {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (Mechanism() != LabelMechanism::kUnknown) return Mechanism();
  std::string why, evidence;
  const bool hw = ActiveBackend() == Backend::kHw;
  if (BeingTraced()) {
    // Each label's trap would stop the program in the debugger.
    DisableLabels();
    return LabelMechanism::kNone;
  }
  if (!hw && !InstallSigtrapHandler(&why)) {
    DisableLabels();
    return LabelMechanism::kNone;
  }
  if (ProbeLabels(hw, &evidence) == LabelMechanism::kNone) {
    PrintToSink(absl::StrCat("trapsan: WARNING: label sites of instrumented "
                             "code will not be sampled: ", evidence, "\n"));
  } else if (GetOptions().verbosity >= 1) {
    PrintToSink(absl::StrCat("trapsan: ", evidence, "\n"));
  }
  return Mechanism();
}

LabelAccess AccessOf(const Site& site, const SiteAccess& a) {
  LabelAccess access;
  access.base = site.operand[a.base_operand];
  access.size_in_operand = a.size_operand != kNoOperand;
  if (access.size_in_operand) access.size_operand = site.operand[a.size_operand];
  access.offset = a.offset;
  access.size = a.size;
  access.line = a.line;
  access.is_write = a.is_write != 0;
  access.releases_marked = (site.flags & kSiteReleasePoints) != 0;
  return access;
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

}  // namespace

namespace {

// Arms `site` (a label of `region`) for a sample of one of its accesses,
// cold or not; `start`: MonotonicNs() when the arming began (its cost is
// charged). Inside the runtime.
void ArmSampleLabel(ThreadState& t, LabelState& s, LabelMechanism mechanism,
                    const Site& site, uint64_t region, bool cold,
                    uint64_t start) {
  const SiteVariant& variant = site.variant[0];
  if (variant.count == 0) return;
  unsigned pick = static_cast<unsigned>(NextRandom(t) % variant.count);
  if (cold) {
    // A label reached once gets one sample: a write if it has one (a
    // write's window sees the other side's reads and writes, a read's only
    // writes).
    unsigned writes = 0;
    for (unsigned i = 0; i < variant.count; ++i)
      writes += site.access[variant.first + i].is_write != 0;
    if (writes != 0) {
      unsigned k = static_cast<unsigned>(NextRandom(t) % writes);
      for (unsigned i = 0; i < variant.count; ++i) {
        if (site.access[variant.first + i].is_write == 0) continue;
        if (k-- == 0) {
          pick = i;
          break;
        }
      }
    }
  }
  LabelAccess access = AccessOf(site, site.access[variant.first + pick]);
  access.cold = cold;
  access.region = region;
  const bool armed = mechanism == LabelMechanism::kInt3
                         ? Int3ArmLabel(site.pc, access)
                         : ArmBreakpointLabel(s, site, access);
  if (!armed) {
    Count(Stats().labels_unavailable);
    return;
  }
  Count(Stats().labels_armed);
  s.cold_until = cold ? start + kColdLabelWaitNs : 0;
  s.cold_region = region;
  s.cold_pc = site.pc;
  // Arming is part of what sampling costs.
  const uint64_t cost = MonotonicNs() - start;
  WindowBudget().Charge(cost);
  Count(Stats().budget_ns, cost);
}

// After a cold label's sample: the region's next label (in pc order: in
// straight-line code, the next one reached) is armed cold too, so a region
// that runs once has each of its accesses sampled, not one picked by weight.
void ArmNextColdLabel(ThreadState& t, uint64_t region, uintptr_t pc) {
  LabelState& s = t_label;
  const LabelMechanism mechanism = Mechanism();
  if (s.pending || s.closed ||
      (mechanism != LabelMechanism::kInt3 &&
       mechanism != LabelMechanism::kBreakpoint) ||
      !WindowBudget().WouldFit(kColdBudgetScale))
    return;
  InRuntime guard;
  const uint64_t start = MonotonicNs();
  Site site;
  if (NextLabel(region, pc, &site)) {
    ArmSampleLabel(t, s, mechanism, site, region, /*cold=*/true, start);
    return;
  }
  // The chain ends: a displaced cold label, if any, gets the breakpoint back.
  while (s.displaced_count > 0) {
    const auto d = s.displaced[--s.displaced_count];
    if (s.displaced_count == 0) __trapsan_windows_open &= ~kLabelRestoreBit;
    if (NextLabel(d.region, d.pc - 1, &site) && site.pc == d.pc) {
      ArmSampleLabel(t, s, mechanism, site, d.region, /*cold=*/true, start);
      return;
    }
  }
}

// A cold check is about to re-point the breakpoint: the cold label armed
// and not reached yet is remembered (the oldest forgotten when full).
void RememberDisplacedColdLabel(LabelState& s) {
  if (s.cold_until == 0 || s.cold_pc == 0) return;
  if (s.displaced_count == kMaxDisplacedColdLabels) {
    for (int i = 1; i < kMaxDisplacedColdLabels; ++i)
      s.displaced[i - 1] = s.displaced[i];
    --s.displaced_count;
  }
  s.displaced[s.displaced_count].region = s.cold_region;
  s.displaced[s.displaced_count].pc = s.cold_pc;
  s.displaced[s.displaced_count].until = MonotonicNs() + kColdLabelWaitNs;
  ++s.displaced_count;
  // The thread's release points take the slow path until it is re-armed.
  __trapsan_windows_open |= kLabelRestoreBit;
}

// How far before a displaced label a release point may be to re-arm it
// (the caller's code after the call that displaced it).
constexpr uintptr_t kRestoreReachBytes = 4096;

}  // namespace

void RestoreDisplacedColdLabel(uintptr_t point_pc) {
  ThreadState& t = CurrentThread();
  LabelState& s = t_label;
  if (t.in_runtime != 0 || s.pending) return;
  const uint64_t now = MonotonicNs();
  int kept = 0;
  for (int i = 0; i < s.displaced_count; ++i) {
    if (s.displaced[i].until > now) s.displaced[kept++] = s.displaced[i];
  }
  s.displaced_count = kept;
  const LabelMechanism mechanism = Mechanism();
  for (int i = s.displaced_count - 1; i >= 0 && !s.closed; --i) {
    const auto d = s.displaced[i];
    if (d.pc <= point_pc || d.pc - point_pc > kRestoreReachBytes) continue;
    for (int j = i + 1; j < s.displaced_count; ++j)
      s.displaced[j - 1] = s.displaced[j];
    --s.displaced_count;
    if (mechanism != LabelMechanism::kInt3 &&
        mechanism != LabelMechanism::kBreakpoint)
      break;
    InRuntime guard;
    const uint64_t start = MonotonicNs();
    Site site;
    if (NextLabel(d.region, d.pc - 1, &site) && site.pc == d.pc)
      ArmSampleLabel(t, s, mechanism, site, d.region, /*cold=*/true, start);
    break;
  }
  if (s.displaced_count == 0) __trapsan_windows_open &= ~kLabelRestoreBit;
}

void CheckExpired(uint64_t region) {
  ThreadState& t = CurrentThread();
  if (!BeginSample(t)) return;
  LabelState& s = t_label;
  // A label's sample still waits for the stub (a signal handler runs first):
  // a trap now would be stale.
  if (s.pending) return;
  if (s.cold_until != 0 && !ColdSample()) {
    if (MonotonicNs() < s.cold_until) return;  // a cold label waits
    s.cold_until = 0;
  }
  LabelMechanism mechanism = Mechanism();
  if (mechanism == LabelMechanism::kUnknown) {
    InRuntime guard;
    mechanism = DecideLate();
  }
  if (s.closed || mechanism == LabelMechanism::kNone) {
    Count(Stats().labels_unavailable);
    return;
  }
  if (!WindowBudget().WouldFit(ColdSample() ? kColdBudgetScale : 1)) {
    // As a refused window: come back later.
    Count(Stats().skipped_budget);
    BackOffOverBudget();
    return;
  }
  InRuntime guard;
  const uint64_t start = MonotonicNs();
  Site site;
  // A cold execution starts at the region's first label (then each label
  // reached arms the next: LabelSlowHeld); another picks one by weight.
  if (ColdSample() ? !NextLabel(region, 0, &site)
                   : !PickLabel(region, NextRandom(t), &site))
    return;
  if (ColdSample()) RememberDisplacedColdLabel(s);
  ArmSampleLabel(t, s, mechanism, site, region, ColdSample(), start);
}

void ArmLabelForSoftCheck(uint64_t region) {
  ThreadState& t = CurrentThread();
  LabelState& s = t_label;
  const LabelMechanism mechanism = Mechanism();
  if (t.in_runtime != 0 || s.pending || s.closed ||
      (mechanism != LabelMechanism::kInt3 &&
       mechanism != LabelMechanism::kBreakpoint))
    return;
  InRuntime guard;
  Site site;
  if (!PickLabel(region, NextRandom(t), &site)) return;
  const SiteVariant& variant = site.variant[0];
  if (variant.count == 0) return;
  LabelAccess access = AccessOf(
      site, site.access[variant.first + NextRandom(t) % variant.count]);
  access.soft_check = true;
  if (mechanism == LabelMechanism::kInt3) {
    Int3ArmLabel(site.pc, access);
  } else {
    ArmBreakpointLabel(s, site, access);
  }
}

bool LabelSampleWaiting() { return t_label.pending; }

bool TakeLabelSample(void* ucontext, uintptr_t label_pc, uintptr_t resume_pc,
                     const LabelAccess& access) {
  LabelState& s = t_label;
  if (s.pending) return false;
  mcontext_t& m = static_cast<ucontext_t*>(ucontext)->uc_mcontext;
  s.sample.addr = ValueOf(m, access.base) +
                  static_cast<uintptr_t>(static_cast<intptr_t>(access.offset));
  s.sample.len =
      access.size_in_operand ? ValueOf(m, access.size_operand) : access.size;
  s.sample.pc = label_pc;
  s.sample.line = access.line;
  s.sample.is_write = access.is_write;
  s.sample.patch = access.patch;
  s.sample.patch_generation = access.patch_generation;
  s.sample.soft_check = access.soft_check;
  s.sample.releases_marked = access.releases_marked;
  s.sample.cold = access.cold;
  s.sample.region = access.region;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.pending = true;
  // Resume in the stub, which returns to `resume_pc`: push it as the return
  // address. (Instrumented functions have no red zone.)
  const uintptr_t sp = static_cast<uintptr_t>(m.gregs[REG_RSP]) - 8;
  *reinterpret_cast<uintptr_t*>(sp) = resume_pc;
  m.gregs[REG_RSP] = static_cast<greg_t>(sp);
  m.gregs[REG_RIP] =
      static_cast<greg_t>(reinterpret_cast<uintptr_t>(&__trapsan_label_resume));
  // No cancellation on the way in (cancel.h): __trapsan_label_slow unblocks.
  AddCancelSignal(&static_cast<ucontext_t*>(ucontext)->uc_sigmask);
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

using namespace trapsan;

static void LabelSlowHeld(uint64_t* saved);

// Called by __trapsan_label_resume with its saved block; the return address
// in it is the label's nop (after an execution breakpoint) or just past it
// (after an int3); the sample says which label. SIGCANCEL is blocked until
// cancellation is held off (cancel.h); no cleanups in this frame.
extern "C" __attribute__((visibility("hidden"))) void __trapsan_label_slow(
    uint64_t* saved) {
  const CancelHold hold = HoldCancel();
  UnblockCancelSignal();
  LabelSlowHeld(saved);
  ReleaseCancel(hold);
}

__attribute__((noinline)) static void LabelSlowHeld(uint64_t* saved) {
  LabelState& s = t_label;
  if (!s.pending) return;
  const auto sample = s.sample;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  s.pending = false;
  s.cold_until = 0;
  // The nop back first: other threads pass the int3 until then.
  if (sample.patch >= 0) Int3FinishSample(sample.patch, sample.patch_generation);
  // The label (the stub returns past it after an int3).
  const uintptr_t pc = sample.pc;
  if (sample.soft_check) {  // armed for the open soft windows: no sample
    if (SoftWatchAccess(reinterpret_cast<const volatile void*>(sample.addr),
                        static_cast<size_t>(sample.len), sample.is_write, pc,
                        pc, sample.line))
      SoftSiteConflictRecorded();
    return;
  }
  (void)saved;
  RecordSiteSample(sample.addr, sample.len, sample.line, sample.is_write,
                   sample.releases_marked);
  Count(Stats().labels_reached);
  ThreadState& t = CurrentThread();
  if (t.in_runtime != 0) {
    Count(Stats().skipped_reentrant);
    return;
  }
  // pc as the access's pc: the nop's line is the site's.
  ColdSampleScope cold(sample.cold);
  RunSample(t, reinterpret_cast<const volatile void*>(sample.addr),
            static_cast<size_t>(sample.len), sample.is_write, pc, pc,
            sample.line);
  if (sample.cold && t.in_runtime == 0) ArmNextColdLabel(t, sample.region, pc);
}
