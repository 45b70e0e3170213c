// Shared by racy_plain.c and plugin_host.c: two threads call step() over
// and over for MS milliseconds (argv[1], else default_ms), then main prints
// "done".
#ifndef TRAPSAN_TESTS_PRELOAD_TWO_WORKERS_H_
#define TRAPSAN_TESTS_PRELOAD_TWO_WORKERS_H_

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile int two_workers_stop;
static void (*two_workers_step)(void);

static void* TwoWorkersMain(void* arg) {
  (void)arg;
  while (!two_workers_stop) two_workers_step();
  return NULL;
}

static int RunTwoWorkers(int argc, char** argv, long default_ms,
                         void (*step)(void)) {
  const long ms = argc > 1 ? atol(argv[1]) : default_ms;
  two_workers_step = step;
  pthread_t a, b;
  pthread_create(&a, NULL, TwoWorkersMain, NULL);
  pthread_create(&b, NULL, TwoWorkersMain, NULL);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
  two_workers_stop = 1;
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("done\n");
  return 0;
}

#endif  // TRAPSAN_TESTS_PRELOAD_TWO_WORKERS_H_
