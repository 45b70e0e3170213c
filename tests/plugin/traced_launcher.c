/* A stand-in for a debugger: runs argv[1..] under ptrace (PTRACE_TRACEME),
 * passes every signal on, and counts the SIGTRAP stops after exec (each
 * would stop the program in gdb). Prints TRACED_SIGTRAPS=<n> and exits with
 * the program's status. */
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  pid_t pid = fork();
  if (pid == 0) {
    ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    execv(argv[1], argv + 1);
    _exit(127);
  }
  int status = 0, traps = 0, execed = 0;
  while (waitpid(pid, &status, 0) == pid) {
    if (WIFEXITED(status) || WIFSIGNALED(status)) break;
    int sig = WSTOPSIG(status);
    if (sig == SIGTRAP && !execed) {  /* the stop at exec */
      execed = 1;
      sig = 0;
    } else if (sig == SIGTRAP) {
      ++traps;
    }
    ptrace(PTRACE_CONT, pid, NULL, (void*)(long)sig);
  }
  printf("TRACED_SIGTRAPS=%d\n", traps);
  fflush(stdout);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
