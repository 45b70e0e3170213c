// Signals blocked for a scope, through the system call itself: trapsan
// interposes pthread_sigmask/sigprocmask (linux/sigtrap.cpp) to keep SIGTRAP
// deliverable for the program, and glibc's leave SIGCANCEL and SIGSETXID
// alone; trapsan's own critical sections need exactly what they ask for.
// Async-signal-safe; errno preserved.
#ifndef TRAPSAN_RUNTIME_LINUX_SIGNALS_BLOCKED_H_
#define TRAPSAN_RUNTIME_LINUX_SIGNALS_BLOCKED_H_

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace trapsan {

class SignalsBlocked {
 public:
  // Every signal sigfillset() gives (the kernel keeps SIGKILL and SIGSTOP).
  SignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    Block(&all);
  }
  // Only `sig`.
  explicit SignalsBlocked(int sig) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    Block(&one);
  }
  ~SignalsBlocked() {
    const int e = errno;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &saved_, nullptr, kSigsetBytes);
    errno = e;
  }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;

 private:
  static constexpr long kSigsetBytes = 8;  // the kernel's sigset_t

  void Block(const sigset_t* set) {
    const int e = errno;
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, set, &saved_, kSigsetBytes);
    errno = e;
  }

  sigset_t saved_;
};

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_SIGNALS_BLOCKED_H_
