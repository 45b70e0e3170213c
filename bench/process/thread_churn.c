// Thread churn: creates and joins N threads one after another (default
// 10,000), each touching a shared array once. Prints the sum.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static long g_cells[64];

static void* Body(void* arg) {
  long i = (long)arg;
  g_cells[i & 63] += i;
  return NULL;
}

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000;
  for (long i = 0; i < n; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, Body, (void*)i) != 0) return 1;
    pthread_join(t, NULL);
  }
  long sum = 0;
  for (int i = 0; i < 64; i++) sum += g_cells[i];
  printf("%ld\n", sum);
  return 0;
}
