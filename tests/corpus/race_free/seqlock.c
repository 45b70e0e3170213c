// seqlock: one writer publishes a two-word position under a sequence lock;
// readers retry until they read an even, unchanged sequence. The protected
// words are relaxed atomics (what makes a seqlock race-free in C11), the
// copies each reader keeps are plain.
// corpus: kind=seqlock issue=15 shape=concurrent
#include <stdatomic.h>

#include "corpus.h"

enum { kUpdates = 5000 };
static atomic_uint g_seq;
static atomic_long g_x, g_y;
static long g_last[CORPUS_THREADS][2];

static void Thread(int index) {
  if (index == 0) {
    for (long i = 1; i <= kUpdates; ++i) {
      unsigned s = atomic_load_explicit(&g_seq, memory_order_relaxed);
      atomic_store_explicit(&g_seq, s + 1, memory_order_relaxed);
      atomic_thread_fence(memory_order_release);
      atomic_store_explicit(&g_x, i, memory_order_relaxed);
      atomic_store_explicit(&g_y, -i, memory_order_relaxed);
      atomic_store_explicit(&g_seq, s + 2, memory_order_release);
    }
    return;
  }
  long bad = 0;
  for (int i = 0; i < kUpdates; ++i) {
    unsigned s1, s2;
    long x, y;
    do {
      s1 = atomic_load_explicit(&g_seq, memory_order_acquire);
      x = atomic_load_explicit(&g_x, memory_order_relaxed);
      y = atomic_load_explicit(&g_y, memory_order_relaxed);
      atomic_thread_fence(memory_order_acquire);
      s2 = atomic_load_explicit(&g_seq, memory_order_relaxed);
    } while ((s1 & 1) || s1 != s2);
    g_last[index][0] = x;
    g_last[index][1] = y;
    bad += x != -y;
  }
  if (bad) printf("torn reads: %ld\n", bad);
}

int main(void) {
  corpus_run(Thread);
  printf("last=%ld,%ld\n", g_last[1][0], g_last[1][1]);
  return 0;
}
