// order_mutex: the relaxed_handoff shape ordered only by a mutex: the payload
// is written and read outside the lock; only the sequence number and the
// ack are read and written under it (unlock = release, lock = acquire).
// corpus: kind=order_mutex issue=14 shape=far_apart
#include "corpus.h"

enum { kRounds = 20, kWords = 64 };
static long g_payload[2][kWords];
static unsigned g_seq[2], g_ack[2];
static pthread_mutex_t g_mu[2] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER};
static long g_sums[CORPUS_THREADS];

static unsigned Read(pthread_mutex_t* mu, const unsigned* v) {
  pthread_mutex_lock(mu);
  const unsigned r = *v;
  pthread_mutex_unlock(mu);
  return r;
}

static void Write(pthread_mutex_t* mu, unsigned* v, unsigned value) {
  pthread_mutex_lock(mu);
  *v = value;
  pthread_mutex_unlock(mu);
}

static void Thread(int index) {
  const int pair = index / 2;
  long* payload = g_payload[pair];
  long sum = 0;
  for (unsigned r = 1; r <= kRounds; ++r) {
    if (index % 2 == 0) {
      for (int k = 0; k < kWords; ++k) payload[k] = r * k;
      Write(&g_mu[pair], &g_seq[pair], r);
      while (Read(&g_mu[pair], &g_ack[pair]) != r) corpus_pause();
    } else {
      while (Read(&g_mu[pair], &g_seq[pair]) != r) corpus_pause();
      for (int k = 0; k < kWords; ++k) sum += payload[k];
      Write(&g_mu[pair], &g_ack[pair], r);
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
