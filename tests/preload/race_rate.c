// For the detection target (docs/preload.md): a race that occurs about once
// per millisecond in each of two threads during one run, the rest of their
// time spent on private work. Built plainly.
//   race_rate MS WORK   (WORK: private iterations between racy increments)
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

long counter;
static long work_per_race;
static volatile int stop;

__attribute__((noinline)) void racy_bump(void) { counter++; }

static void* worker(void* arg) {
  volatile long private_data[64] = {0};  // on the stack: not sampled
  long races = 0;
  while (!stop) {
    for (long i = 0; i < work_per_race; ++i) private_data[i & 63] += i;
    racy_bump();
    races++;
  }
  long sum = 0;
  for (int i = 0; i < 64; ++i) sum += private_data[i];
  *(long*)arg = races + (sum & 0);
  return NULL;
}

int main(int argc, char** argv) {
  const long ms = argc > 1 ? atol(argv[1]) : 1000;
  work_per_race = argc > 2 ? atol(argv[2]) : 1000000;
  long races[2];
  pthread_t a, b;
  pthread_create(&a, NULL, worker, &races[0]);
  pthread_create(&b, NULL, worker, &races[1]);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
  stop = 1;
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("racy increments per ms: %.1f\n", (races[0] + races[1]) / (double)ms);
  return 0;
}
