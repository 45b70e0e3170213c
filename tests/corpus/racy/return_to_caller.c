// return_to_caller: three checkers read a shared threshold in a small
// helper two calls down (functions with external linkage, not inlined),
// then meet the updater at a barrier built of relaxed atomics (it makes them
// wait, it orders nothing); after the barrier the updater writes the
// threshold, also two calls down. Round after round, nothing orders a
// checker's read before the updater's write. The read's window ends only at
// the checker's next release: the returns in between go to instrumented
// callers (ThreadSanitizer's simple_stack has this shape once).
// corpus: kind=return_to_caller issue=14 shape=far_apart
// Racy lines: the checkers' read (RACE), the updater's write (RACE).
#include "corpus.h"

enum { kRounds = 40 };
static long g_threshold = 10;
static long g_over[CORPUS_THREADS], g_applied;
static unsigned g_arrived, g_generation;

// All CORPUS_THREADS threads wait here; relaxed atomics only.
static void RelaxedBarrier(void) {
  const unsigned gen = __atomic_load_n(&g_generation, __ATOMIC_RELAXED);
  if (__atomic_add_fetch(&g_arrived, 1, __ATOMIC_RELAXED) == CORPUS_THREADS) {
    __atomic_store_n(&g_arrived, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_generation, gen + 1, __ATOMIC_RELAXED);
    return;
  }
  while (__atomic_load_n(&g_generation, __ATOMIC_RELAXED) == gen)
    corpus_pause();
}

__attribute__((noinline)) long ReadThreshold(void) {
  return g_threshold;  // RACE
}

__attribute__((noinline)) int OverThreshold(long value) {
  return value > ReadThreshold();
}

__attribute__((noinline)) void StoreThreshold(long value) {
  g_threshold = value;  // RACE
}

__attribute__((noinline)) long ApplyUpdate(int round) {
  const long value = 10 + round % 7;
  StoreThreshold(value);
  return value;
}

static void Thread(int index) {
  for (int round = 0; round < kRounds; ++round) {
    if (index != 0) g_over[index] += OverThreshold(round % 13 + index);
    RelaxedBarrier();
    if (index == 0) g_applied += ApplyUpdate(round);
    RelaxedBarrier();
  }
}

int main(void) {
  corpus_run(Thread);
  printf("over=%ld,%ld,%ld\n", g_over[1], g_over[2], g_over[3]);
  return 0;
}
