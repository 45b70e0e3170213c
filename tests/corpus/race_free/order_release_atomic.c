// order_release_atomic: the relaxed_handoff shape ordered by release stores
// and acquire loads of the sequence number and the ack (no fence, no lock).
// corpus: kind=order_release_atomic issue=14 shape=far_apart
#include "corpus.h"

enum { kRounds = 20, kWords = 64 };
static long g_payload[2][kWords];
static unsigned g_seq[2], g_ack[2];
static long g_sums[CORPUS_THREADS];

static void Post(unsigned* v, unsigned value) {
  __atomic_store_n(v, value, __ATOMIC_RELEASE);
}

static void Await(const unsigned* v, unsigned value) {
  while (__atomic_load_n(v, __ATOMIC_ACQUIRE) != value) corpus_pause();
}

static void Thread(int index) {
  const int pair = index / 2;
  long* payload = g_payload[pair];
  long sum = 0;
  for (unsigned r = 1; r <= kRounds; ++r) {
    if (index % 2 == 0) {
      for (int k = 0; k < kWords; ++k) payload[k] = r * k;
      Post(&g_seq[pair], r);
      Await(&g_ack[pair], r);
    } else {
      Await(&g_seq[pair], r);
      for (int k = 0; k < kWords; ++k) sum += payload[k];
      Post(&g_ack[pair], r);
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
