// order_once: late_init's shape, ordered: the start-up barrier's arrivals
// are release increments and its waits acquire loads, so thread 0's one
// write happens before each worker's one read (then thread 0 works on).
// corpus: kind=order_once issue=14 shape=far_apart
#include "corpus.h"

static long g_limit;
static unsigned g_arrived;
static long g_used[CORPUS_THREADS];
static unsigned g_own[64];

static void Barrier(void) {
  __atomic_fetch_add(&g_arrived, 1, __ATOMIC_RELEASE);
  while (__atomic_load_n(&g_arrived, __ATOMIC_ACQUIRE) < CORPUS_THREADS)
    corpus_pause();
}

static void Thread(int index) {
  if (index == 0) g_limit = 1000;
  Barrier();
  if (index != 0) {
    g_used[index] = g_limit / index;
    return;
  }
  for (int i = 0; i < 20000; ++i) g_own[i & 63] = g_own[i & 63] * 3u + 1u;
}

int main(void) {
  corpus_run(Thread);
  printf("used=%ld,%ld,%ld\n", g_used[1], g_used[2], g_used[3]);
  return 0;
}
