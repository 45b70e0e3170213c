/* The program's descriptor numbers stay its own while trapsan works in other
 * threads (issue 10, defect 5). Four threads run checked loops (label sites
 * and windows in the plugin build, manual checks where trapsan is linked);
 * once each has made 100,000 steps, main watches the lowest free descriptor
 * number: nothing of the program opens a file meanwhile, so it must stay
 * free (fcntl F_GETFD fails), and an open() now and then must get it. Before
 * the fix, trapsan opened /proc/thread-self/mem for every int3 written to
 * arm or disarm a label site (mode=ci, no debug registers): that descriptor
 * took the number for a moment (a program thread's open() got another
 * number, or EMFILE at the limit). Output is the same with and without
 * trapsan. Usage: fd_numbers [polls] (default 200000) */
#define _GNU_SOURCE 1
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "trapsan/trapsan.h"

#pragma weak trapsan_check_write

enum { kThreads = 4, kWords = 64 };

static atomic_int g_stop;
static atomic_long g_steps[kThreads];
static long g_words[kThreads][kWords];

__attribute__((noinline)) static void step(long* words, long i) {
  if (trapsan_check_write) trapsan_check_write(&words[i % kWords], sizeof(long));
  words[i % kWords] += i;
}

static void* worker(void* arg) {
  const long k = (long)arg;
  for (long i = 0; !atomic_load_explicit(&g_stop, memory_order_relaxed); ++i) {
    step(g_words[k], i);
    atomic_store_explicit(&g_steps[k], i, memory_order_relaxed);
  }
  return NULL;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const long n = argc > 1 ? atol(argv[1]) : 200000;
  pthread_t t[kThreads];
  for (long i = 0; i < kThreads; ++i) {
    if (pthread_create(&t[i], NULL, worker, (void*)i) != 0) return 2;
  }
  /* Past the threads' start (trapsan's per-thread set-up: events, timers). */
  for (int i = 0; i < kThreads; ++i) {
    while (atomic_load_explicit(&g_steps[i], memory_order_relaxed) < 100000) {
      sched_yield();
    }
  }
  const int free_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (free_fd < 0) return 2;
  close(free_fd);
  long held = 0, moved = 0, failed = 0;
  for (long i = 0; i < n; ++i) {
    if (fcntl(free_fd, F_GETFD) != -1) ++held;
    if (i % 64 == 0) {
      const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        ++failed;
      } else {
        if (fd != free_fd) ++moved;
        close(fd);
      }
    }
  }
  atomic_store(&g_stop, 1);
  for (int i = 0; i < kThreads; ++i) pthread_join(t[i], NULL);
  printf("POLLS=%ld\nHELD=%ld\nMOVED=%ld\nFAILED=%ld\n", n, held, moved, failed);
  return 0;
}
