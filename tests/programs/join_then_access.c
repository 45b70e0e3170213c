/* Race-free: a thread writes a variable and is joined; then the main thread
 * reads and writes it. Repeated with a fresh thread each round.
 * Usage: join_then_access [rounds] (default 300). */
#include <pthread.h>

#include "common.h"

static long g_shared;

static void* child_writer(void* arg) {
  (void)arg;
  trapsan_check_read(&g_shared, sizeof g_shared);
  long v = g_shared;
  trapsan_check_write(&g_shared, sizeof g_shared);
  g_shared = v + 1;
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  long rounds = argc > 1 ? atol(argv[1]) : 300;
  for (long i = 0; i < rounds; ++i) {
    pthread_t t;
    pthread_create(&t, NULL, child_writer, NULL);
    pthread_join(t, NULL);
    trapsan_check_read(&g_shared, sizeof g_shared);
    long v = g_shared;
    trapsan_check_write(&g_shared, sizeof g_shared);
    g_shared = v + 1;
  }
  printf("VALUE_OK=%d\n", g_shared == 2 * rounds);
  tp_print_stats();
  printf("DONE=1\n");
  return 0;
}
