// flag: a controller thread flips a plain "paused" flag while three workers
// poll it between work items (a flag that should have been an atomic).
// corpus: kind=flag issue=15 shape=concurrent
// Racy lines: the controller's store (RACE) and the workers' load (RACE).
#include "corpus.h"

enum { kIters = 10000 };
static int g_paused;
static long g_done[CORPUS_THREADS];

static void Thread(int index) {
  if (index == 0) {
    for (int i = 0; i < kIters; ++i) {
      g_paused = i & 1;  // RACE
      TP_BARRIER();
    }
    return;
  }
  long done = 0;
  for (int i = 0; i < kIters; ++i) {
    if (!g_paused) ++done;  // RACE
    TP_BARRIER();
  }
  g_done[index] = done;
}

int main(void) {
  corpus_run(Thread);
  printf("done=%ld,%ld,%ld\n", g_done[1], g_done[2], g_done[3]);
  return 0;
}
