// join_handoff: rounds of workers that each fill a shared plain array's
// slice; after joining them the main thread rewrites the whole array, and
// the next round's workers (created after that) read and update it.
// corpus: kind=join_handoff issue=15 shape=concurrent
#include "corpus.h"

enum { kWords = 1024, kRounds = 40 };
static long g_data[kWords];

static void Worker(int index) {
  const int per = kWords / CORPUS_THREADS;
  for (int i = index * per; i < (index + 1) * per; ++i) g_data[i] = g_data[i] * 2 + index;
}

int main(void) {
  long sum = 0;
  for (int r = 0; r < kRounds; ++r) {
    corpus_run(Worker);  // pthread_create ... pthread_join
    for (int i = 0; i < kWords; ++i) {
      sum += g_data[i];
      g_data[i] = i;
    }
  }
  printf("sum=%ld\n", sum);
  return 0;
}
