// heap_buffer: a malloc'ed scratch buffer shared by mistake: every thread
// fills it with its own pattern and sums it back.
// corpus: kind=heap_buffer issue=15 shape=concurrent
// Racy lines: the fill's store (RACE) and the sum's load (RACE).
#include <stdlib.h>

#include "corpus.h"

enum { kWords = 256, kRounds = 100 };
static unsigned* g_scratch;
static unsigned long g_sums[CORPUS_THREADS];

static void Thread(int index) {
  unsigned long sum = 0;
  for (int r = 0; r < kRounds; ++r) {
    for (int i = 0; i < kWords; ++i) g_scratch[i] = (unsigned)(index + i);  // RACE
    TP_BARRIER();
    for (int i = 0; i < kWords; ++i) sum += g_scratch[i];  // RACE
    TP_BARRIER();
  }
  g_sums[index] = sum;
}

int main(void) {
  g_scratch = (unsigned*)calloc(kWords, sizeof(unsigned));
  corpus_run(Thread);
  printf("sums=%lu,%lu,%lu,%lu\n", g_sums[0], g_sums[1], g_sums[2], g_sums[3]);
  free(g_scratch);
  return 0;
}
