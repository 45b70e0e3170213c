// omp_tasks: OpenMP tasks ordered by depend clauses: per round, a producer
// task fills a plain buffer (depend out), consumer tasks read it (depend in)
// and a last task (depend out again) clears it; taskwait ends the round.
// corpus: kind=omp_tasks issue=14 shape=far_apart needs=openmp
#include <omp.h>

#include "corpus.h"

enum { kRounds = 100, kWords = 64 };
static long g_buffer[kWords];
static long g_sums[CORPUS_THREADS];

int main(void) {
#pragma omp parallel num_threads(CORPUS_THREADS)
#pragma omp single
  for (int r = 0; r < kRounds; ++r) {
#pragma omp task depend(out : g_buffer)
    for (int k = 0; k < kWords; ++k) g_buffer[k] = r + k;
    for (int c = 0; c < CORPUS_THREADS; ++c) {
#pragma omp task depend(in : g_buffer) firstprivate(c)
      {
        long sum = 0;
        for (int k = 0; k < kWords; ++k) sum += g_buffer[k];
#pragma omp atomic
        g_sums[c] += sum;
      }
    }
#pragma omp task depend(out : g_buffer)
    for (int k = 0; k < kWords; ++k) g_buffer[k] = 0;
#pragma omp taskwait
  }
  printf("sum=%ld\n", g_sums[0]);
  return 0;
}
