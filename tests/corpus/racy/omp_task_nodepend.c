// omp_task_nodepend: the omp_tasks program with its depend clauses left out:
// the producer task, the consumer tasks and the clearing task of a round
// may run in any order and on any thread; often one after another.
// corpus: kind=omp_task_nodepend issue=14 shape=far_apart needs=openmp
// Racy lines: the producer's and the clearer's writes (RACE), the
// consumers' reads (RACE).
#include <omp.h>

#include "corpus.h"

enum { kRounds = 40, kWords = 64 };
static long g_buffer[kWords];
static long g_sums[CORPUS_THREADS];

int main(void) {
#pragma omp parallel num_threads(CORPUS_THREADS)
#pragma omp single
  for (int r = 0; r < kRounds; ++r) {
#pragma omp task
    for (int k = 0; k < kWords; ++k) g_buffer[k] = r + k;  // RACE
    for (int c = 0; c < CORPUS_THREADS; ++c) {
#pragma omp task firstprivate(c)
      {
        long sum = 0;
        for (int k = 0; k < kWords; ++k) sum += g_buffer[k];  // RACE
#pragma omp atomic
        g_sums[c] += sum;
      }
    }
#pragma omp task
    for (int k = 0; k < kWords; ++k) g_buffer[k] = 0;  // RACE
#pragma omp taskwait
  }
  printf("sum=%ld\n", g_sums[0]);
  return 0;
}
