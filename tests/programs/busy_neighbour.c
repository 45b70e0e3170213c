/* One thread checks its own variable (race-free) while another, which
 * checks nothing, keeps a CPU busy (issue 10, defect 6: the budget counted
 * the whole process's CPU time, so the busy thread's time paid for the
 * checker's windows and the checker stalled without bound: 2M checks took
 * over 60 s instead of 0.05 s in mode=ci).
 *
 * Usage: busy_neighbour [checks] [busy_cpu_ms] [warmup_cpu_ms]
 *   checks (default 2000000): trapsan_check_write calls of the checker
 *   busy_cpu_ms (default 5000): the busy thread stops when the checker is
 *     done or when it has used this much CPU time, whichever comes first
 *   warmup_cpu_ms (default 1500): the checker starts when the busy thread
 *     has used this much CPU time (a neighbour that has been running)
 * Prints CHECKER_CPU_NS / CHECKER_WALL_NS (the checker's own CPU time and its
 * wall time), BUSY_CPU_NS, and the budget counters. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

static atomic_int g_done;
static long g_checks;
static uint64_t g_busy_cpu_cap_ns;
static uint64_t g_warmup_cpu_ns;
static atomic_int g_warm;

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void* busy(void* arg) {
  uint64_t* used = arg;
  volatile uint64_t sink = 0;
  while (!atomic_load(&g_done)) {
    for (int i = 0; i < 100000; ++i) sink += (uint64_t)i;
    uint64_t used_now = thread_cpu_ns();
    if (used_now >= g_warmup_cpu_ns) atomic_store(&g_warm, 1);
    if (used_now >= g_busy_cpu_cap_ns) break;
  }
  *used = thread_cpu_ns();
  atomic_store(&g_warm, 1);
  return NULL;
}

static void* checker(void* arg) {
  uint64_t* out = arg;
  static long mine;  /* only this thread touches it */
  uint64_t start = tp_now_ns();
  for (long i = 0; i < g_checks; ++i) {
    trapsan_check_write(&mine, sizeof mine);
    mine = i;
    TP_BARRIER();
  }
  out[0] = thread_cpu_ns();
  out[1] = tp_now_ns() - start;
  atomic_store(&g_done, 1);
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  g_checks = argc > 1 ? atol(argv[1]) : 2000000;
  g_busy_cpu_cap_ns = (uint64_t)(argc > 2 ? atol(argv[2]) : 5000) * 1000000u;
  g_warmup_cpu_ns = (uint64_t)(argc > 3 ? atol(argv[3]) : 1500) * 1000000u;
  uint64_t busy_used = 0, checker_out[2] = {0, 0};
  pthread_t b, c;
  pthread_create(&b, NULL, busy, &busy_used);
  while (!atomic_load(&g_warm)) usleep(1000);
  pthread_create(&c, NULL, checker, checker_out);
  pthread_join(c, NULL);
  pthread_join(b, NULL);
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("CHECKER_CPU_NS=%" PRIu64 "\n", checker_out[0]);
  printf("CHECKER_WALL_NS=%" PRIu64 "\n", checker_out[1]);
  printf("BUSY_CPU_NS=%" PRIu64 "\n", busy_used);
  printf("STAT_windows=%" PRIu64 "\n", s.windows);
  printf("STAT_skipped_budget=%" PRIu64 "\n", s.skipped_budget);
  printf("STAT_budget_ns=%" PRIu64 "\n", s.budget_ns);
  printf("DONE=1\n");
  return 0;
}
