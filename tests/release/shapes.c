/* Release-bounded windows (docs/design.md): a producer writes a shared
 * slot, then hands it to a consumer, which reads it ROUND_GAP_US later
 * (far apart in time: longer than any stalled window). The handoff uses one
 * kind of synchronization, named by argv[1]:
 *
 *   race-free: mutex condvar release_atomic fence join pipe eventfd lib
 *              return (the write is in an external function two calls
 *              down, whose returns to instrumented callers keep the window
 *              held; the producer's release store comes right after)
 *              return_lib (the write is in a callback that release_lib.c,
 *              built without trapsan, calls and then releases: the
 *              callback's return must close the window; the producer then
 *              waits for the acknowledgement by acquire loads, no release
 *              point of its own before the consumer's read)
 *   racy:      relaxed (the handoff and its acknowledgement are relaxed
 *              atomics: nothing orders the write and the read)
 *              nothing (the consumer reads after a sleep, no handoff)
 *              unrelated_release (the producer unlocks a mutex nobody else
 *              takes, then hands off by relaxed atomics: its window must
 *              outlive that release to be met, docs/design.md "Past the
 *              release"; built with TRAPSAN_PLUGIN_SYNC_STATE=1)
 *
 * usage: shapes KIND ROUNDS [GAP_US]. Prints ROUNDS=n SUM=s. Built by the
 * compiler plugin (tests/release/CMakeLists.txt); `lib` calls
 * release_lib.c, built without it. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "release_lib.h"

enum { kSlots = 64 };

static const char* g_kind;
static int g_rounds;
static long g_gap_us;

/* The shared slots: written by the producer, read by the consumer. */
static long g_data[kSlots];
static long g_sum;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_producer_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_posted = -1, g_acked = -1; /* under g_mu */
static atomic_int g_flag = -1, g_ack = -1;
static atomic_long g_spins;
static int g_pipe[2], g_ack_pipe[2];
static int g_event, g_ack_event;

static void Gap(void) {
  if (g_gap_us <= 0) return;
  struct timespec ts = {0, g_gap_us * 1000};
  nanosleep(&ts, NULL);
}

static int Is(const char* kind) { return strcmp(g_kind, kind) == 0; }
/* The return kinds, decided once (no strcmp between a return and the
 * release after it). */
enum { kNotReturn, kReturn, kReturnLib };
static int g_return_kind;

static void PipeSend(int fd) {
  char c = 1;
  while (write(fd, &c, 1) != 1) {
  }
}
static void PipeReceive(int fd) {
  char c;
  while (read(fd, &c, 1) != 1) {
  }
}

/* The producer's side of round i: after its write of g_data[i % kSlots]. */
static void Post(int i) {
  if (Is("mutex")) {
    pthread_mutex_lock(&g_mu);
    g_posted = i;
    pthread_mutex_unlock(&g_mu);
  } else if (Is("condvar")) {
    pthread_mutex_lock(&g_mu);
    g_posted = i;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
  } else if (Is("release_atomic")) {
    atomic_store_explicit(&g_flag, i, memory_order_release);
  } else if (Is("fence")) {
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&g_flag, i, memory_order_relaxed);
  } else if (Is("pipe")) {
    PipeSend(g_pipe[1]);
  } else if (Is("eventfd")) {
    uint64_t one = 1;
    while (write(g_event, &one, sizeof one) != sizeof one) {
    }
  } else if (Is("lib")) {
    release_lib_post(i);
  } else if (Is("relaxed")) {
    atomic_store_explicit(&g_flag, i, memory_order_relaxed);
  } else if (Is("unrelated_release")) {
    pthread_mutex_lock(&g_producer_mu); /* the producer's alone */
    pthread_mutex_unlock(&g_producer_mu);
    atomic_store_explicit(&g_flag, i, memory_order_relaxed);
  }
}

/* The consumer's side of round i, before its read. */
static void Await(int i) {
  if (Is("mutex")) {
    for (;;) {
      pthread_mutex_lock(&g_mu);
      int posted = g_posted;
      pthread_mutex_unlock(&g_mu);
      if (posted >= i) break;
      sched_yield();
    }
  } else if (Is("condvar")) {
    pthread_mutex_lock(&g_mu);
    while (g_posted < i) pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
  } else if (Is("release_atomic") || Is("return")) {
    while (atomic_load_explicit(&g_flag, memory_order_acquire) < i) {
    }
  } else if (Is("fence")) {
    while (atomic_load_explicit(&g_flag, memory_order_relaxed) < i) {
    }
    atomic_thread_fence(memory_order_acquire);
  } else if (Is("pipe")) {
    PipeReceive(g_pipe[0]);
  } else if (Is("eventfd")) {
    uint64_t n;
    while (read(g_event, &n, sizeof n) != sizeof n) {
    }
  } else if (Is("lib") || Is("return_lib")) {
    release_lib_await(i);
  } else if (Is("relaxed") || Is("unrelated_release")) {
    while (atomic_load_explicit(&g_flag, memory_order_relaxed) < i) {
    }
  }
}

/* The acknowledgement, the same way back (the consumer's read is then
 * ordered before the producer's next write of the slot). */
static void Ack(int i) {
  if (Is("mutex") || Is("condvar")) {
    pthread_mutex_lock(&g_mu);
    g_acked = i;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
  } else if (Is("release_atomic") || Is("return") || Is("return_lib")) {
    atomic_store_explicit(&g_ack, i, memory_order_release);
  } else if (Is("fence")) {
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&g_ack, i, memory_order_relaxed);
  } else if (Is("pipe")) {
    PipeSend(g_ack_pipe[1]);
  } else if (Is("eventfd")) {
    uint64_t one = 1;
    while (write(g_ack_event, &one, sizeof one) != sizeof one) {
    }
  } else if (Is("lib")) {
    release_lib_ack(i);
  } else if (Is("relaxed") || Is("unrelated_release")) {
    atomic_store_explicit(&g_ack, i, memory_order_relaxed);
  }
}

static void AwaitAck(int i) {
  if (Is("mutex") || Is("condvar")) {
    pthread_mutex_lock(&g_mu);
    while (g_acked < i) pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
  } else if (Is("release_atomic") || Is("return") || Is("return_lib")) {
    while (atomic_load_explicit(&g_ack, memory_order_acquire) < i) {
    }
  } else if (Is("fence")) {
    while (atomic_load_explicit(&g_ack, memory_order_relaxed) < i) {
    }
    atomic_thread_fence(memory_order_acquire);
  } else if (Is("pipe")) {
    PipeReceive(g_ack_pipe[0]);
  } else if (Is("eventfd")) {
    uint64_t n;
    while (read(g_ack_event, &n, sizeof n) != sizeof n) {
    }
  } else if (Is("lib")) {
    release_lib_await_ack(i);
  } else if (Is("relaxed") || Is("unrelated_release")) {
    while (atomic_load_explicit(&g_ack, memory_order_relaxed) < i) {
    }
  }
}

__attribute__((noinline)) static void Produce(int i) {
  g_data[i % kSlots] = i + 1; /* the write */
}

__attribute__((noinline)) static void Consume(int i) {
  g_sum += g_data[i % kSlots]; /* the read */
}

/* return: the write two calls down, in functions with external linkage
 * (their returns are release points unless they return to a marker). */
__attribute__((noinline)) long ShapesProduceInner(int i) {
  g_data[i % kSlots] = i + 1; /* the write */
  return i;
}
__attribute__((noinline)) long ShapesProduceOuter(int i) {
  return ShapesProduceInner(i) * 2; /* (not a tail call) */
}
static long g_produced; /* the producer's own */
/* return_lib: the callback release_lib_produce_post calls. */
void ShapesProduceCallback(int i) {
  g_data[i % kSlots] = i + 1; /* the write */
}

static void* Producer(void* arg) {
  (void)arg;
  for (int i = 0; i < g_rounds; ++i) {
    if (g_return_kind == kReturn) {
      g_produced += ShapesProduceOuter(i);
      atomic_store_explicit(&g_flag, i, memory_order_release);
    } else if (g_return_kind == kReturnLib) {
      release_lib_produce_post(ShapesProduceCallback, i);
    } else {
      Produce(i);
      Post(i);
    }
    AwaitAck(i);
  }
  return NULL;
}

static void* Consumer(void* arg) {
  (void)arg;
  for (int i = 0; i < g_rounds; ++i) {
    Await(i);
    Gap();
    Consume(i);
    Ack(i);
  }
  return NULL;
}

/* join: each round a thread writes its slot and exits; main joins it, waits
 * and reads. */
static void* WriteAndExit(void* arg) {
  Produce((int)(long)arg);
  return NULL;
}

/* nothing: two threads write the same slots in turn, ordered by nothing
 * but time (sleeps between). */
static void* WriteLater(void* arg) {
  (void)arg;
  for (int i = 0; i < g_rounds; ++i) {
    Gap();
    Consume(i);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s KIND ROUNDS [GAP_US]\n", argv[0]);
    return 2;
  }
  g_kind = argv[1];
  g_return_kind = Is("return") ? kReturn : Is("return_lib") ? kReturnLib
                                                             : kNotReturn;
  g_rounds = atoi(argv[2]);
  g_gap_us = argc > 3 ? atol(argv[3]) : 1000;
  if (pipe(g_pipe) != 0 || pipe(g_ack_pipe) != 0) return 1;
  g_event = eventfd(0, 0);
  g_ack_event = eventfd(0, 0);
  if (Is("join")) {
    for (int i = 0; i < g_rounds; ++i) {
      pthread_t t;
      pthread_create(&t, NULL, WriteAndExit, (void*)(long)i);
      pthread_join(t, NULL);
      Gap();
      Consume(i);
    }
  } else if (Is("nothing")) {
    pthread_t t;
    pthread_create(&t, NULL, WriteLater, NULL);
    for (int i = 0; i < g_rounds; ++i) {
      Produce(i);
      /* Busy, with no release (relaxed atomics), for about the gap. */
      const long spins = g_gap_us * 100;
      for (long spin = 0; spin < spins; ++spin)
        atomic_fetch_add_explicit(&g_spins, 1, memory_order_relaxed);
    }
    pthread_join(t, NULL);
  } else {
    pthread_t p, c;
    pthread_create(&p, NULL, Producer, NULL);
    pthread_create(&c, NULL, Consumer, NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
  }
  printf("ROUNDS=%d SUM=%ld\n", g_rounds, g_sum);
  return 0;
}
