// order_futex: the relaxed_handoff shape ordered only by futex system calls
// on words nobody writes: the consumer sleeps in FUTEX_WAIT until the
// producer's FUTEX_WAKE reports that it woke it, and the same back for the
// ack. (A wait returns 0 only when woken; EINTR retries.)
// corpus: kind=order_futex issue=14 shape=far_apart
#include <errno.h>
#include <linux/futex.h>

#include "corpus.h"

enum { kRounds = 20, kWords = 64 };
static long g_payload[2][kWords];
static int g_word_consumer[2], g_word_producer[2];  // always 0
static long g_sums[CORPUS_THREADS];

static void Wake(int* word) {  // until it woke the one waiter
  while (syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) != 1)
    corpus_pause();
}

static void Wait(int* word) {
  while (syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0) != 0) {
    if (errno != EINTR && errno != EAGAIN) {
      perror("futex");
      exit(2);
    }
  }
}

static void Thread(int index) {
  const int pair = index / 2;
  long* payload = g_payload[pair];
  long sum = 0;
  for (unsigned r = 1; r <= kRounds; ++r) {
    if (index % 2 == 0) {
      for (int k = 0; k < kWords; ++k) payload[k] = r * k;
      Wake(&g_word_consumer[pair]);
      Wait(&g_word_producer[pair]);
    } else {
      Wait(&g_word_consumer[pair]);
      for (int k = 0; k < kWords; ++k) sum += payload[k];
      Wake(&g_word_producer[pair]);
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
