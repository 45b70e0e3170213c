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
#include "label_state.h"
#include "sites.h"

extern "C" void __trapsan_label_resume();  // site_stub.S

namespace trapsan {

thread_local LabelState t_label __attribute__((tls_model("initial-exec")));

namespace {

// How labels are armed (a LabelMechanism).
std::atomic<int> g_mechanism{static_cast<int>(LabelMechanism::kUnknown)};

}  // namespace

LabelMechanism Mechanism() {
  return static_cast<LabelMechanism>(g_mechanism.load(std::memory_order_acquire));
}

namespace {

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

}  // namespace

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
