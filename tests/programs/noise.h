/* A background thread that keeps opening race-free watch windows on a
 * variable nobody else touches, so that fork() and exec() happen while
 * windows are open and watchpoints armed. */
#ifndef TRAPSAN_TESTS_PROGRAMS_NOISE_H_
#define TRAPSAN_TESTS_PROGRAMS_NOISE_H_

#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

static long g_noise_var;
static atomic_int g_noise_stop;
static atomic_long g_noise_windows;
static pthread_t g_noise_thread;

static void* tp_noise_main(void* arg) {
  (void)arg;
  while (!atomic_load(&g_noise_stop)) {
    trapsan_check_write(&g_noise_var, sizeof g_noise_var);
    g_noise_var++;
    atomic_fetch_add(&g_noise_windows, 1);
  }
  return NULL;
}

/* Starts the thread and waits until it went through `min_checks` checks. */
static inline void tp_start_noise(long min_checks) {
  pthread_create(&g_noise_thread, NULL, tp_noise_main, NULL);
  while (atomic_load(&g_noise_windows) < min_checks) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
}

static inline void tp_stop_noise(void) {
  atomic_store(&g_noise_stop, 1);
  pthread_join(g_noise_thread, NULL);
}

#endif /* TRAPSAN_TESTS_PROGRAMS_NOISE_H_ */
