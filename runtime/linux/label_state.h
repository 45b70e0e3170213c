// A thread's label state (its execution breakpoint, the access armed, the
// cold labels it waits for) and the steps the label files share:
// labels.cpp (checks running out, sampling a reached label), label_breakpoint.cpp
// (the per-thread execution breakpoint) and cold_labels.cpp (chains of cold
// labels, displaced ones armed again). Internal to them; labels.h is the
// interface.
#ifndef TRAPSAN_RUNTIME_LINUX_LABEL_STATE_H_
#define TRAPSAN_RUNTIME_LINUX_LABEL_STATE_H_

#include <cstdint>
#include <string>

#include "labels.h"
#include "sites.h"
#include "runtime/core/thread_state.h"

extern "C" char __trapsan_probe_label[];  // ProbeLabelTarget's nop

namespace trapsan {

// Cold labels remembered for re-arming (LabelState::displaced).
constexpr int kMaxDisplacedColdLabels = 4;

// How long a cold label keeps the breakpoint from checks that are not cold.
constexpr uint64_t kColdLabelWaitNs = 20000000;  // 20 ms

// How long a displaced cold label waits to be armed again. Longer than the
// above: the callee that displaced it may run a while (the lit tests'
// print_address: three writes to stderr and cold labels of its own, each
// label a perf ioctl of 1-7 ms in the qemu guest, went past 20 ms there and
// main's one-off write was never sampled). Only the thread's release points
// pay meanwhile (their slow path, kLabelRestoreBit).
constexpr uint64_t kDisplacedColdLabelWaitNs = 200000000;  // 200 ms

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

extern thread_local LabelState t_label __attribute__((tls_model("initial-exec")));

// How labels are armed now (labels.cpp).
LabelMechanism Mechanism();

// label_breakpoint.cpp:
// Points the thread's execution breakpoint at the label.
bool ArmBreakpointLabel(LabelState& s, const Site& site,
                        const LabelAccess& access);
// The self-test of execution breakpoints, on the calling thread.
bool ProbeBreakpoints(std::string* evidence);
// Runs the self-test's label (__trapsan_probe_label).
void ProbeLabelTarget();

// labels.cpp:
// Arms `site` (a label of `region`) for a sample of one of its accesses,
// cold or not; `start`: MonotonicNs() when the arming began (its cost is
// charged). Inside the runtime.
void ArmSampleLabel(ThreadState& t, LabelState& s, LabelMechanism mechanism,
                    const Site& site, uint64_t region, bool cold,
                    uint64_t start);

// cold_labels.cpp:
// After a cold label's sample: the region's next label (in pc order: in
// straight-line code, the next one reached) is armed cold too, so a region
// that runs once has each of its accesses sampled, not one picked by weight.
void ArmNextColdLabel(ThreadState& t, uint64_t region, uintptr_t pc);
// A cold check is about to re-point the breakpoint: the cold label armed
// and not reached yet is remembered (the oldest forgotten when full).
void RememberDisplacedColdLabel(LabelState& s);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_LABEL_STATE_H_
