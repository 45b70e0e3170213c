// counter: four threads bump one shared plain counter without a lock (a
// statistics counter someone forgot to make atomic).
// corpus: kind=counter issue=15 shape=concurrent
// Racy lines: the increment (RACE), a read-modify-write in every thread.
#include "corpus.h"

enum { kIters = 5000 };
static long g_requests;

static void Worker(int index) {
  (void)index;
  for (int i = 0; i < kIters; ++i) {
    g_requests = g_requests + 1;  // RACE
    TP_BARRIER();
  }
}

int main(void) {
  corpus_run(Worker);
  printf("requests=%ld (lost %ld)\n", g_requests,
         (long)CORPUS_THREADS * kIters - g_requests);
  return 0;
}
