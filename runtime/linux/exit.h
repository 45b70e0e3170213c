// Ending the process from inside trapsan.
#ifndef TRAPSAN_RUNTIME_LINUX_EXIT_H_
#define TRAPSAN_RUNTIME_LINUX_EXIT_H_

namespace trapsan {

// exit_group(status) at once: no atexit handlers, no stdio flush (flush
// first if needed), and not through the interposed _exit().
[[noreturn]] void ExitImmediately(int status);

// Late traps, stats and the summary line, once per process (again in a fork
// child). True if races were found: the caller then exits with `exitcode`.
bool FinishRun();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_EXIT_H_
