/* OpenMP shapes for release-bounded windows: the only ordering between a
 * thread's write and another thread's later read is libomp's (barriers,
 * task dependences), which trapsan does not see: the calls into libomp and
 * the returns of the outlined bodies are release points.
 *
 *   barrier   each thread writes its element, barrier, reads its
 *             neighbour's (race-free)
 *   tasks     a task writes, a dependent task reads later (race-free)
 *   relaxed   as barrier, but the barrier is made of relaxed atomics (racy)
 *
 * usage: omp_shapes KIND ROUNDS. Prints SUM=s. */
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kMaxThreads = 64 };
static long g_cell[kMaxThreads];
static long g_sum;
static atomic_int g_arrived;

/* A barrier of relaxed atomics: orders nothing. */
static void RelaxedBarrier(int threads, int round) {
  atomic_fetch_add_explicit(&g_arrived, 1, memory_order_relaxed);
  while (atomic_load_explicit(&g_arrived, memory_order_relaxed) <
         threads * (round + 1)) {
  }
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s KIND ROUNDS\n", argv[0]);
    return 2;
  }
  const char* kind = argv[1];
  const int rounds = atoi(argv[2]);
  const int relaxed = strcmp(kind, "relaxed") == 0;
  if (strcmp(kind, "tasks") == 0) {
    long x = 0, total = 0;
#pragma omp parallel num_threads(4)
#pragma omp single
    for (int i = 0; i < rounds; ++i) {
#pragma omp task depend(out : x) shared(x)
      x = i + 1; /* OMP_TASK_WRITE */
#pragma omp task depend(in : x) shared(x, total)
      total += x; /* OMP_TASK_READ */
    }
    g_sum = total;
  } else {
#pragma omp parallel num_threads(4)
    {
      const int me = omp_get_thread_num(), n = omp_get_num_threads();
      for (int i = 0; i < rounds; ++i) {
        g_cell[me] = i + me; /* OMP_WRITE */
        if (relaxed) {
          RelaxedBarrier(n, 2 * i);
        } else {
#pragma omp barrier
        }
        long v = g_cell[(me + 1) % n]; /* OMP_READ */
        if (relaxed) {
          RelaxedBarrier(n, 2 * i + 1);
        } else {
#pragma omp barrier
        }
        if (me == 0) g_sum += v;
      }
    }
  }
  printf("SUM=%ld\n", g_sum);
  return 0;
}
