// chunks_two_phase: neighbour_chunks made correct: each thread first reads
// what its chunk needs (including the first element of the next chunk) into
// a scratch array, meets the others at pthread_barrier_wait, then writes its
// chunk. The barrier is the only ordering between a thread's read of its
// neighbour's first element and the neighbour's write of it.
// corpus: kind=chunks_two_phase issue=14 shape=far_apart
#include "corpus.h"

enum { kN = 4096, kRounds = 40 };
static int g_a[kN + 1];
static int g_next[kN];
static pthread_barrier_t g_phase;

static void Thread(int index) {
  const int chunk = kN / CORPUS_THREADS;
  const int lo = index * chunk, hi = lo + chunk;
  for (int i = lo; i < hi; ++i) g_next[i] = g_a[i + 1] + 1;
  pthread_barrier_wait(&g_phase);
  for (int i = lo; i < hi; ++i) g_a[i] = g_next[i];
}

int main(void) {
  pthread_barrier_init(&g_phase, NULL, CORPUS_THREADS);
  for (int r = 0; r < kRounds; ++r) corpus_run(Thread);
  pthread_barrier_destroy(&g_phase);
  printf("a[0]=%d\n", g_a[0]);
  return 0;
}
