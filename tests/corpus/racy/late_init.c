// late_init: thread 0 sets up a shared limit once, after the workers have
// started, and the workers read it once, after a start-up barrier built of
// relaxed atomics (it makes them wait, it orders nothing); then thread 0
// goes on with work of its own. Each racy access runs once per process:
// fixed-rate sampling almost never sees either.
// corpus: kind=late_init issue=14 shape=far_apart
// Racy lines: thread 0's one write (RACE), each worker's one read (RACE).
#include "corpus.h"

static long g_limit;
static unsigned g_arrived;
static long g_used[CORPUS_THREADS];
static unsigned g_own[64];

static void RelaxedBarrier(void) {
  __atomic_fetch_add(&g_arrived, 1, __ATOMIC_RELAXED);
  while (__atomic_load_n(&g_arrived, __ATOMIC_RELAXED) < CORPUS_THREADS)
    corpus_pause();
}

static void Thread(int index) {
  if (index == 0) g_limit = 1000;  // RACE
  RelaxedBarrier();
  if (index != 0) {
    g_used[index] = g_limit / index;  // RACE
    return;
  }
  for (int i = 0; i < 20000; ++i) g_own[i & 63] = g_own[i & 63] * 3u + 1u;
}

int main(void) {
  corpus_run(Thread);
  printf("used=%ld,%ld,%ld\n", g_used[1], g_used[2], g_used[3]);
  return 0;
}
