// order_semaphore: the relaxed_handoff shape ordered by POSIX semaphores:
// an uninstrumented library (libc) that synchronizes internally.
// corpus: kind=order_semaphore issue=14 shape=far_apart
#include <semaphore.h>

#include "corpus.h"

enum { kRounds = 20, kWords = 64 };
static long g_payload[2][kWords];
static sem_t g_to_consumer[2], g_to_producer[2];
static long g_sums[CORPUS_THREADS];

static void Thread(int index) {
  const int pair = index / 2;
  long* payload = g_payload[pair];
  long sum = 0;
  for (unsigned r = 1; r <= kRounds; ++r) {
    if (index % 2 == 0) {
      for (int k = 0; k < kWords; ++k) payload[k] = r * k;
      sem_post(&g_to_consumer[pair]);
      while (sem_wait(&g_to_producer[pair]) != 0) {
      }
    } else {
      while (sem_wait(&g_to_consumer[pair]) != 0) {
      }
      for (int k = 0; k < kWords; ++k) sum += payload[k];
      sem_post(&g_to_producer[pair]);
    }
  }
  g_sums[index] = sum;
}

int main(void) {
  for (int p = 0; p < 2; ++p) {
    sem_init(&g_to_consumer[p], 0, 0);
    sem_init(&g_to_producer[p], 0, 0);
  }
  corpus_run(Thread);
  const long want = (kWords * (kWords - 1) / 2L) * kRounds * (kRounds + 1) / 2;
  printf("sums=%ld,%ld\n", g_sums[1], g_sums[3]);
  return g_sums[1] == want && g_sums[3] == want ? 0 : 1;
}
