// order_join_release: a window held across pthread_join must close at the
// joiner's next release. Each round, every corpus thread writes its slot of
// a shared array once, starts a helper thread (which touches nothing
// shared) and joins it, then hands the slot to its neighbour with a
// release store; the neighbour waits for that with acquire loads and then
// updates the slot. pthread_join is no release of the joiner (trapsan keeps
// its windows on globals held across it, docs/design.md): only the release
// store after it orders the two accesses.
// corpus: kind=order_join_release issue=14 shape=far_apart
#include "corpus.h"

enum { kRounds = 20, kWork = 2000 };
static long g_slot[CORPUS_THREADS];
static unsigned g_handed[CORPUS_THREADS];
static unsigned g_back[CORPUS_THREADS];

static void* Helper(void* p) {
  long x = 0;
  for (int i = 0; i < kWork; ++i) x += i ^ (long)p;
  return (void*)x;
}

static void Thread(int index) {
  const int prev = (index + CORPUS_THREADS - 1) % CORPUS_THREADS;
  for (unsigned r = 1; r <= kRounds; ++r) {
    g_slot[index] = g_slot[index] * 3 + r;  // the owner's access
    pthread_t t;
    void* x;
    if (pthread_create(&t, NULL, Helper, (void*)(long)index) != 0) exit(2);
    pthread_join(t, &x);
    __atomic_store_n(&g_handed[index], r, __ATOMIC_RELEASE);
    // The neighbour's slot, handed over by its release store.
    while (__atomic_load_n(&g_handed[prev], __ATOMIC_ACQUIRE) != r) corpus_pause();
    g_slot[prev] += (long)x & 1;
    __atomic_store_n(&g_back[prev], r, __ATOMIC_RELEASE);
    // Our own slot back before the next round writes it.
    while (__atomic_load_n(&g_back[index], __ATOMIC_ACQUIRE) != r) corpus_pause();
  }
}

int main(void) {
  corpus_run(Thread);
  long sum = 0;
  for (int i = 0; i < CORPUS_THREADS; ++i) sum += g_slot[i];
  printf("sum=%ld\n", sum);
  return 0;
}
