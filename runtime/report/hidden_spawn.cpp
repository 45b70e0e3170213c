#include "hidden_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "runtime/linux/fd_reserve.h"
#include "runtime/report/sink.h"

namespace trapsan {
namespace {

// The symbolizer's keeper (SpawnHidden) shares the program's memory and
// outlives the call that made it: it must not touch errno, thread-local
// storage or any lock. Raw system calls: the result, or -errno.
__attribute__((always_inline)) inline long Sys(long n, long a = 0, long b = 0,
                                               long c = 0, long d = 0,
                                               long e = 0) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
}

struct KeeperArgs {
  const char* binary;
  char* const* argv;
  char* const* envp;
  int in_fd, out_fd;  // become the symbolizer's stdin and stdout
  int status_fd;      // gets the exec's errno; closes when the exec worked
  bool quiet;         // quiet=1: its stderr is /dev/null (sink.h)
};

[[noreturn, gnu::always_inline]] inline void SysExit(int status) {
  for (;;) Sys(SYS_exit_group, status);
}

// Marks every descriptor from 3 on close-on-exec (or closes every one).
[[gnu::always_inline]] inline void SysCloseFrom(int first, bool on_exec) {
  constexpr unsigned kCloseRangeCloexec = 4;  // CLOSE_RANGE_CLOEXEC (5.11)
  if (Sys(SYS_close_range, first, ~0u, on_exec ? kCloseRangeCloexec : 0) == 0)
    return;
  struct {
    uint64_t cur, max;
  } lim{65536, 65536};
  Sys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, reinterpret_cast<long>(&lim));
  const long end = lim.cur < 65536 ? static_cast<long>(lim.cur) : 65536;
  for (long fd = first; fd < end; ++fd) {
    if (on_exec)
      Sys(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
    else
      Sys(SYS_close, fd);
  }
}

// The symbolizer-to-be: a copy of the keeper (of the program's memory) until
// its execve. `keeper`: its parent, which it dies with.
[[noreturn, gnu::noinline, gnu::no_stack_protector]] void SymbolizerChild(
    const KeeperArgs& a, long keeper) {
  int e = 0;
  Sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  if (Sys(SYS_getppid) != keeper) SysExit(127);
  // Above 2 first, so that 0 and 1 cannot be one of them. (Only those below
  // 3 are moved: the program may hold every other number below its limit,
  // and the pipes are then above it, in trapsan's reserve.)
  const long in = a.in_fd > 2 ? a.in_fd : Sys(SYS_fcntl, a.in_fd, F_DUPFD_CLOEXEC, 3);
  const long out = a.out_fd > 2 ? a.out_fd : Sys(SYS_fcntl, a.out_fd, F_DUPFD_CLOEXEC, 3);
  long r = in < 0 ? in : out < 0 ? out : Sys(SYS_dup2, in, 0);
  if (r >= 0) r = Sys(SYS_dup2, out, 1);
  if (r >= 0 && a.quiet) {
    // Its warnings (a module it cannot read...) are not reports.
    static const char kNull[] = "/dev/null";
    const long null_fd = Sys(SYS_openat, AT_FDCWD, reinterpret_cast<long>(kNull),
                             O_WRONLY | O_CLOEXEC);
    if (null_fd >= 0 && null_fd != 2) Sys(SYS_dup2, null_fd, 2);
  }
  if (r < 0) {
    e = static_cast<int>(-r);
  } else {
    SysCloseFrom(3, /*on_exec=*/true);  // none of the program's descriptors
    const uint64_t none = 0;
    Sys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&none), 0, 8);
    e = static_cast<int>(-Sys(SYS_execve, reinterpret_cast<long>(a.binary),
                              reinterpret_cast<long>(a.argv),
                              reinterpret_cast<long>(a.envp)));
  }
  Sys(SYS_write, a.status_fd, reinterpret_cast<long>(&e), sizeof e);
  SysExit(127);
}

// The keeper: on its own stack and thread pointer, in the program's memory
// (CLONE_VM: nothing copied, nothing kept alive), with its own descriptor
// table. Starts the symbolizer, closes every descriptor, waits for it and
// exits with it.
[[gnu::noinline, gnu::no_stack_protector]] int KeeperMain(void* p) {
  const uint64_t all = ~0ull;
  Sys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&all), 0, 8);
  const KeeperArgs a = *static_cast<const KeeperArgs*>(p);
  const long self = Sys(SYS_getpid);
  // fork() as a raw clone: a copy of this memory until the child's execve.
  const long child = Sys(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (child == 0) SymbolizerChild(a, self);
  if (child < 0) {
    const int e = static_cast<int>(-child);
    Sys(SYS_write, a.status_fd, reinterpret_cast<long>(&e), sizeof e);
    SysExit(127);
  }
  // (From here on `p`, in the caller's frame, may be gone.)
  SysCloseFrom(0, /*on_exec=*/false);
  while (Sys(SYS_wait4, child, 0, 0, 0) == -EINTR) {
  }
  SysExit(0);
}

}  // namespace

bool OwnPipe(int fds[2], bool* low) {
  if (ReservePipe(fds)) return true;
  std::string why;
  if (HaveFdReserve(&why)) return false;  // the reserve is full
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  *low = true;
  return true;
}

pid_t SpawnHidden(const char* binary, char* const* argv, char* const* envp,
                  int in_fd, int out_fd, void** stack, int* error) {
  int status[2];
  bool low = false;
  if (!OwnPipe(status, &low)) {
    *error = errno;
    return -1;
  }
  void* memory = mmap(nullptr, kHiddenSpawnStackBytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (memory == MAP_FAILED) {
    *error = errno;
    close(status[0]);
    close(status[1]);
    return -1;
  }
  // The keeper's thread pointer: a zeroed block at the bottom of its stack
  // mapping that points to itself (as a TCB does), not the calling thread's,
  // which may exit while the keeper runs.
  auto* tcb = static_cast<uintptr_t*>(memory);
  tcb[0] = reinterpret_cast<uintptr_t>(tcb);
  KeeperArgs args{binary, argv, envp, in_fd, out_fd, status[1],
                  QuietOutput()};
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid =
      clone(KeeperMain, static_cast<char*>(memory) + kHiddenSpawnStackBytes,
            CLONE_VM | CLONE_SETTLS /* | exit signal 0 */, &args, nullptr,
            tcb, nullptr);
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(status[1]);
  if (pid < 0) {
    close(status[0]);
    munmap(memory, kHiddenSpawnStackBytes);
    *error = clone_errno;
    return -1;
  }
  // EOF once the symbolizer exec'd (the keeper closed its copy by then);
  // its errno if it could not.
  int e = 0;
  ssize_t n;
  while ((n = read(status[0], &e, sizeof e)) < 0 && errno == EINTR) {
  }
  close(status[0]);
  if (n != 0) {
    while (waitpid(pid, nullptr, __WALL) < 0 && errno == EINTR) {
    }
    munmap(memory, kHiddenSpawnStackBytes);
    *error = n == static_cast<ssize_t>(sizeof e) && e != 0 ? e : ECHILD;
    return -1;
  }
  *stack = memory;
  return pid;
}

}  // namespace trapsan
