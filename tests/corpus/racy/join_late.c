// join_late: the main thread writes a shared word once, meets a worker at a
// barrier built of relaxed atomics (it orders nothing) and waits in
// pthread_join; the worker first sleeps longer than max_window_ms (100 ms),
// then writes the word. Sleeping orders nothing either. While its owner
// waits in the join, a held window does not expire: the owner runs nothing
// and the join is no release of the joiner. ThreadSanitizer's sleep_sync in
// our own words.
// corpus: kind=join_late issue=14 shape=far_apart
// Racy lines: main's one write (RACE), the worker's one write (RACE).
#include <pthread.h>
#include <time.h>

#include "corpus.h"

static long g_word;
static unsigned g_arrived;

static void RelaxedBarrier(void) {
  __atomic_fetch_add(&g_arrived, 1, __ATOMIC_RELAXED);
  while (__atomic_load_n(&g_arrived, __ATOMIC_RELAXED) < 2) corpus_pause();
}

static void* Worker(void* arg) {
  (void)arg;
  RelaxedBarrier();
  struct timespec pause = {0, 200 * 1000 * 1000};
  nanosleep(&pause, NULL);
  g_word = 2;  // RACE
  return NULL;
}

int main(void) {
  pthread_t t;
  pthread_create(&t, NULL, Worker, NULL);
  g_word = 1;  // RACE
  RelaxedBarrier();
  pthread_join(t, NULL);
  printf("word=%ld\n", g_word);
  return 0;
}
