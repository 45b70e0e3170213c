// struct_member: threads update the members of a shared statistics struct
// through a pointer, without its lock; the other members are per thread.
// corpus: kind=struct_member issue=15 shape=concurrent
// Racy lines: the shared member's update (RACE) and the reporter's read
// (RACE); the per-thread members are not racy. Each thread's last write of
// last_size is racy too (RACE): found once the cold-site bias sampled it.
#include "corpus.h"

struct stats {
  long per_thread[CORPUS_THREADS];
  long total_bytes;  // shared, unprotected
  int last_size;
};

enum { kIters = 5000 };
static struct stats g_stats;

static void Account(struct stats* s, int index, int size) {
  s->per_thread[index] += size;
  s->total_bytes += size;  // RACE
  TP_BARRIER();
}

static void Thread(int index) {
  long seen = 0;
  for (int i = 0; i < kIters; ++i) {
    Account(&g_stats, index, (i % 7) + 1);
    if ((i & 15) == 0) seen += g_stats.total_bytes;  // RACE
  }
  g_stats.last_size = seen > 0;  // RACE (each thread's one last write)
}

int main(void) {
  corpus_run(Thread);
  long sum = 0;
  for (int i = 0; i < CORPUS_THREADS; ++i) sum += g_stats.per_thread[i];
  printf("total=%ld sum=%ld\n", g_stats.total_bytes, sum);
  return 0;
}
