/* racy_counter: a small program with a data race, for trapsan to find.
 *
 * Two threads share the global counter `hits` with no lock and no atomics:
 * increment_hits() writes it while report_hits() reads it. That is a data
 * race (undefined behavior in C), even if the program seems to work.
 *
 * Each plain access is preceded by a trapsan_check_write() or
 * trapsan_check_read() call, as instrumentation would insert. trapsan samples
 * a few of those calls: it arms a hardware watchpoint on `hits`, stalls the
 * calling thread for a moment, and reports the other thread's access, with
 * both stacks, if one hits the watchpoint meanwhile.
 *
 * Run it with aggressive sampling (this is what `./dev demo` does):
 *   TRAPSAN_OPTIONS=mode=ci build/examples/racy_counter
 * trapsan makes a process that reported a race exit with status 66.
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include <trapsan/trapsan.h>

/* Both threads stop after this long, or after this many iterations. */
#define RUN_SECONDS 2
#define MAX_ITERATIONS 100000000L

static long hits; /* Shared, unprotected: the bug. */

static double seconds_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) +
         (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Counts "hits", like a request handler would. */
static void *increment_hits(void *arg) {
  const struct timespec *start = arg;
  for (long i = 0; i < MAX_ITERATIONS && seconds_since(start) < RUN_SECONDS;
       i++) {
    trapsan_check_write(&hits, sizeof hits);
    hits++; /* Racy write (a read-modify-write, not atomic). */
  }
  return NULL;
}

/* Watches the counter, like a monitoring thread would. */
static void *report_hits(void *arg) {
  const struct timespec *start = arg;
  long last = 0, changes = 0;
  for (long i = 0; i < MAX_ITERATIONS && seconds_since(start) < RUN_SECONDS;
       i++) {
    trapsan_check_read(&hits, sizeof hits);
    long current = hits; /* Racy read. */
    if (current != last) {
      changes++;
      last = current;
    }
  }
  printf("report_hits: saw the counter change %ld times\n", changes);
  return NULL;
}

int main(void) {
  /* Line-buffered, so our lines and trapsan's reports come out in order. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("racy_counter: trapsan backend '%s', racing for %d s\n",
         trapsan_backend(), RUN_SECONDS);

  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  pthread_t writer, reader;
  pthread_create(&writer, NULL, increment_hits, &start);
  pthread_create(&reader, NULL, report_hits, &start);
  pthread_join(writer, NULL);
  pthread_join(reader, NULL);

  printf("racy_counter: hits = %ld\n", hits);
  return 0; /* trapsan exits with 66 instead if it reported a race. */
}
