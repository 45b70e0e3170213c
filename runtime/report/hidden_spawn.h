// Starting a helper process (llvm-symbolizer) that the program cannot see.
//
// SpawnHidden starts `binary` not as the program's child but as the child of
// a keeper process whose exit signal is 0: wait(), waitpid(-1, ...) and
// waitid(P_ALL, ...) without __WALL or __WCLONE never return such a child,
// and its end sends the program no SIGCHLD. (The helper itself cannot be
// that child: execve resets the exit signal to SIGCHLD. A program that reaps
// every child, `while (wait(&s) > 0)`, waited for it for ever.) The keeper
// shares the program's memory (a fork would keep a copy of it alive for as
// long as the helper runs), runs on its own stack and thread pointer with raw
// system calls only (no errno, TLS or lock of the program's), holds no
// descriptor, and exits with the helper; the helper dies with the keeper
// (PR_SET_PDEATHSIG), gets none of the program's descriptors, and ends by
// itself when its stdin closes.
#ifndef TRAPSAN_RUNTIME_REPORT_HIDDEN_SPAWN_H_
#define TRAPSAN_RUNTIME_REPORT_HIDDEN_SPAWN_H_

#include <sys/types.h>

#include <cstddef>

namespace trapsan {

// The keeper's stack: unmap it (munmap(stack, kHiddenSpawnStackBytes)) once
// the keeper was reaped.
inline constexpr size_t kHiddenSpawnStackBytes = 64 * 1024;

// A pipe of trapsan's own: in the descriptor reserve (linux/fd_reserve.h),
// or, where there is none, at the program's numbers (*low set: the caller
// holds it only for as long as it needs it). False with errno set.
bool OwnPipe(int fds[2], bool* low);

// Starts `binary` (stdin from in_fd, stdout to out_fd; its stderr is
// /dev/null when trapsan's output is quiet) hidden as above. Returns the
// keeper's pid (reap it with waitpid(pid, ..., __WALL), then unmap *stack),
// or -1 with *error set.
pid_t SpawnHidden(const char* binary, char* const* argv, char* const* envp,
                  int in_fd, int out_fd, void** stack, int* error);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_HIDDEN_SPAWN_H_
