// order_flag_after_first_call: flag_after_first_call with the barrier's
// count added by a release RMW and waited for by acquire loads: the only
// ordering between thread 0's one write of the mode flag and the other
// threads' one read of it.
// corpus: kind=order_flag_after_first_call issue=14 shape=far_apart
#include "corpus.h"

static int g_mode;
static unsigned g_arrived;
static int g_seen[CORPUS_THREADS];
static char g_description[256];

static void OrderedBarrier(void) {
  __atomic_fetch_add(&g_arrived, 1, __ATOMIC_RELEASE);
  while (__atomic_load_n(&g_arrived, __ATOMIC_ACQUIRE) < CORPUS_THREADS)
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
    g_mode = 2;
  }
  OrderedBarrier();
  if (index != 0) g_seen[index] = g_mode;
}

int main(void) {
  corpus_run(Thread);
  printf("%s mode=%d,%d,%d\n", g_description, g_seen[1], g_seen[2], g_seen[3]);
  return 0;
}
