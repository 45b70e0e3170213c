// omp_smooth_two_loops: omp_smooth_inplace made correct the usual way: the
// pass reads into a scratch array in one worksharing loop and writes back in
// a second; the first loop's implicit barrier (libomp's, uninstrumented) is
// the only ordering between a chunk's read of its neighbour's first sample
// and the neighbour's write of it.
// corpus: kind=omp_smooth_two_loops issue=14 shape=far_apart needs=openmp
#include <omp.h>

#include "corpus.h"

enum { kSamples = 2048, kPasses = 20 };
static double g_signal[kSamples + 1];
static double g_scratch[kSamples];

int main(void) {
  for (int i = 0; i <= kSamples; ++i) g_signal[i] = (double)(i % 17);
  for (int p = 0; p < kPasses; ++p) {
#pragma omp parallel num_threads(CORPUS_THREADS)
    {
#pragma omp for schedule(static)
      for (int i = 0; i < kSamples; ++i)
        g_scratch[i] = 0.5 * (g_signal[i] + g_signal[i + 1]);
#pragma omp for schedule(static)
      for (int i = 0; i < kSamples; ++i) g_signal[i] = g_scratch[i];
    }
  }
  printf("v[0]=%f\n", g_signal[0]);
  return 0;
}
