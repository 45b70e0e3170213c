/* Runs itself again through exec, `n` times (argument, default 3), as a
 * build tool runs its compilers; each process prints CHAIN=<n>. Linked with
 * libtrapsan.so: each process starts trapsan, which warns about degraded
 * detection at most once per process tree. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 3;
  printf("CHAIN=%d\n", n);
  fflush(stdout);
  if (n <= 0) return 0;
  char next[16];
  snprintf(next, sizeof next, "%d", n - 1);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/proc/self/exe", argv[0], next, (char*)NULL);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
