// Ownership of trapsan's perf event fds. A program may close every fd above
// 2 (a daemon, a process about to exec) and open its own files, pipes or
// devices on the same numbers: trapsan must then neither ioctl nor close
// them. Every use of a perf fd first checks that the number still refers to
// the event trapsan opened: a perf event at all (fstat: the anonymous inode
// that every perf event fd shares, which no file, pipe, socket or device
// has), then the same event (PERF_EVENT_IOC_ID, which only reads; on another
// kind of anonymous-inode fd, an eventfd or epoll fd, it fails with ENOTTY
// and changes nothing).
#ifndef TRAPSAN_RUNTIME_LINUX_PERF_FD_H_
#define TRAPSAN_RUNTIME_LINUX_PERF_FD_H_

#include <cstdint>

namespace trapsan {

// A perf event fd trapsan just opened: returns its event id (0 if it could
// not be read; then only the fstat check applies).
uint64_t NotePerfFd(int fd);

// Whether `fd` still is the perf event with `id` (0: any perf event, or
// another anonymous-inode fd: the fstat check alone, one system call, for
// PERF_EVENT_IOC_DISABLE, which the other anonymous-inode fds refuse;
// arming, which changes an event, checks the id too). Async-signal-safe.
bool OwnsPerfFd(int fd, uint64_t id);

// Closes `fd` if it still is the perf event with `id`. Async-signal-safe.
void ClosePerfFd(int fd, uint64_t id);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_PERF_FD_H_
