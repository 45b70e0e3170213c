/* Race-free: a producer and a consumer hand a plain payload back and forth,
 * ordered by a release/acquire flag. Only the payload is checked (the flag is
 * atomic). Usage: atomic_handoff [rounds] (default 2000). */
#include <pthread.h>
#include <linux/futex.h>
#include <stdatomic.h>

#include "common.h"

static long g_payload;
static atomic_int g_turn;  /* 0: the producer's turn, 1: the consumer's */
static long g_rounds;
static long g_mismatches;

/* Waits for our turn: spins a little, then sleeps on a futex, so that the
 * handoff stays quick when the machine is busy. The ordering itself comes
 * from the acquire load (and the release store in pass_turn). */
static void wait_turn(int mine) {
  for (int spins = 0;; ++spins) {
    int turn = atomic_load_explicit(&g_turn, memory_order_acquire);
    if (turn == mine) return;
    if (spins < 64) {
      __builtin_ia32_pause();
    } else {
      syscall(SYS_futex, &g_turn, FUTEX_WAIT_PRIVATE, turn, NULL, NULL, 0);
    }
  }
}

static void pass_turn(int next) {
  atomic_store_explicit(&g_turn, next, memory_order_release);
  syscall(SYS_futex, &g_turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void* producer(void* arg) {
  (void)arg;
  for (long i = 0; i < g_rounds; ++i) {
    wait_turn(0);
    trapsan_check_write(&g_payload, sizeof g_payload);
    g_payload = i;
    pass_turn(1);
  }
  return NULL;
}

static void* consumer(void* arg) {
  (void)arg;
  for (long i = 0; i < g_rounds; ++i) {
    wait_turn(1);
    trapsan_check_read(&g_payload, sizeof g_payload);
    if (g_payload != i) ++g_mismatches;
    pass_turn(0);
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
