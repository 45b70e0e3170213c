/* Cold-site bias (runtime/linux/cold_sites.h): every racy access runs ONCE
 * per process, far apart in time, so fixed-rate sampling (mode=ci: one
 * access in 50) almost never picks it; the first executions of every site
 * are sampled instead. A writer stores g_value once, tells the reader, and
 * waits for its acknowledgement; the reader waits, reads g_value once and
 * acknowledges:
 *
 *   racy:    the flag and the acknowledgement are relaxed atomics (nothing
 *            orders the write and the read; the writer's window, held until
 *            its next release, is still open when the read comes)
 *   ordered: a release store / acquire load (race-free: the writer's window
 *            closes at its release store, before the reader can read)
 *
 * The waits spin with a pause on the atomic alone. usage: cold_once
 * racy|ordered. Prints value=N. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static long g_value;
static int g_flag, g_ack;

static void* RacyWriter(void* arg) {
  g_value = (long)arg;
  __atomic_store_n(&g_flag, 1, __ATOMIC_RELAXED);
  while (__atomic_load_n(&g_ack, __ATOMIC_RELAXED) == 0) __builtin_ia32_pause();
  return NULL;
}

static void* RacyReader(void* arg) {
  (void)arg;
  while (__atomic_load_n(&g_flag, __ATOMIC_RELAXED) == 0) __builtin_ia32_pause();
  long v = g_value;
  __atomic_store_n(&g_ack, 1, __ATOMIC_RELAXED);
  return (void*)v;
}

static void* OrderedWriter(void* arg) {
  g_value = (long)arg;
  __atomic_store_n(&g_flag, 1, __ATOMIC_RELEASE);
  while (__atomic_load_n(&g_ack, __ATOMIC_ACQUIRE) == 0) __builtin_ia32_pause();
  return NULL;
}

static void* OrderedReader(void* arg) {
  (void)arg;
  while (__atomic_load_n(&g_flag, __ATOMIC_ACQUIRE) == 0) __builtin_ia32_pause();
  long v = g_value;
  __atomic_store_n(&g_ack, 1, __ATOMIC_RELEASE);
  return (void*)v;
}

int main(int argc, char** argv) {
  if (argc != 2 || (strcmp(argv[1], "racy") && strcmp(argv[1], "ordered"))) {
    fprintf(stderr, "usage: cold_once racy|ordered\n");
    return 2;
  }
  const int ordered = strcmp(argv[1], "ordered") == 0;
  pthread_t w, r;
  void* v;
  pthread_create(&r, NULL, ordered ? OrderedReader : RacyReader, NULL);
  pthread_create(&w, NULL, ordered ? OrderedWriter : RacyWriter, (void*)42L);
  pthread_join(w, NULL);
  pthread_join(r, &v);
  printf("value=%ld\n", (long)v);
  return 0;
}
