// one_off_writes: each thread computes over its own data for a while and
// then, once, folds its result into a shared best-so-far without a lock.
// corpus: kind=one_off_writes issue=14 shape=far_apart
// Racy lines: the one read-and-write of g_best per thread (RACE).
#include "corpus.h"

enum { kRounds = 40, kWork = 20000 };
static long g_best;
static unsigned g_private[CORPUS_THREADS][64];

static void Thread(int index) {
  unsigned* mine = g_private[index];
  long result = 0;
  for (int i = 0; i < kWork * (index + 1); ++i) {
    mine[i & 63] = mine[i & 63] * 1103515245u + 12345u;
    result += mine[i & 63] >> 20;
  }
  if (result > g_best) g_best = result;  // RACE
}

int main(void) {
  for (int r = 0; r < kRounds; ++r) {
    g_best = 0;
    corpus_run(Thread);
  }
  printf("best=%ld\n", g_best);
  return 0;
}
