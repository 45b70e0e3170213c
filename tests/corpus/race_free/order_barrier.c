// order_barrier: the invisible_barrier program with a real barrier
// (pthread_barrier_wait): "write my slot, barrier, read my neighbour's slot,
// barrier" is then race-free.
// corpus: kind=order_barrier issue=14 shape=far_apart
#include "corpus.h"

enum { kRounds = 15, kWords = 64 };
static long g_slot[CORPUS_THREADS][kWords];
static pthread_barrier_t g_barrier;
static long g_sums[CORPUS_THREADS];

static void Thread(int index) {
  long sum = 0;
  const int next = (index + 1) % CORPUS_THREADS;
  for (int r = 0; r < kRounds; ++r) {
    for (int k = 0; k < kWords; ++k) g_slot[index][k] = r + k;
    pthread_barrier_wait(&g_barrier);
    for (int k = 0; k < kWords; ++k) sum += g_slot[next][k];
    pthread_barrier_wait(&g_barrier);
  }
  g_sums[index] = sum;
}

int main(void) {
  pthread_barrier_init(&g_barrier, NULL, CORPUS_THREADS);
  corpus_run(Thread);
  const long want = kWords * (long)kRounds * (kRounds - 1) / 2 + kRounds * (kWords * (kWords - 1) / 2L);
  printf("sum=%ld\n", g_sums[0]);
  return g_sums[0] == want ? 0 : 1;
}
