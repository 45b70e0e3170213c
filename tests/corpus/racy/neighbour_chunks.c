// neighbour_chunks: a[i] = a[i + 1] + 1 parallelized over four chunks: the
// loop-carried dependence crosses each chunk boundary, so a thread's last
// iteration reads the element its neighbour wrote in its first one.
// corpus: kind=neighbour_chunks issue=14 shape=far_apart
// Racy lines: the loop body (RACE): read of a[hi] vs the neighbour's write
// of a[lo], about a chunk's worth of iterations apart.
#include "corpus.h"

enum { kN = 4096, kRounds = 40 };
static int g_a[kN + 1];

static void Thread(int index) {
  const int chunk = kN / CORPUS_THREADS;
  const int lo = index * chunk, hi = lo + chunk;
  for (int i = lo; i < hi; ++i) g_a[i] = g_a[i + 1] + 1;  // RACE
}

int main(void) {
  for (int r = 0; r < kRounds; ++r) corpus_run(Thread);
  printf("a[0]=%d\n", g_a[0]);
  return 0;
}
