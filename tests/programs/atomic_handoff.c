/* Race-free: a producer and a consumer hand a plain payload back and forth,
 * ordered by a release/acquire flag. Only the payload is checked (the flag is
 * atomic). Usage: atomic_handoff [rounds] (default 2000). */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

static long g_payload;
static atomic_int g_turn;  /* 0: the producer's turn, 1: the consumer's */
static long g_rounds;
static long g_mismatches;

static inline void cpu_relax(void) { __builtin_ia32_pause(); }

static void* producer(void* arg) {
  (void)arg;
  for (long i = 0; i < g_rounds; ++i) {
    while (atomic_load_explicit(&g_turn, memory_order_acquire) != 0) cpu_relax();
    trapsan_check_write(&g_payload, sizeof g_payload);
    g_payload = i;
    atomic_store_explicit(&g_turn, 1, memory_order_release);
  }
  return NULL;
}

static void* consumer(void* arg) {
  (void)arg;
  for (long i = 0; i < g_rounds; ++i) {
    while (atomic_load_explicit(&g_turn, memory_order_acquire) != 1) cpu_relax();
    trapsan_check_read(&g_payload, sizeof g_payload);
    if (g_payload != i) ++g_mismatches;
    atomic_store_explicit(&g_turn, 0, memory_order_release);
  }
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  g_rounds = argc > 1 ? atol(argv[1]) : 2000;
  pthread_t p, c;
  pthread_create(&p, NULL, producer, NULL);
  pthread_create(&c, NULL, consumer, NULL);
  pthread_join(p, NULL);
  pthread_join(c, NULL);
  printf("VALUE_OK=%d\n", g_mismatches == 0);
  tp_print_stats();
  printf("DONE=1\n");
  return 0;
}
