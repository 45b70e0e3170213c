// order_join: the one_off_writes shape ordered by thread exit and join: each
// round's threads write their result into a shared plain slot once, the
// main thread joins them and folds the results, and the next round's
// threads (created after that) read the fold once.
// corpus: kind=order_join issue=14 shape=far_apart
#include "corpus.h"

enum { kRounds = 40, kWork = 20000 };
static long g_best;
static long g_results[CORPUS_THREADS];
static unsigned g_private[CORPUS_THREADS][64];

static void Thread(int index) {
  unsigned* mine = g_private[index];
  long result = g_best & 1;
  for (int i = 0; i < kWork * (index + 1); ++i) {
    mine[i & 63] = mine[i & 63] * 1103515245u + 12345u;
    result += mine[i & 63] >> 20;
  }
  g_results[index] = result;
}

int main(void) {
  for (int r = 0; r < kRounds; ++r) {
    corpus_run(Thread);
    for (int i = 0; i < CORPUS_THREADS; ++i)
      if (g_results[i] > g_best) g_best = g_results[i];
  }
  printf("best=%ld\n", g_best);
  return 0;
}
