// Chains of cold labels (a region run for the first time has each of its
// labels sampled in turn) and cold labels displaced by a callee's own cold
// check, armed again (labels.h: RestoreDisplacedColdLabel).
#include <atomic>

#include "label_state.h"
#include "runtime/core/budget.h"
#include "runtime/core/clock.h"
#include "runtime/core/release.h"
#include "runtime/core/sampler.h"
#include "runtime/core/thread_state.h"

namespace trapsan {
namespace {

// How far before a displaced label a release point may be to re-arm it
// (the caller's code after the call that displaced it).
constexpr uintptr_t kRestoreReachBytes = 4096;

}  // namespace

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

void RememberDisplacedColdLabel(LabelState& s) {
  if (s.cold_until == 0 || s.cold_pc == 0) return;
  if (s.displaced_count == kMaxDisplacedColdLabels) {
    for (int i = 1; i < kMaxDisplacedColdLabels; ++i)
      s.displaced[i - 1] = s.displaced[i];
    --s.displaced_count;
  }
  s.displaced[s.displaced_count].region = s.cold_region;
  s.displaced[s.displaced_count].pc = s.cold_pc;
  s.displaced[s.displaced_count].until =
      MonotonicNs() + kDisplacedColdLabelWaitNs;
  ++s.displaced_count;
  // The thread's release points take the slow path until it is re-armed.
  __trapsan_windows_open |= kLabelRestoreBit;
}

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

}  // namespace trapsan
