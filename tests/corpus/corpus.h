/* Helpers of the corpus programs (tests/corpus, docs/corpus.md): plain user
 * programs, built by trapsan-cc/trapsan-c++ and run by run-corpus. They use
 * no trapsan API: only pthreads and the timing helpers of common.h.
 *
 * Every program starts CORPUS_THREADS threads that begin together at a
 * barrier (so their accesses overlap in time wherever the program's shape
 * lets them), joins them and exits 0. Work is a fixed number of iterations,
 * never "until something happens" (no sleep that hopes). */
#ifndef TRAPSAN_TESTS_CORPUS_CORPUS_H_
#define TRAPSAN_TESTS_CORPUS_CORPUS_H_

#define TP_NO_RUNTIME_LINK 1
#include "common.h"

#include <pthread.h>

#ifdef __cplusplus
#include <cstdio>
#endif

#define CORPUS_THREADS 4

typedef struct {
  void (*fn)(int);
  int index;
} corpus_thread_arg;

static pthread_barrier_t corpus_start_barrier;

static void* corpus_trampoline(void* p) {
  corpus_thread_arg* a = (corpus_thread_arg*)p;
  pthread_barrier_wait(&corpus_start_barrier);
  a->fn(a->index);
  return NULL;
}

/* Runs fn(0) .. fn(n-1) in n threads that start together; returns when all
 * have been joined. */
static inline void corpus_run_n(int n, void (*fn)(int)) {
  pthread_t t[16];
  corpus_thread_arg args[16];
  if (n > 16) n = 16;
  pthread_barrier_init(&corpus_start_barrier, NULL, (unsigned)n);
  for (int i = 0; i < n; ++i) {
    args[i].fn = fn;
    args[i].index = i;
    if (pthread_create(&t[i], NULL, corpus_trampoline, &args[i]) != 0) {
      perror("pthread_create");
      exit(2);
    }
  }
  for (int i = 0; i < n; ++i) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&corpus_start_barrier);
}

static inline void corpus_run(void (*fn)(int)) {
  corpus_run_n(CORPUS_THREADS, fn);
}

/* A spin on a relaxed atomic, with a pause: waits that make no
 * happens-before (the racy "invisible barrier" shapes use it). */
static inline void corpus_pause(void) { __builtin_ia32_pause(); }

#endif /* TRAPSAN_TESTS_CORPUS_CORPUS_H_ */
