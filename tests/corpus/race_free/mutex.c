// mutex: the counter program done right: every access of the shared counter
// and of a shared struct is under one pthread mutex.
// corpus: kind=mutex issue=15 shape=concurrent
#include "corpus.h"

enum { kIters = 5000 };
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static long g_requests;
static struct { long bytes; int last; } g_stats;

static void Worker(int index) {
  for (int i = 0; i < kIters; ++i) {
    pthread_mutex_lock(&g_mu);
    g_requests = g_requests + 1;
    g_stats.bytes += i & 7;
    g_stats.last = index;
    pthread_mutex_unlock(&g_mu);
  }
}

int main(void) {
  corpus_run(Worker);
  printf("requests=%ld bytes=%ld\n", g_requests, g_stats.bytes);
  return g_requests == (long)CORPUS_THREADS * kIters ? 0 : 1;
}
