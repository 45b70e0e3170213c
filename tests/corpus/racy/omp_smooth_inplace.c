// omp_smooth_inplace: one smoothing pass over a signal, done in place by an
// OpenMP worksharing loop (static schedule): each sample becomes the mean of
// itself and the next one, so the thread owning a chunk's last sample reads
// the first sample of the following chunk, which its owner overwrites at the
// start of its own chunk. The two accesses are a whole chunk apart in time.
// corpus: kind=omp_smooth_inplace issue=14 shape=far_apart needs=openmp
// Racy lines: the pass (RACE): the read of v[i + 1] vs the neighbour chunk's
// write of v[i].
#include <omp.h>

#include "corpus.h"

enum { kSamples = 2048, kPasses = 20 };
static double g_signal[kSamples + 1];

int main(void) {
  for (int i = 0; i <= kSamples; ++i) g_signal[i] = (double)(i % 17);
  for (int p = 0; p < kPasses; ++p) {
#pragma omp parallel for schedule(static) num_threads(CORPUS_THREADS)
    for (int i = 0; i < kSamples; ++i)
      g_signal[i] = 0.5 * (g_signal[i] + g_signal[i + 1]);  // RACE
  }
  printf("v[0]=%f\n", g_signal[0]);
  return 0;
}
