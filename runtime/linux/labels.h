// Label sites: the compiler plugin's default sites cost one byte (a nop and
// an ELF note) and make no call; a region's check (a calling site at a
// function's entry or a loop's header) counts for all of them. When a check
// runs out, CheckExpired picks one of its region's labels by weight and sets
// a thread-private execution breakpoint (a perf PERF_TYPE_BREAKPOINT event,
// HW_BREAKPOINT_X, sigtrap) on its nop. When the thread gets there, the
// SIGTRAP handler (HandleLabelTrap) disables the breakpoint, reads the
// access's address out of the interrupted registers (before the nop runs
// they hold the note's operands) and sends the thread through
// __trapsan_label_resume (site_stub.S), which samples it outside the
// handler and returns to the nop. A label that is not reached stays armed
// until it is, or until the thread's next expiry re-points the breakpoint.
//
// The breakpoint takes one of the thread's four debug registers: with label
// sites in the program at start-up, the window backend opens at most three
// watchpoints; when label sites arrive later (dlopen) and a thread finds no
// debug register free, the backend gives up its fourth.
//
// Where execution breakpoints do not deliver (their self-test saw no trap)
// or perf is not used (backend=soft, or hw unavailable), labels are armed by
// patching the nop to int3 instead (label_int3.h), once its own self-test
// passed; when neither mechanism is proven, checks arm nothing.
#ifndef TRAPSAN_RUNTIME_LINUX_LABELS_H_
#define TRAPSAN_RUNTIME_LINUX_LABELS_H_

#include <cstdint>
#include <string>

#include "sites.h"

namespace trapsan {

// The access a label is armed for, from its note.
struct LabelAccess {
  SiteOperand base, size_operand;
  bool size_in_operand = false;
  int32_t offset = 0;
  uint32_t size = 0, line = 0;
  bool is_write = false;
  bool probe = false;  // the self-test's: a trap is only counted
  // Armed for the open soft windows (ArmLabelForSoftCheck): the thread that
  // reaches it checks the access against them instead of sampling it.
  bool soft_check = false;
  // The label's site has kSiteReleasePoints (sites.h).
  bool releases_marked = false;
  // Armed at one of its region's first executions (cold_sites.h); its
  // region (the next label of it is armed when this one is reached).
  bool cold = false;
  uint64_t region = 0;
  // The int3 patch this sample was taken at (label_int3.h; -1: none): the
  // stub puts its nop back before sampling.
  int patch = -1;
  uint64_t patch_generation = 0;
};

// How label sites are armed.
enum class LabelMechanism {
  kUnknown,     // not decided yet (no label sites at start-up)
  kNone,        // not at all: no mechanism proven, or under a debugger
  kBreakpoint,  // a per-thread perf execution breakpoint
  kInt3,        // the nop patched to int3 (label_int3.h)
};
const char* LabelMechanismName(LabelMechanism m);
LabelMechanism CurrentLabelMechanism();

// The thread that reached label `label_pc` with the registers of `ucontext`
// samples `access`: unless a sample of this thread already waits for the
// stub (then false), records it and makes the thread resume in
// __trapsan_label_resume, which returns to `resume_pc`. Async-signal-safe.
bool TakeLabelSample(void* ucontext, uintptr_t label_pc, uintptr_t resume_pc,
                     const LabelAccess& access);
// Whether a sample of the calling thread waits for the stub.
bool LabelSampleWaiting();

// sig_data of the label breakpoints (DecodeCookie rejects it).
inline constexpr uint64_t kLabelCookie = 0x7a5b000000000001ull;

// A check of `region` ran out (called by __trapsan_site_slow).
void CheckExpired(uint64_t region);

// A check of `region` forced to run out while soft windows are open
// (soft_sites.h): arms one of its labels, by weight, for a soft check.
void ArmLabelForSoftCheck(uint64_t region);

// A release point at `point_pc` reached while a cold label waits to be armed
// again (core/release.h's kLabelRestoreBit): a callee's first execution took
// the thread's label breakpoint from its caller's cold label before that was
// reached; a point shortly before the displaced label (the caller again,
// after the call) arms it again. Expired ones (kDisplacedColdLabelWaitNs) are
// forgotten; the bit is cleared when none is left. Ordinary context,
// cancellation held.
void RestoreDisplacedColdLabel(uintptr_t point_pc);

// The SIGTRAP handler's part, for a trap carrying kLabelCookie.
// Async-signal-safe.
void HandleLabelTrap(void* ucontext);

// Chooses how labels are armed (at start-up with label sites in the
// program, else at the first check that runs out): with `breakpoints` (the
// hw backend is active), the self-test of execution breakpoints arms the
// calling thread's breakpoint on a label of trapsan's own and runs it (ok
// when exactly one trap arrived there, in this thread); if it fails, or
// without `breakpoints`, the self-test of int3 patching runs on that label.
// The first mechanism proven is used; *evidence says what was seen.
// Needs the SIGTRAP handler installed.
// TRAPSAN_TESTONLY_EXEC_BREAKPOINTS=undelivered in the environment points
// the breakpoint self-test at a nop that is not run (a machine whose
// breakpoints do not deliver, for tests).
LabelMechanism ProbeLabels(bool breakpoints, std::string* evidence);

// Under a debugger (the start-up probe saw a tracer), label sites are not
// used: each label's SIGTRAP would stop the program in the debugger.
void DisableLabels();

// Thread exit: closes the thread's breakpoint (none is opened again).
void CloseThreadLabel();
// fork(), in the child: closes every thread's breakpoint fd (they are the
// parent's threads' events, the forking thread's included) and resets this
// thread's state; it opens a breakpoint of its own when it needs one.
void ResetLabelsInChild();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_LABELS_H_
