// trapsan's own file descriptors, kept out of the numbers the program gets.
//
// The kernel gives the lowest free number below RLIMIT_NOFILE's soft limit,
// so a descriptor trapsan holds at a low number is one the program cannot
// have: under RLIMIT_NOFILE=16 it lost 5 (issue 10, defect 5). Each of
// trapsan's long-lived descriptors is moved into a reserve (F_DUPFD_CLOEXEC):
//   - above the soft limit, when the hard limit is higher: the soft limit is
//     raised for the moment of the move (and of the creation, so a program
//     that used every number still gets trapsan's pipes), then restored;
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

// pipe2(fds, O_CLOEXEC) with both ends in the reserve. False with errno set,
// nothing open, when that cannot be done.
bool ReservePipe(int fds[2]);

// Whether there is a reserve now; when not, *why says why (the limits).
bool HaveFdReserve(std::string* why);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_FD_RESERVE_H_
