// order_tls_join: the main thread's thread_local counter, whose address it
// hands to a worker: main writes it before pthread_create (a release), the
// worker adds to it, main reads and writes it after pthread_join (an
// acquire of the worker's end). Ordered every time: the plugin samples the
// counter (its address escapes) and the join keeps main's windows on its
// own TLS, but every pair of accesses has a release and an acquire between.
// corpus: kind=order_tls_join issue=14 shape=far_apart
#include <pthread.h>

#include "corpus.h"

static void* Worker(void* arg) {
  long* counter = (long*)arg;
  for (int i = 0; i < 1000; ++i) *counter += i;
  return NULL;
}

int main(void) {
  static __thread long counter;
  for (int round = 0; round < 50; ++round) {
    counter = round;
    pthread_t t;
    pthread_create(&t, NULL, Worker, &counter);
    pthread_join(t, NULL);
    counter += 1;
  }
  printf("counter=%ld\n", counter);
  return 0;
}
