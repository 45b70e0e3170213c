/* A short program, as a CI test often is: two threads each walk their own
 * part of a global array (race-free) for a few milliseconds, built with
 * trapsan-cc and run with mode=ci and the default overhead budget. Its
 * sampled accesses must open windows from the start: start-up work (the
 * self-tests of watchpoints and labels, however they end) is not charged to
 * the program's budget (issue 10, defect 7: where the hardware self-test
 * failed, ~0.5 s was charged before the first window, and programs shorter
 * than about a second were never sampled). Prints SUM and DONE=1; the test reads the
 * counters from print_stats. Usage: short_program [iterations per thread]. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static long g_cells[2][256];
static long g_iterations = 10000;

/* A function of its own: its accesses are sampled through a label site. */
__attribute__((noinline)) static void bump(long* mine, long i) {
  mine[(i * 7) & 255] += i;
}

static void* walk(void* arg) {
  long* mine = arg;
  for (long i = 0; i < g_iterations; i++) bump(mine, i);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc > 1) g_iterations = atol(argv[1]);
  pthread_t threads[2];
  for (int t = 0; t < 2; t++) pthread_create(&threads[t], NULL, walk, g_cells[t]);
  for (int t = 0; t < 2; t++) pthread_join(threads[t], NULL);
  long sum = 0;
  for (int t = 0; t < 2; t++)
    for (int i = 0; i < 256; i++) sum += g_cells[t][i];
  printf("SUM=%ld\nDONE=1\n", sum);
  return 0;
}
