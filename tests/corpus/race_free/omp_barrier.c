// omp_barrier: the invisible_barrier program in OpenMP: four threads of a
// parallel region write their slot, meet at `#pragma omp barrier` (libomp's
// barrier: uninstrumented code), read their neighbour's slot, meet again.
// corpus: kind=omp_barrier issue=14 shape=far_apart needs=openmp
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
      for (int k = 0; k < kWords; ++k) g_slot[me][k] = r + k;
#pragma omp barrier
      for (int k = 0; k < kWords; ++k) sum += g_slot[next][k];
#pragma omp barrier
    }
    g_sums[me] = sum;
  }
  printf("sum=%ld\n", g_sums[0]);
  return 0;
}
