// omp_missing_barrier: the omp_barrier program with its first barrier left
// out: a thread reads its neighbour's slot while (or after) the neighbour
// writes it, with only the round's closing barrier between rounds.
// corpus: kind=omp_missing_barrier issue=14 shape=far_apart needs=openmp
// Racy lines: the slot writes (RACE) and the neighbour's reads (RACE).
#include <omp.h>

#include "corpus.h"

enum { kRounds = 60, kWords = 16 };
static long g_slot[CORPUS_THREADS][kWords];
static long g_sums[CORPUS_THREADS];

int main(void) {
#pragma omp parallel num_threads(CORPUS_THREADS)
  {
    const int me = omp_get_thread_num();
    const int next = (me + 1) % omp_get_num_threads();
    long sum = 0;
    for (int r = 0; r < kRounds; ++r) {
      for (int k = 0; k < kWords; ++k) g_slot[me][k] = r + k;  // RACE
      for (int k = 0; k < kWords; ++k) sum += g_slot[next][k];  // RACE
#pragma omp barrier
    }
    g_sums[me] = sum;
  }
  printf("sum=%ld\n", g_sums[0]);
  return 0;
}
