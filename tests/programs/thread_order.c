/* Thread numbers follow creation order, whatever order the threads start
 * running in. main creates first_thread, then second_thread, but makes the
 * second one run first: main and both threads are pinned to one CPU, main
 * runs SCHED_FIFO priority 1, first_thread is created SCHED_OTHER (it cannot
 * run before main sleeps) and second_thread SCHED_FIFO priority 2 (it runs at
 * once). Then all get normal scheduling and all CPUs back, and race
 * (first_thread samples its writes, second_thread reads plainly), so the
 * report shows both thread numbers with their creation stacks.
 * Needs CAP_SYS_NICE (root) for SCHED_FIFO; prints ORDER_SETUP=0 without it.
 * Usage: thread_order [max_ms] (default 3000).
 * Prints ORDER_SETUP, FIRST_TID, SECOND_TID, STARTED_IN_REVERSE,
 * RACE_REPORTS. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "common.h"

static int g_order_var;
static volatile long g_sink;
static atomic_int g_go, g_reports, g_first_tid, g_second_tid, g_start_seq;
static atomic_int g_first_started_at, g_second_started_at;
static uint64_t g_deadline_ns;

static void on_report(const trapsan_report* r, void* data) {
  (void)r;
  (void)data;
  atomic_fetch_add(&g_reports, 1);
}

static void nap(void) {
  struct timespec ts = {0, 200000};
  nanosleep(&ts, NULL);
}

static int keep_going(void) {
  return atomic_load(&g_reports) == 0 && tp_now_ns() < g_deadline_ns;
}

__attribute__((noinline)) void* first_thread(void* arg) {
  (void)arg;
  atomic_store(&g_first_tid, tp_gettid());
  atomic_store(&g_first_started_at, atomic_fetch_add(&g_start_seq, 1) + 1);
  while (!atomic_load(&g_go)) nap();
  while (keep_going()) {
    trapsan_check_write(&g_order_var, sizeof g_order_var); g_order_var++;
  }
  return NULL;
}

__attribute__((noinline)) void* second_thread(void* arg) {
  (void)arg;
  atomic_store(&g_second_tid, tp_gettid());
  atomic_store(&g_second_started_at, atomic_fetch_add(&g_start_seq, 1) + 1);
  while (!atomic_load(&g_go)) nap();
  long sum = 0;
  while (keep_going()) {
    for (int i = 0; i < 1000; ++i) { sum += g_order_var; TP_BARRIER(); }
  }
  g_sink = sum;
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  int max_ms = argc > 1 ? atoi(argv[1]) : 3000;
  trapsan_set_report_callback(on_report, NULL);
  cpu_set_t one, all;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  sched_getaffinity(0, sizeof all, &all);
  pthread_setaffinity_np(pthread_self(), sizeof one, &one);

  struct sched_param fifo1 = {1}, fifo2 = {2}, normal = {0};
  if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo1) != 0) {
    printf("ORDER_SETUP=0\n");
    return 0;
  }
  pthread_attr_t other_attr, fifo_attr;
  pthread_attr_init(&other_attr);
  pthread_attr_setinheritsched(&other_attr, PTHREAD_EXPLICIT_SCHED);
  pthread_attr_setschedpolicy(&other_attr, SCHED_OTHER);
  pthread_attr_setschedparam(&other_attr, &normal);
  pthread_attr_init(&fifo_attr);
  pthread_attr_setinheritsched(&fifo_attr, PTHREAD_EXPLICIT_SCHED);
  pthread_attr_setschedpolicy(&fifo_attr, SCHED_FIFO);
  pthread_attr_setschedparam(&fifo_attr, &fifo2);
  pthread_t first, second;
  int rc1 = pthread_create(&first, &other_attr, first_thread, NULL);  /* ORDER_CREATE_FIRST */
  int rc2 = pthread_create(&second, &fifo_attr, second_thread, NULL);  /* ORDER_CREATE_SECOND */
  pthread_attr_destroy(&other_attr);
  pthread_attr_destroy(&fifo_attr);
  if (rc1 != 0 || rc2 != 0) {
    printf("ERROR=pthread_create %d %d\n", rc1, rc2);
    return 2;
  }
  while (atomic_load(&g_start_seq) < 2) nap();
  printf("ORDER_SETUP=1\n");

  pthread_setschedparam(second, SCHED_OTHER, &normal);
  pthread_setschedparam(pthread_self(), SCHED_OTHER, &normal);
  pthread_setaffinity_np(first, sizeof all, &all);
  pthread_setaffinity_np(second, sizeof all, &all);
  pthread_setaffinity_np(pthread_self(), sizeof all, &all);
  g_deadline_ns = tp_deadline_ns(max_ms);
  atomic_store(&g_go, 1);
  pthread_join(first, NULL);
  pthread_join(second, NULL);
  printf("FIRST_TID=%d\n", atomic_load(&g_first_tid));
  printf("SECOND_TID=%d\n", atomic_load(&g_second_tid));
  printf("STARTED_IN_REVERSE=%d\n",
         atomic_load(&g_second_started_at) < atomic_load(&g_first_started_at));
  printf("RACE_REPORTS=%d\n", atomic_load(&g_reports));
  return 0;
}
