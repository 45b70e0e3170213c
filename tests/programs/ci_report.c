/* The racy pair of race_kernel.c (both sides checked, so any backend reports
 * it), for the CI-facing output: formats, log files, suppressions, options.
 *
 * Usage: ci_report [exit|kill|exec] [max_ms]
 *   exit (default): returns from main after the race (or max_ms)
 *   kill:           after the first report, kills itself with SIGKILL, as a
 *                   test runner's timeout would: what trapsan wrote must be
 *                   complete without any exit handler
 *   exec:           after the race, prints EXEC_PID and EXEC_REPORTS and
 *                   re-executes itself (/proc/self/exe) as `ci_report exit
 *                   max_ms`: the new image, same pid, runs the race again
 * TP_OLD_LOG=PATH (a %d in it stands for the pid; without arguments only)
 * plants a file there first, as a process that had this pid before would
 * have left it: the line OLD-PROCESS-LINE, its time set TP_OLD_LOG_AGE_S
 * seconds back (default 3600). Prints OLD_LOG=the path.
 * Defines __trapsan_default_options(): it returns TP_DEFAULT_OPTIONS from the
 * environment (NULL when unset). Prints REPORTS=N, the stats, how races were
 * looked up in the suppressions (LOOKUPS_*) and DONE=1. */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "common.h"
#include "race_kernel.h"

/* runtime/abi/test_hooks.cpp: how races were looked up in the suppressions
 * (symbolized, ns, from the kept decision, ns). */
void __trapsan_testonly_suppression_lookups(uint64_t out[4])
    __attribute__((weak));

const char* __trapsan_default_options(void) {
  return getenv("TP_DEFAULT_OPTIONS");
}

static void plant_old_log(const char* template_path) {
  char path[4096];
  snprintf(path, sizeof(path), template_path, (int)getpid());
  FILE* f = fopen(path, "w");
  if (f == NULL) {
    printf("ERROR=cannot write %s\n", path);
    return;
  }
  fputs("OLD-PROCESS-LINE\n", f);
  fclose(f);
  const char* age = getenv("TP_OLD_LOG_AGE_S");
  struct timeval now;
  gettimeofday(&now, NULL);
  now.tv_sec -= age != NULL ? atoi(age) : 3600;
  struct timeval times[2] = {now, now};
  if (utimes(path, times) != 0) printf("ERROR=utimes %s\n", path);
  printf("OLD_LOG=%s\n", path);
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  const int kill_after = argc > 1 && strcmp(argv[1], "kill") == 0;
  const int exec_after = argc > 1 && strcmp(argv[1], "exec") == 0;
  const int max_ms = argc > 2 ? atoi(argv[2]) : 3000;
  if (getenv("TP_OLD_LOG") != NULL && argc <= 1) {
    plant_old_log(getenv("TP_OLD_LOG"));
  }
  if (exec_after) {
    printf("EXEC_PID=%d\n", (int)getpid());
    int reports = tp_run_race(TP_SAMPLE_BOTH, 0, max_ms > 0 ? max_ms : 3000, NULL);
    printf("EXEC_REPORTS=%d\n", reports);
    char ms[16];
    snprintf(ms, sizeof(ms), "%d", max_ms > 0 ? max_ms : 3000);
    char* const args[] = {argv[0], (char*)"exit", ms, NULL};
    execv("/proc/self/exe", args);
    printf("ERROR=execv\n");
    return 3;
  }
  printf("PID=%d\n", (int)getpid());
  printf("BACKEND=%s\n", trapsan_backend());
  int reports = tp_run_race(TP_SAMPLE_BOTH, 0, max_ms > 0 ? max_ms : 3000, NULL);
  printf("REPORTS=%d\n", reports);
  if (kill_after && reports > 0) {
    printf("KILLING=1\n");
    raise(SIGKILL);
  }
  tp_print_stats();
  if (__trapsan_testonly_suppression_lookups) {
    uint64_t l[4];
    __trapsan_testonly_suppression_lookups(l);
    printf("LOOKUPS_SYMBOLIZED=%llu\nLOOKUPS_SYMBOLIZED_NS=%llu\n"
           "LOOKUPS_CACHED=%llu\nLOOKUPS_CACHED_NS=%llu\n",
           (unsigned long long)l[0], (unsigned long long)l[1],
           (unsigned long long)l[2], (unsigned long long)l[3]);
  }
  printf("DONE=1\n");
  return 0;
}
