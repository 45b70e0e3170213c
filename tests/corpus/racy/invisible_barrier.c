// invisible_barrier: rounds of "write my slot, barrier, read my neighbour's
// slot, barrier", with a barrier built of relaxed atomics: it makes the
// threads wait, but orders nothing (no release, no acquire).
// corpus: kind=invisible_barrier issue=14 shape=far_apart
// Racy lines: the slot writes (RACE) before the barrier and the neighbour's
// reads (RACE) after it: far apart in time, never at the same moment.
#include "corpus.h"

enum { kRounds = 15, kWords = 64 };
static long g_slot[CORPUS_THREADS][kWords];
static unsigned g_arrived;
static long g_sums[CORPUS_THREADS];

static void RelaxedBarrier(unsigned* generation) {
  const unsigned target = ++*generation * CORPUS_THREADS;
  __atomic_fetch_add(&g_arrived, 1, __ATOMIC_RELAXED);
  while (__atomic_load_n(&g_arrived, __ATOMIC_RELAXED) < target) corpus_pause();
}

static void Thread(int index) {
  unsigned generation = 0;
  long sum = 0;
  const int next = (index + 1) % CORPUS_THREADS;
  for (int r = 0; r < kRounds; ++r) {
    for (int k = 0; k < kWords; ++k) g_slot[index][k] = r + k;  // RACE
    RelaxedBarrier(&generation);
    for (int k = 0; k < kWords; ++k) sum += g_slot[next][k];  // RACE
    RelaxedBarrier(&generation);
  }
  g_sums[index] = sum;
}

int main(void) {
  corpus_run(Thread);
  printf("sum=%ld\n", g_sums[0]);
  return 0;
}
