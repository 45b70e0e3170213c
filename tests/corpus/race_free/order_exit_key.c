// order_exit_key: a one-off write ordered only by what runs after the thread
// function's return: each round, every corpus thread starts a detached
// worker that writes its result into a shared plain slot once, as its last
// access, and returns; the worker's pthread key destructor (run by glibc
// after that return, at thread exit) publishes "done" with a release store;
// the corpus thread waits for it with acquire loads and then updates the
// slot. trapsan may keep a window open past the thread function's return
// (the exit linger, docs/design.md): it must close before the destructor's
// release.
// corpus: kind=order_exit_key issue=14 shape=far_apart
#include "corpus.h"

enum { kRounds = 20, kWork = 2000 };
static long g_slot[CORPUS_THREADS];
static unsigned g_done[CORPUS_THREADS];
static pthread_key_t g_key;

static void Announce(void* p) {
  const int index = (int)(long)p - 1;
  __atomic_store_n(&g_done[index], 1, __ATOMIC_RELEASE);
}

static void* Worker(void* p) {
  const int index = (int)(long)p - 1;
  long result = 0;
  for (int i = 0; i < kWork; ++i) result += (i * 7) ^ index;
  pthread_setspecific(g_key, p);
  g_slot[index] = result;  // the worker's last access
  return NULL;
}

static void Thread(int index) {
  long total = 0;
  for (int r = 0; r < kRounds; ++r) {
    __atomic_store_n(&g_done[index], 0, __ATOMIC_RELAXED);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, Worker, (void*)(long)(index + 1)) != 0) exit(2);
    pthread_attr_destroy(&attr);
    while (__atomic_load_n(&g_done[index], __ATOMIC_ACQUIRE) == 0) corpus_pause();
    total += g_slot[index];
    g_slot[index] = total;  // after the destructor's release: ordered
  }
  if (total == 42) printf("unlikely\n");
}

int main(void) {
  pthread_key_create(&g_key, Announce);
  corpus_run(Thread);
  long sum = 0;
  for (int i = 0; i < CORPUS_THREADS; ++i) sum += g_slot[i];
  printf("sum=%ld\n", sum);
  return 0;
}
