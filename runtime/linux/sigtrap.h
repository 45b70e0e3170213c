// The SIGTRAP path: the handler that turns a watchpoint trap into a conflict
// record, and the chaining that keeps every other SIGTRAP working as before
// (raise(), int3, a user's own handler, the default action).
//
// The handler is async-signal-safe: no allocation, no lock a user thread can
// hold, errno preserved. sigaction() and signal() are interposed for SIGTRAP
// only, so a handler the program installs after trapsan becomes the chained
// handler instead of replacing ours. pthread_sigmask(), sigprocmask() and
// the sa_mask of sigaction() never block SIGTRAP, so no thread can keep our
// traps pending forever.
#ifndef TRAPSAN_RUNTIME_LINUX_SIGTRAP_H_
#define TRAPSAN_RUNTIME_LINUX_SIGTRAP_H_

#include <string>

namespace trapsan {

// Installs the handler, remembering the current one as the chained handler.
bool InstallSigtrapHandler(std::string* why);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_SIGTRAP_H_
