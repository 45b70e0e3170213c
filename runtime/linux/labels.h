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
#ifndef TRAPSAN_RUNTIME_LINUX_LABELS_H_
#define TRAPSAN_RUNTIME_LINUX_LABELS_H_

#include <cstdint>
#include <string>

namespace trapsan {

// sig_data of the label breakpoints (DecodeCookie rejects it).
inline constexpr uint64_t kLabelCookie = 0x7a5b000000000001ull;

// A check of `region` ran out (called by __trapsan_site_slow).
void CheckExpired(uint64_t region);

// The SIGTRAP handler's part, for a trap carrying kLabelCookie.
// Async-signal-safe.
void HandleLabelTrap(void* ucontext);

// The start-up self-test of label breakpoints (with label sites in the
// program): arms the calling thread's breakpoint on a label of trapsan's
// own and runs it; ok when exactly one trap arrived there, in this thread.
// On failure label sites are not used (checks arm nothing) and *evidence
// says why.
bool ProbeLabels(std::string* evidence);

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
