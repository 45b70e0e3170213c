/* Threads cancelled inside checked loops, 4 at a time:
 *   async     PTHREAD_CANCEL_ASYNCHRONOUS, a loop of loads and stores with no
 *             cancellation point: cancelled wherever it is (in trapsan too)
 *   deferred  the default type, the loop reaches pthread_testcancel() and
 *             write() now and then: cancelled at the first cancellation point
 *             it reaches after pthread_cancel (trapsan's own waits included)
 * Every thread must end cancelled (its cleanup handler run, PTHREAD_CANCELED
 * joined). Then the program checks that the cancelled threads left trapsan
 * usable: its windows still open (no slot kept by a cancelled window) and a
 * new thread can be created, checked and joined. The checks go through the
 * manual API when trapsan is linked (weak symbols) and through the compiler's
 * instrumentation when built with it. Output is the same with and without
 * trapsan. Usage: cancel_storm async|deferred [threads] (default 100) */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trapsan/trapsan.h"

/* Present when libtrapsan.so is linked, NULL in the plain build. */
#pragma weak trapsan_check_read
#pragma weak trapsan_check_write
#pragma weak trapsan_get_stats

enum { kBatch = 4, kWords = 64 };

struct worker {
  pthread_t thread;
  atomic_long progress;
  atomic_int cleaned;
  unsigned long buf[kWords];
};

static int g_devnull = -1;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void touch(unsigned long* p, unsigned long v) {
  if (trapsan_check_read) trapsan_check_read(p, sizeof *p);
  unsigned long old = *p;
  if (trapsan_check_write) trapsan_check_write(p, sizeof *p);
  *p = old + v;
}

static void cleanup(void* arg) {
  struct worker* w = arg;
  atomic_store(&w->cleaned, 1);
}

static void* spin_async(void* arg) {
  struct worker* w = arg;
  pthread_cleanup_push(cleanup, w);
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
  for (unsigned long i = 1;; ++i) {
    touch(&w->buf[i % kWords], i);
    atomic_store_explicit(&w->progress, (long)i, memory_order_relaxed);
  }
  pthread_cleanup_pop(0);
  return NULL;
}

static void* spin_deferred(void* arg) {
  struct worker* w = arg;
  pthread_cleanup_push(cleanup, w);
  for (unsigned long i = 1;; ++i) {
    touch(&w->buf[i % kWords], i);
    atomic_store_explicit(&w->progress, (long)i, memory_order_relaxed);
    if (i % 256 == 0) pthread_testcancel();
    if (i % 4096 == 0) {
      char c = 0;
      if (write(g_devnull, &c, 1) < 0) abort();
    }
  }
  pthread_cleanup_pop(0);
  return NULL;
}

/* Waits until w has made `steps` steps; 0 when it did not within 60 s. */
static int wait_progress(struct worker* w, long steps) {
  uint64_t deadline = now_ns() + 60ull * 1000000000u;
  while (atomic_load_explicit(&w->progress, memory_order_relaxed) < steps) {
    if (now_ns() > deadline) return 0;
    sched_yield();
  }
  return 1;
}

static void* checked_once(void* arg) {
  struct worker* w = arg;
  for (unsigned long i = 1; i <= 100000; ++i) touch(&w->buf[i % kWords], i);
  return (void*)w->buf[1];
}

/* With trapsan: windows must still open after the cancellations (a window
 * cancelled before it released its slot would leave it busy for good).
 * 0 when none opened within 60 s of checks. */
static int windows_still_open(struct worker* w) {
  if (!trapsan_get_stats || !trapsan_check_write) return 1;
  trapsan_stats before, after;
  (trapsan_get_stats)(&before);  /* the function, not a macro */
  if (before.backend == 0) return 1;  /* trapsan off */
  uint64_t deadline = now_ns() + 60ull * 1000000000u;
  for (unsigned long i = 1;; ++i) {
    touch(&w->buf[i % kWords], i);
    if (i % 1024 != 0) continue;
    (trapsan_get_stats)(&after);
    if (after.windows > before.windows) return 1;
    if (now_ns() > deadline) {
      fprintf(stderr, "cancel_storm: no window opened in 60 s: windows %llu, "
              "skipped_no_slot %llu -> %llu\n",
              (unsigned long long)after.windows,
              (unsigned long long)before.skipped_no_slot,
              (unsigned long long)after.skipped_no_slot);
      return 0;
    }
  }
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2 || (strcmp(argv[1], "async") != 0 &&
                   strcmp(argv[1], "deferred") != 0)) {
    fprintf(stderr, "usage: cancel_storm async|deferred [threads]\n");
    return 2;
  }
  const int async = strcmp(argv[1], "async") == 0;
  const int n = argc > 2 ? atoi(argv[2]) : 100;
  g_devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (g_devnull < 0) return 2;
  static struct worker workers[kBatch];
  int cancelled = 0, cleaned = 0, stuck = 0;
  for (int done = 0; done < n; done += kBatch) {
    const int k = n - done < kBatch ? n - done : kBatch;
    for (int j = 0; j < k; ++j) {
      memset(&workers[j], 0, sizeof workers[j]);
      if (pthread_create(&workers[j].thread, NULL,
                         async ? spin_async : spin_deferred, &workers[j]) != 0) {
        return 3;
      }
    }
    /* Cancel each after a varying number of steps, so that cancellations
     * land all over the loop (and in trapsan's windows when it samples). */
    for (int j = 0; j < k; ++j) {
      if (!wait_progress(&workers[j], 2000 + 997L * ((done + j) % 23))) ++stuck;
      pthread_cancel(workers[j].thread);
    }
    for (int j = 0; j < k; ++j) {
      void* ret = NULL;
      pthread_join(workers[j].thread, &ret);
      if (ret == PTHREAD_CANCELED) ++cancelled;
      cleaned += atomic_load(&workers[j].cleaned);
    }
  }
  printf("CANCELLED=%d of %d\nCLEANED=%d\nSTUCK=%d\n", cancelled, n, cleaned,
         stuck);
  /* trapsan still works: a thread is created, checked and joined, and
   * windows still open. */
  memset(&workers[0], 0, sizeof workers[0]);
  pthread_t t;
  void* ret = NULL;
  int joined = pthread_create(&t, NULL, checked_once, &workers[0]) == 0 &&
               pthread_join(t, &ret) == 0;
  printf("AFTER: thread %s, windows %s\n", joined ? "joined" : "FAILED",
         windows_still_open(&workers[1]) ? "open" : "STUCK");
  return 0;
}
