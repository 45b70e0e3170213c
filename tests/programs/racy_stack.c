/* A race on a thread's stack variable: stack_owner samples writes of its
 * local counter and publishes its address; stack_peeker reads it plainly.
 * Usage: racy_stack [max_ms] (default 3000).
 * Prints OWNER_TID, RACE_REPORTS. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

static _Atomic(int*) g_published;
static atomic_int g_reports, g_owner_tid;
static volatile long g_sink;
static uint64_t g_deadline_ns;

static void on_report(const trapsan_report* r, void* data) {
  (void)r;
  (void)data;
  atomic_fetch_add(&g_reports, 1);
}

static int keep_going(void) {
  return atomic_load(&g_reports) == 0 && tp_now_ns() < g_deadline_ns;
}

__attribute__((noinline)) void* stack_owner(void* arg) {
  (void)arg;
  int local_counter = 0;
  atomic_store(&g_owner_tid, tp_gettid());
  atomic_store(&g_published, &local_counter);
  while (keep_going()) {
    trapsan_check_write(&local_counter, sizeof local_counter); local_counter++;  /* STACK_WRITE */
  }
  /* The peeker must be done with the pointer before this frame goes away. */
  while (atomic_load(&g_published) != NULL) {
  }
  return NULL;
}

__attribute__((noinline)) void* stack_peeker(void* arg) {
  (void)arg;
  int* p;
  while ((p = atomic_load(&g_published)) == NULL) {
  }
  long sum = 0;
  while (keep_going()) {
    for (int i = 0; i < 1000; ++i) { sum += *p; TP_BARRIER(); }  /* STACK_READ */
  }
  g_sink = sum;
  atomic_store(&g_published, NULL);
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  int max_ms = argc > 1 ? atoi(argv[1]) : 3000;
  trapsan_set_report_callback(on_report, NULL);
  g_deadline_ns = tp_deadline_ns(max_ms);
  pthread_t owner, peeker;
  pthread_create(&owner, NULL, stack_owner, NULL);
  pthread_create(&peeker, NULL, stack_peeker, NULL);
  pthread_join(owner, NULL);
  pthread_join(peeker, NULL);
  printf("OWNER_TID=%d\n", atomic_load(&g_owner_tid));
  printf("RACE_REPORTS=%d\n", atomic_load(&g_reports));
  tp_print_stats();
  return 0;
}
