// A read/write race that is rare in time (data lures, docs/preload.md): one
// thread polls a plain int, another increments it now and then; the rest of
// their time is private work on their stacks. Built plainly.
//   race_rw MS WORK   (the writer does WORK private iterations between
//                      increments, the reader WORK / 100 between reads)
// The read is a plain load (what an atomic load compiles to as well); the
// increment an unlocked read-modify-write (addl: no atomic compiles to it).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int shared_count;
static long work_per_bump;
static volatile int stop;

__attribute__((noipa)) int reader_poll(void) { return shared_count; }
__attribute__((noipa)) void writer_bump(void) { shared_count++; }

static void* reader(void* arg) {
  volatile long private_data[64] = {0};  // on the stack: not sampled
  long seen = 0;
  while (!stop) {
    for (long i = 0; i < work_per_bump / 100; ++i) private_data[i & 63] += i;
    seen += reader_poll();
  }
  *(long*)arg = seen + (private_data[0] & 0);
  return NULL;
}

static void* writer(void* arg) {
  volatile long private_data[64] = {0};
  long bumps = 0;
  while (!stop) {
    for (long i = 0; i < work_per_bump; ++i) private_data[i & 63] += i;
    writer_bump();
    bumps++;
  }
  *(long*)arg = bumps + (private_data[0] & 0);
  return NULL;
}

int main(int argc, char** argv) {
  const long ms = argc > 1 ? atol(argv[1]) : 1000;
  work_per_bump = argc > 2 ? atol(argv[2]) : 1000000;
  long seen = 0, bumps = 0;
  pthread_t a, b;
  pthread_create(&a, NULL, reader, &seen);
  pthread_create(&b, NULL, writer, &bumps);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
  stop = 1;
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("increments per ms: %.1f\n", bumps / (double)ms);
  return 0;
}
