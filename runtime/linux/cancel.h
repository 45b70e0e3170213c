// Thread cancellation (pthread_cancel) held off while trapsan's code runs.
//
// A cancelled thread unwinds from wherever cancellation acts: asynchronous
// cancellation (PTHREAD_CANCEL_ASYNCHRONOUS) at any instruction, deferred
// cancellation at the next cancellation point, and trapsan has several of
// those (clock_nanosleep in the window's stall, write in the reporter,
// waits for the symbolizer). Unwound from inside trapsan, a thread left a
// window's slot busy for good (every later sample skipped: no slot), could
// leave a lock held, and an asynchronous cancellation inside C++ code with
// cleanups ends in std::terminate ("terminate called without an active
// exception": the unwinder finds no call site for the interrupted
// instruction). Issue 10, defect 3.
//
// So each way into trapsan's slow path (a sample; never the fast path) holds
// cancellation off:
//
//     const CancelHold hold = HoldCancel();
//     ...work in a function of its own (noinline)...
//     ReleaseCancel(hold);
//
// and a cancellation that came meanwhile acts in ReleaseCancel, once
// trapsan's state is consistent again: at once for an asynchronous one (as it
// would have), at the program's next cancellation point for a deferred one
// (ReleaseCancel adds none). The function calling these must have no
// cleanups of its own (no object with a destructor): an asynchronous
// cancellation may unwind through it before HoldCancel and from
// ReleaseCancel.
//
// Both the state (disabled: no cancellation point acts, no new SIGCANCEL is
// sent) and the type (deferred: glibc's SIGCANCEL handler acts on the type
// alone, so one sent just before the hold would still unwind) are set.
// Cost: two pthread_setcancel* calls each way (an atomic each, no system
// call). Any thread, any nesting (an inner hold finds it held and does
// nothing). Not in a signal handler: the SIGTRAP handler keeps SIGCANCEL
// blocked instead, and a handler that sends the thread into trapsan on its
// return (a label's sample) leaves it blocked until the hold is taken there.
#ifndef TRAPSAN_RUNTIME_LINUX_CANCEL_H_
#define TRAPSAN_RUNTIME_LINUX_CANCEL_H_

#include <signal.h>

namespace trapsan {

// What ReleaseCancel restores: the state and type HoldCancel found.
struct CancelHold {
  bool was_enabled;
  bool was_async;
};

CancelHold HoldCancel();
void ReleaseCancel(CancelHold hold);

// SIGCANCEL, glibc's cancellation signal (sigaddset refuses it), added to a
// signal mask: a handler's sa_mask, or the mask a handler's return restores
// (ucontext's uc_sigmask). Async-signal-safe.
void AddCancelSignal(sigset_t* set);
// Unblocks SIGCANCEL in the calling thread (rt_sigprocmask).
void UnblockCancelSignal();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_CANCEL_H_
