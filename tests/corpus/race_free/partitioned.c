// partitioned: one shared array of 32-bit counters, each thread owning a
// chunk of it; chunk boundaries fall inside 8-byte words and cache lines on
// purpose (neighbouring bytes, never the same ones). Results are combined
// after the join.
// corpus: kind=partitioned issue=15 shape=concurrent
#include "corpus.h"

enum { kChunk = 1001, kRounds = 40 };
static int g_cells[CORPUS_THREADS * kChunk];
static char g_flags[CORPUS_THREADS * 3];

static void Thread(int index) {
  int* mine = &g_cells[index * kChunk];
  for (int r = 0; r < kRounds; ++r) {
    for (int i = 0; i < kChunk; ++i) mine[i] += i ^ r;
    g_flags[index * 3 + (r % 3)] = (char)r;
    TP_BARRIER();
  }
}

int main(void) {
  corpus_run(Thread);
  long sum = 0;
  for (int i = 0; i < CORPUS_THREADS * kChunk; ++i) sum += g_cells[i];
  printf("sum=%ld flags=%d\n", sum, g_flags[0]);
  return 0;
}
