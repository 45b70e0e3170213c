/* exec(): the first image keeps a thread opening windows and re-executes
 * itself (/proc/self/exe) with the argument "child" while windows are open;
 * the new image (same pid) starts the racy pair, must report the race and
 * exit with trapsan's exitcode.
 * Prints PRE_EXEC_PID, PRE_EXEC_WINDOWS, POST_EXEC_PID, the race lines. */
#include <string.h>

#include "common.h"
#include "noise.h"
#include "race_kernel.h"

int main(int argc, char** argv) {
  tp_setup_stdout();
  if (argc > 1 && strcmp(argv[1], "child") == 0) {
    int max_ms = argc > 2 ? atoi(argv[2]) : 3000;
    printf("POST_EXEC_PID=%d\n", (int)getpid());
    printf("POST_EXEC_BACKEND=%s\n", trapsan_backend());
    tp_run_race(TP_SAMPLE_WRITER, 0, max_ms, NULL);
    tp_print_stats();
    return 0;
  }
  printf("PRE_EXEC_PID=%d\n", (int)getpid());
  tp_start_noise(20);
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("PRE_EXEC_WINDOWS=%llu\n", (unsigned long long)s.windows);
  fflush(stdout);
  char* const args[] = {argv[0], (char*)"child",
                        argc > 1 ? argv[1] : (char*)"3000", NULL};
  execv("/proc/self/exe", args);
  printf("ERROR=execv\n");
  return 3;
}
