// tls_escape: the main thread hands the address of its own thread-local
// counter to a worker, writes the counter once, meets the worker at a
// barrier built of relaxed atomics (it orders nothing) and joins it; the
// worker writes the counter once, after the barrier. Thread-local storage is
// per-thread only while its address stays in its thread: the compiler
// plugin samples a thread_local whose address escapes, and the join keeps a
// window on the joiner's own TLS (the join frees the joined thread's, never
// the caller's). ThreadSanitizer's tls_race in our own words.
// corpus: kind=tls_escape issue=14 shape=far_apart
// Racy lines: main's one write (RACE), the worker's one write (RACE).
#include <pthread.h>

#include "corpus.h"

static unsigned g_arrived;

static void RelaxedBarrier(void) {
  __atomic_fetch_add(&g_arrived, 1, __ATOMIC_RELAXED);
  while (__atomic_load_n(&g_arrived, __ATOMIC_RELAXED) < 2) corpus_pause();
}

static void* Worker(void* arg) {
  RelaxedBarrier();
  *(long*)arg = 2;  // RACE
  return NULL;
}

int main(void) {
  static __thread long counter;
  pthread_t t;
  pthread_create(&t, NULL, Worker, &counter);
  counter = 1;  // RACE
  RelaxedBarrier();
  pthread_join(t, NULL);
  printf("counter=%ld\n", counter);
  return 0;
}
