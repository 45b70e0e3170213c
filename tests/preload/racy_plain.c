// A data race in a program built with plain gcc -O2 (no trapsan, no
// sanitizer): two threads increment one counter without a lock. bump() is
// not inlined, so the increment is one unlocked read-modify-write
// (addq $1, counter(%rip)): an instruction no C++ atomic compiles to.
//   racy_plain MS   runs both threads for MS milliseconds
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

long counter;
static volatile int stop;

__attribute__((noinline)) void bump(void) { counter++; }

static void* worker(void* arg) {
  (void)arg;
  while (!stop) {
    for (int i = 0; i < 1000; ++i) bump();
  }
  return NULL;
}

int main(int argc, char** argv) {
  const long ms = argc > 1 ? atol(argv[1]) : 1000;
  pthread_t a, b;
  pthread_create(&a, NULL, worker, NULL);
  pthread_create(&b, NULL, worker, NULL);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
  stop = 1;
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("done\n");
  return 0;
}
