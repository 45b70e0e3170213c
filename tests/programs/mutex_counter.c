/* Race-free: two threads increment a counter under a mutex, checking every
 * plain access. Usage: mutex_counter [iterations_per_thread] (default 1500). */
#include <pthread.h>

#include "common.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static long g_value;
static long g_iterations;

static void* locked_incrementer(void* arg) {
  (void)arg;
  for (long i = 0; i < g_iterations; ++i) {
    pthread_mutex_lock(&g_mu);
    trapsan_check_read(&g_value, sizeof g_value);
    long v = g_value;
    trapsan_check_write(&g_value, sizeof g_value);
    g_value = v + 1;
    pthread_mutex_unlock(&g_mu);
  }
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  g_iterations = argc > 1 ? atol(argv[1]) : 1500;
  pthread_t a, b;
  pthread_create(&a, NULL, locked_incrementer, NULL);
  pthread_create(&b, NULL, locked_incrementer, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("VALUE_OK=%d\n", g_value == 2 * g_iterations);
  tp_print_stats();
  printf("DONE=1\n");
  return 0;
}
