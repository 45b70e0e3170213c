// trapsan's own file descriptors, kept out of the numbers the program gets.
//
// The kernel gives the lowest free number below RLIMIT_NOFILE's soft limit,
// so a descriptor trapsan holds at a low number is one the program cannot
// have: under RLIMIT_NOFILE=16 it lost 5 (issue 10, defect 5). Each of
// trapsan's long-lived descriptors is moved into a reserve (F_DUPFD_CLOEXEC):
//   - above the soft limit, when the hard limit is higher: the soft limit is
//     raised for the moment of the move (and of the creation, so a program
//     that used every number still gets trapsan's pipes and events), then
//     restored. Safe with many threads at once: the first reserve in
//     progress raises the limit, the last one restores it (under a lock
//     taken with every signal blocked); a fork child gets the program's
//     limit back. While a reserve is in progress (microseconds) another
//     thread's getrlimit sees the raised limit, and a setrlimit it makes
//     then is kept only if it is not the same as the raised one;
//   - else, when the soft limit is at least kTopReserveMin, the top quarter of
//     the numbers below it (the program gets the lowest free ones);
//   - else there is no reserve: the caller does without the descriptor (or
//     holds it only as long as it needs it) and says why (ReserveProblem).
#ifndef TRAPSAN_RUNTIME_LINUX_FD_RESERVE_H_
#define TRAPSAN_RUNTIME_LINUX_FD_RESERVE_H_

#include <string>

namespace trapsan {

inline constexpr unsigned long kTopReserveMin = 256;

// Moves `fd` (just opened by trapsan) into the reserve: returns its new
// number (close-on-exec), or -1 with errno set (EMFILE when there is no
// reserve), `fd` closed either way. -1 in, -1 out (errno kept).
int ReserveFd(int fd);

// Calls open_fn(arg) (which returns a new descriptor, or -1 with errno set)
// while the reserve's limit is in effect, and moves its descriptor as
// ReserveFd does.
int ReserveOpen(int (*open_fn)(void*), void* arg);

// pipe2(fds, O_CLOEXEC) with both ends in the reserve. False with errno set,
// nothing open, when that cannot be done.
bool ReservePipe(int fds[2]);

// Whether there is a reserve now; when not, *why says why (the limits).
bool HaveFdReserve(std::string* why);

// This process's /proc/thread-self/mem (its memory: the address space is
// the process's), opened once in the reserve and kept, for writing its own
// text (text_patch.cpp). Opened for each write instead, that file took the
// program's lowest free number for a moment from whichever thread wrote: a
// program thread's open() then got another number, or EMFILE at the limit
// (3% of a thread's opens in mode=ci here, while label sites were armed and
// disarmed by int3). -1 when there is none: no reserve (the caller opens
// one for the write, as before), or not this process's (a vfork or raw clone
// child, which no fork handler ran in). Checked before each use: a number
// the program closed and reused is never written to (then -1, and opened
// again at the next call). The first call opens it (one moment at a low
// number per process). Not async-signal-safe.
int KeptProcMemFd();

// fork() (lifecycle.cpp): the lock taken before it, given back after it in
// the parent; in the child, the program's limit back if a reserve of another
// thread had raised it, and a free lock; the child's copy of the kept
// /proc/thread-self/mem (the parent's memory) closed.
void LockFdReserveForFork();
void UnlockFdReserveAfterFork();
void ResetFdReserveInChild();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_FD_RESERVE_H_
