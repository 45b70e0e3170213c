// A plain program using plugin_lib.c's library: two threads call lib_bump()
// (a racy increment) for MS milliseconds.
//   plugin_host MS
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void lib_bump(void);
static volatile int stop;

static void* worker(void* arg) {
  (void)arg;
  while (!stop) lib_bump();
  return NULL;
}

int main(int argc, char** argv) {
  const long ms = argc > 1 ? atol(argv[1]) : 300;
  pthread_t a, b;
  pthread_create(&a, NULL, worker, NULL);
  pthread_create(&b, NULL, worker, NULL);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
  stop = 1;
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("done\n");
  return 0;
}
