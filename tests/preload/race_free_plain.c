// Race-free programs built with plain gcc -O2, for LD_PRELOAD sampling:
//   race_free_plain private|mutex|spsc|seqlock|refcount|readonly ITERATIONS
// Each prints one deterministic line. The last three use C11 atomics whose
// relaxed/acquire/release loads and stores are plain moves on x86: a sampled
// one is an instruction that could be a plain access, which trapsan must
// not report as a race.
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 2
static long iterations;
static const char* mode;

// private: each thread its own array.
static long arrays[THREADS][256];
// mutex: one counter under a lock.
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long locked_counter;
// spsc: a single-producer single-consumer ring (acquire/release indices).
#define RING 64
static long ring[RING];
static _Atomic unsigned long head, tail;
static long consumed_sum;
// seqlock: a writer updates two words; readers retry on a torn read.
static _Atomic unsigned seq;
static _Atomic long data_a, data_b;
static long seqlock_bad;
// refcount: a shared object's count, taken and dropped; read relaxed.
static _Atomic long refs = 1;
static _Atomic long max_seen;
// readonly: a table read by every thread, rewritten by one of them between
// phases while the others wait at a barrier (so that lures learn it is
// written and watch it for reads too): read-write data lures must never
// report two reads, nor a read and the rewrite.
#define TABLE 512
#define PHASES 200
static long table[TABLE];
static long table_sums[THREADS];
static pthread_barrier_t phase_barrier;

static void fill_table(long phase) {
  for (long i = 0; i < TABLE; ++i) table[i] = i * 3 + 1 + phase;
}

__attribute__((noipa)) static long table_at(long i) { return table[i]; }

static void* run(void* arg) {
  const int me = (int)(long)arg;
  if (strcmp(mode, "private") == 0) {
    for (long i = 0; i < iterations; ++i) arrays[me][i & 255] += i;
  } else if (strcmp(mode, "mutex") == 0) {
    for (long i = 0; i < iterations; ++i) {
      pthread_mutex_lock(&mu);
      locked_counter++;
      pthread_mutex_unlock(&mu);
    }
  } else if (strcmp(mode, "spsc") == 0) {
    if (me == 0) {  // producer
      for (long i = 1; i <= iterations; ++i) {
        unsigned long h = atomic_load_explicit(&head, memory_order_relaxed);
        while (h - atomic_load_explicit(&tail, memory_order_acquire) == RING) {
        }
        ring[h % RING] = i;
        atomic_store_explicit(&head, h + 1, memory_order_release);
      }
    } else {  // consumer
      for (long i = 1; i <= iterations; ++i) {
        unsigned long t = atomic_load_explicit(&tail, memory_order_relaxed);
        while (atomic_load_explicit(&head, memory_order_acquire) == t) {
        }
        consumed_sum += ring[t % RING];
        atomic_store_explicit(&tail, t + 1, memory_order_release);
      }
    }
  } else if (strcmp(mode, "seqlock") == 0) {
    if (me == 0) {  // writer: a == b always, seen consistently
      for (long i = 0; i < iterations; ++i) {
        unsigned s = atomic_load_explicit(&seq, memory_order_relaxed);
        atomic_store_explicit(&seq, s + 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
        atomic_store_explicit(&data_a, i, memory_order_relaxed);
        atomic_store_explicit(&data_b, i, memory_order_relaxed);
        atomic_store_explicit(&seq, s + 2, memory_order_release);
      }
    } else {
      for (long i = 0; i < iterations; ++i) {
        unsigned s1;
        long a, b;
        do {
          s1 = atomic_load_explicit(&seq, memory_order_acquire);
          a = atomic_load_explicit(&data_a, memory_order_relaxed);
          b = atomic_load_explicit(&data_b, memory_order_relaxed);
          atomic_thread_fence(memory_order_acquire);
        } while ((s1 & 1) || atomic_load_explicit(&seq, memory_order_relaxed) != s1);
        if (a != b) seqlock_bad++;
      }
    }
  } else if (strcmp(mode, "readonly") == 0) {
    long sum = 0;
    for (long phase = 0; phase < PHASES; ++phase) {
      pthread_barrier_wait(&phase_barrier);
      if (me == 0) fill_table(phase);
      pthread_barrier_wait(&phase_barrier);
      for (long i = 0; i < iterations / PHASES; ++i)
        sum += table_at((i * 7 + me) & (TABLE - 1));
    }
    table_sums[me] = sum;
  } else if (strcmp(mode, "refcount") == 0) {
    for (long i = 0; i < iterations; ++i) {
      long now = atomic_fetch_add_explicit(&refs, 1, memory_order_relaxed) + 1;
      long seen = atomic_load_explicit(&max_seen, memory_order_relaxed);
      if (now > seen) atomic_store_explicit(&max_seen, now, memory_order_relaxed);
      atomic_fetch_sub_explicit(&refs, 1, memory_order_acq_rel);
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: race_free_plain MODE ITERATIONS\n");
    return 2;
  }
  mode = argv[1];
  iterations = atol(argv[2]);
  pthread_barrier_init(&phase_barrier, NULL, THREADS);
  pthread_t threads[THREADS];
  for (long i = 0; i < THREADS; ++i) pthread_create(&threads[i], NULL, run, (void*)i);
  for (int i = 0; i < THREADS; ++i) pthread_join(threads[i], NULL);
  if (strcmp(mode, "private") == 0) {
    long sum = 0;
    for (int t = 0; t < THREADS; ++t)
      for (int i = 0; i < 256; ++i) sum += arrays[t][i];
    printf("private sum=%ld\n", sum);
  } else if (strcmp(mode, "mutex") == 0) {
    printf("mutex counter=%ld\n", locked_counter);
  } else if (strcmp(mode, "spsc") == 0) {
    printf("spsc sum=%ld\n", consumed_sum);
  } else if (strcmp(mode, "seqlock") == 0) {
    printf("seqlock torn=%ld\n", seqlock_bad);
  } else if (strcmp(mode, "readonly") == 0) {
    int ok = 1;
    for (long t = 0; t < THREADS; ++t) {
      long sum = 0;
      for (long phase = 0; phase < PHASES; ++phase) {
        fill_table(phase);
        for (long i = 0; i < iterations / PHASES; ++i)
          sum += table[(i * 7 + t) & (TABLE - 1)];
      }
      ok &= sum == table_sums[t];
    }
    printf("readonly ok=%d\n", ok);
  } else if (strcmp(mode, "refcount") == 0) {
    printf("refcount final=%ld\n", atomic_load(&refs));
  } else {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  return 0;
}
