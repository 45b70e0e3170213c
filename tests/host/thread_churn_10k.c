/* 10,000 threads created and joined, at most 16 alive at once, each adding
 * its number to a sum under a lock and to a thread-local; some detached.
 * Output is the same with and without trapsan.
 * Usage: thread_churn_10k [threads] (default 10000). */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static long long g_sum;
static atomic_int g_detached_done;
static __thread long t_local;

static void* work(void* arg) {
  long n = (long)arg;
  t_local += n;
  pthread_mutex_lock(&g_mu);
  g_sum += t_local;
  pthread_mutex_unlock(&g_mu);
  return (void*)(n * 2);
}

static void* detached(void* arg) {
  work(arg);
  atomic_fetch_add(&g_detached_done, 1);
  return NULL;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  long total = argc > 1 ? atol(argv[1]) : 10000;
  enum { kBatch = 16 };
  long joined_sum = 0, created = 0, failed = 0, detached_n = 0;
  for (long i = 0; i < total; i += kBatch) {
    pthread_t t[kBatch];
    int n = 0;
    for (long j = i; j < i + kBatch && j < total; ++j) {
      if (j % 100 == 99) {  /* one in 100 detached */
        pthread_t d;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&d, &a, detached, (void*)j) == 0) {
          ++created;
          ++detached_n;
        } else {
          ++failed;
        }
        pthread_attr_destroy(&a);
        continue;
      }
      if (pthread_create(&t[n], NULL, work, (void*)j) == 0) {
        ++n;
        ++created;
      } else {
        ++failed;
      }
    }
    for (int k = 0; k < n; ++k) {
      void* r;
      pthread_join(t[k], &r);
      joined_sum += (long)r;
    }
  }
  while (atomic_load(&g_detached_done) < detached_n) usleep(1000);
  printf("CREATED=%ld\nFAILED=%ld\nSUM=%lld\nJOINED_SUM=%ld\nDETACHED=%d\n",
         created, failed, g_sum, joined_sum, atomic_load(&g_detached_done));
  return failed == 0 ? 0 : 1;
}
