/* trap_storm: many threads race on one counter, every access checked, so
 * that watchpoints are armed and disarmed all the time while other threads
 * trap on them: the load under which a kernel without Linux 6.1's
 * ca6c21327c6a loses SIGTRAPs (docs/kernel.md). For the trap audit
 * (runtime/linux/trap_audit.h) and the kernel lab's demonstration.
 * Usage: trap_storm [threads] [max_ms] [min_traps] [min_losses]: runs until
 * trapsan handled min_traps SIGTRAPs and its traps_lost counter grew
 * min_losses separate times (each a confirmed loss: trap_audit.h), or max_ms
 * (scaled) passed; default 4 threads, 3000 ms, 0 and 0 (the whole time).
 * Prints THREADS, ITERATIONS and the STAT_ lines, traps_lost among them. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

static long g_counter; /* shared, unprotected: the race */
static uint64_t g_deadline_ns;
static uint64_t g_min_traps;
static long g_min_losses;
static _Atomic uint64_t g_last_lost;
static atomic_long g_losses; /* increases of traps_lost seen */
static atomic_int g_stop;
static atomic_long g_iterations;

static void *storm(void *arg) {
  (void)arg;
  long n = 0;
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed) &&
         tp_now_ns() < g_deadline_ns) {
    for (int i = 0; i < 64; ++i) {
      trapsan_check_write(&g_counter, sizeof g_counter);
      g_counter++; /* RACE_STORM_WRITE */
      TP_BARRIER();
    }
    n += 64;
    if (g_min_traps != 0 || g_min_losses != 0) {
      trapsan_stats s;
      trapsan_get_stats(&s);
      uint64_t last = atomic_load(&g_last_lost);
      if (s.traps_lost > last &&
          atomic_compare_exchange_strong(&g_last_lost, &last, s.traps_lost))
        atomic_fetch_add(&g_losses, 1);
      if (s.traps >= g_min_traps && atomic_load(&g_losses) >= g_min_losses)
        atomic_store(&g_stop, 1);
    }
  }
  atomic_fetch_add(&g_iterations, n);
  return NULL;
}

int main(int argc, char **argv) {
  tp_setup_stdout();
  int threads = argc > 1 ? atoi(argv[1]) : 4;
  int max_ms = argc > 2 ? atoi(argv[2]) : 3000;
  g_min_traps = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
  g_min_losses = argc > 4 ? atol(argv[4]) : 0;
  if (threads < 2 || threads > 64 || max_ms <= 0) {
    fprintf(stderr, "usage: trap_storm [threads 2-64] [max_ms] [min_traps] "
                    "[min_losses]\n");
    return 2;
  }
  g_deadline_ns = tp_deadline_ns(max_ms);
  pthread_t t[64];
  for (int i = 0; i < threads; ++i) pthread_create(&t[i], NULL, storm, NULL);
  for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
  printf("THREADS=%d\n", threads);
  printf("ITERATIONS=%ld\n", atomic_load(&g_iterations));
  printf("LOSSES_SEEN=%ld\n", atomic_load(&g_losses));
  tp_print_stats();
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("STAT_traps_lost=%" PRIu64 "\n", s.traps_lost);
  return 0;
}
