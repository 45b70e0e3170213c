/* fork(): the parent keeps a thread opening windows while it forks; the child
 * (single-threaded after fork) starts the racy pair and must report the race
 * and exit with trapsan's exitcode on its own. The parent itself is
 * race-free and exits 0.
 * Usage: fork_race [max_ms] [exit|_exit]: how the child ends (default exit).
 * Prints PARENT_PID, CHILD_PID, CHILD_EXITED, CHILD_EXIT_CODE,
 * PARENT_WINDOWS, PARENT_RACES_FOUND. */
#include <string.h>
#include <sys/wait.h>

#include "common.h"
#include "noise.h"
#include "race_kernel.h"

int main(int argc, char** argv) {
  tp_setup_stdout();
  int max_ms = argc > 1 ? atoi(argv[1]) : 3000;
  int child_uses__exit = argc > 2 && strcmp(argv[2], "_exit") == 0;
  printf("PARENT_PID=%d\n", (int)getpid());
  tp_start_noise(20);
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) {
    printf("ERROR=fork\n");
    return 2;
  }
  if (child == 0) {
    printf("CHILD_PID=%d\n", (int)getpid());
    tp_run_race(TP_SAMPLE_WRITER, 0, max_ms, NULL);
    tp_print_stats();
    /* trapsan turns either into its exitcode if a race was found. */
    if (child_uses__exit) _exit(0);
    exit(0);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
  }
  printf("CHILD_EXITED=%d\n", WIFEXITED(status));
  printf("CHILD_EXIT_CODE=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  tp_stop_noise();
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("PARENT_WINDOWS=%llu\n", (unsigned long long)s.windows);
  printf("PARENT_RACES_FOUND=%llu\n", (unsigned long long)s.races_found);
  printf("PARENT_DONE=1\n");
  return 0;
}
