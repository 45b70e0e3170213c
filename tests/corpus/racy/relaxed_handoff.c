// relaxed_handoff: a producer hands a plain payload to a consumer through a
// sequence number stored and loaded with relaxed atomics (and gets an ack
// the same way): the flag makes the consumer wait, but orders nothing.
// corpus: kind=relaxed_handoff issue=14 shape=far_apart
// Racy lines: the producer's payload writes (RACE), the consumer's reads
// (RACE).
#include "corpus.h"

enum { kRounds = 20, kWords = 64 };
static long g_payload[2][kWords];
static unsigned g_seq[2], g_ack[2];
static long g_sums[CORPUS_THREADS];

static void Thread(int index) {
  const int pair = index / 2;
  long* payload = g_payload[pair];
  long sum = 0;
  for (unsigned r = 1; r <= kRounds; ++r) {
    if (index % 2 == 0) {
      for (int k = 0; k < kWords; ++k) payload[k] = r * k;  // RACE
      __atomic_store_n(&g_seq[pair], r, __ATOMIC_RELAXED);
      while (__atomic_load_n(&g_ack[pair], __ATOMIC_RELAXED) != r) corpus_pause();
    } else {
      while (__atomic_load_n(&g_seq[pair], __ATOMIC_RELAXED) != r) corpus_pause();
      for (int k = 0; k < kWords; ++k) sum += payload[k];  // RACE
      __atomic_store_n(&g_ack[pair], r, __ATOMIC_RELAXED);
    }
  }
  g_sums[index] = sum;
}

int main(void) {
  corpus_run(Thread);
  printf("sums=%ld,%ld\n", g_sums[1], g_sums[3]);
  return 0;
}
