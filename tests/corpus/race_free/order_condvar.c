// order_condvar: the relaxed_handoff shape ordered by a condition variable:
// the consumer waits for the sequence number, the producer for the ack; the
// payload itself is outside the lock.
// corpus: kind=order_condvar issue=14 shape=far_apart
#include "corpus.h"

enum { kRounds = 20, kWords = 64 };
static long g_payload[2][kWords];
static unsigned g_seq[2], g_ack[2];
static pthread_mutex_t g_mu[2] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER};
static pthread_cond_t g_cv[2] = {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};
static long g_sums[CORPUS_THREADS];

static void Post(int pair, unsigned* v, unsigned value) {
  pthread_mutex_lock(&g_mu[pair]);
  *v = value;
  pthread_cond_broadcast(&g_cv[pair]);
  pthread_mutex_unlock(&g_mu[pair]);
}

static void Await(int pair, const unsigned* v, unsigned value) {
  pthread_mutex_lock(&g_mu[pair]);
  while (*v != value) pthread_cond_wait(&g_cv[pair], &g_mu[pair]);
  pthread_mutex_unlock(&g_mu[pair]);
}

static void Thread(int index) {
  const int pair = index / 2;
  long* payload = g_payload[pair];
  long sum = 0;
  for (unsigned r = 1; r <= kRounds; ++r) {
    if (index % 2 == 0) {
      for (int k = 0; k < kWords; ++k) payload[k] = r * k;
      Post(pair, &g_seq[pair], r);
      Await(pair, &g_ack[pair], r);
    } else {
      Await(pair, &g_seq[pair], r);
      for (int k = 0; k < kWords; ++k) sum += payload[k];
      Post(pair, &g_ack[pair], r);
    }
  }
  g_sums[index] = sum;
}

int main(void) {
  corpus_run(Thread);
  const long want = (kWords * (kWords - 1) / 2L) * kRounds * (kRounds + 1) / 2;
  printf("sums=%ld,%ld\n", g_sums[1], g_sums[3]);
  return g_sums[1] == want && g_sums[3] == want ? 0 : 1;
}
