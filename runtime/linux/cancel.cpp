#include "cancel.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace trapsan {

CancelHold HoldCancel() {
  int state = PTHREAD_CANCEL_ENABLE, type = PTHREAD_CANCEL_DEFERRED;
  // The state first: a SIGCANCEL between the two calls unwinds from here,
  // before anything is held.
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
  pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &type);
  return CancelHold{state == PTHREAD_CANCEL_ENABLE,
                    type == PTHREAD_CANCEL_ASYNCHRONOUS};
}

void ReleaseCancel(CancelHold hold) {
  // The state first, while the type is deferred (no action); restoring the
  // asynchronous type then acts on a cancellation that came meanwhile, as it
  // would have acted where the program was. (Not the other way round: glibc
  // 2.36's pthread_setcancelstate acts too, but leaves the thread's result
  // unset, and pthread_join gets NULL, not PTHREAD_CANCELED.) The
  // pthread_testcancel is for a libc that does not act at all. A deferred
  // cancellation waits for the program's next cancellation point: acting
  // here would add one the program does not have.
  if (hold.was_enabled) pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, nullptr);
  if (!hold.was_async) return;
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, nullptr);
  if (hold.was_enabled) pthread_testcancel();
}

// glibc's SIGCANCEL: the first real-time signal the kernel has (the
// program's SIGRTMIN is above it).
constexpr int kSigCancel = __SIGRTMIN;

void AddCancelSignal(sigset_t* set) {
  // The kernel's mask is the first 64 bits of glibc's sigset_t.
  set->__val[(kSigCancel - 1) / (8 * sizeof(unsigned long))] |=
      1ul << ((kSigCancel - 1) % (8 * sizeof(unsigned long)));
}

void UnblockCancelSignal() {
  unsigned long mask = 1ul << (kSigCancel - 1);
  syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &mask, nullptr, sizeof mask);
}

}  // namespace trapsan
