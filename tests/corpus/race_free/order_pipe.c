// order_pipe: the relaxed_handoff shape ordered only by system calls: the
// producer write()s a byte to a pipe after writing the payload, the consumer
// read()s it before reading the payload; the ack comes back the same way.
// corpus: kind=order_pipe issue=14 shape=far_apart
#include "corpus.h"

enum { kRounds = 20, kWords = 64 };
static long g_payload[2][kWords];
static int g_to_consumer[2][2], g_to_producer[2][2];  // pipe fds
static long g_sums[CORPUS_THREADS];

static void Send(int fd) {
  const char c = 1;
  while (write(fd, &c, 1) != 1) {
  }
}

static void Receive(int fd) {
  char c;
  while (read(fd, &c, 1) != 1) {
  }
}

static void Thread(int index) {
  const int pair = index / 2;
  long* payload = g_payload[pair];
  long sum = 0;
  for (unsigned r = 1; r <= kRounds; ++r) {
    if (index % 2 == 0) {
      for (int k = 0; k < kWords; ++k) payload[k] = r * k;
      Send(g_to_consumer[pair][1]);
      Receive(g_to_producer[pair][0]);
    } else {
      Receive(g_to_consumer[pair][0]);
      for (int k = 0; k < kWords; ++k) sum += payload[k];
      Send(g_to_producer[pair][1]);
    }
  }
  g_sums[index] = sum;
}

int main(void) {
  for (int p = 0; p < 2; ++p)
    if (pipe(g_to_consumer[p]) != 0 || pipe(g_to_producer[p]) != 0) return 2;
  corpus_run(Thread);
  const long want = (kWords * (kWords - 1) / 2L) * kRounds * (kRounds + 1) / 2;
  printf("sums=%ld,%ld\n", g_sums[1], g_sums[3]);
  return g_sums[1] == want && g_sums[3] == want ? 0 : 1;
}
