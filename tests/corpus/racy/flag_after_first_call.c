// flag_after_first_call: thread 0 formats a description of the run (a helper
// with loops of its own, called for the first time), then sets a shared mode
// flag once; the other threads read the flag once, after a barrier built of
// relaxed atomics (it makes them wait, it orders nothing). The one write
// comes right after the helper's first call, so the write's first execution
// is reached only after the helper's own first executions ran.
// corpus: kind=flag_after_first_call issue=14 shape=far_apart
// Racy lines: thread 0's one write (RACE), each other thread's one read (RACE).
#include "corpus.h"

static int g_mode;
static unsigned g_arrived;
static int g_seen[CORPUS_THREADS];
static char g_description[256];

static void RelaxedBarrier(void) {
  __atomic_fetch_add(&g_arrived, 1, __ATOMIC_RELAXED);
  while (__atomic_load_n(&g_arrived, __ATOMIC_RELAXED) < CORPUS_THREADS)
    corpus_pause();
}

__attribute__((noinline)) static void Describe(int threads) {
  int n = snprintf(g_description, sizeof g_description, "%d threads:", threads);
  for (int i = 0; i < threads && n < 200; ++i)
    n += snprintf(g_description + n, sizeof g_description - (size_t)n, " t%d", i);
  for (int i = 0; i < n; ++i)
    if (g_description[i] == ' ') g_description[i] = '_';
}

static void Thread(int index) {
  if (index == 0) {
    Describe(CORPUS_THREADS);
    g_mode = 2;  // RACE
  }
  RelaxedBarrier();
  if (index != 0) g_seen[index] = g_mode;  // RACE
}

int main(void) {
  corpus_run(Thread);
  printf("%s mode=%d,%d,%d\n", g_description, g_seen[1], g_seen[2], g_seen[3]);
  return 0;
}
