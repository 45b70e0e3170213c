/* The two-thread driver shared by the racy test programs: both threads start
 * together (tp_wait_for_both) and loop while tp_keep_going(): until the
 * report callback fired (tp_reports) or the deadline set by
 * tp_start_race_driver(max_ms) passed. */
#ifndef TRAPSAN_TESTS_PROGRAMS_RACE_DRIVER_H_
#define TRAPSAN_TESTS_PROGRAMS_RACE_DRIVER_H_

#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

static atomic_int tp_report_count;
static atomic_int tp_started;
static uint64_t tp_end_ns;

static void tp_count_report(const trapsan_report* r, void* data) {
  (void)r;
  (void)data;
  atomic_fetch_add(&tp_report_count, 1);
}

/* Installs the counting report callback and sets the deadline. */
static inline void tp_start_race_driver(int max_ms) {
  trapsan_set_report_callback(tp_count_report, NULL);
  tp_end_ns = tp_deadline_ns(max_ms);
}

static inline int tp_keep_going(void) {
  return atomic_load_explicit(&tp_report_count, memory_order_relaxed) == 0 &&
         tp_now_ns() < tp_end_ns;
}

static inline void tp_wait_for_both(void) {
  atomic_fetch_add(&tp_started, 1);
  while (atomic_load(&tp_started) < 2) {
  }
}

static inline int tp_reports(void) { return atomic_load(&tp_report_count); }

/* The whole program around a writer and a reader access the including file
 * defines (void racy_writer_access(int), long racy_reader_access(void), and
 * volatile long g_sink): threads racy_writer and racy_reader loop on them
 * until a report or max_ms (argv[1], default 3000). Prints PID, BACKEND,
 * WRITER_TID, READER_TID, REPORTS, the STAT_ lines and DONE=1. */
#define TP_RACY_PAIR_MAIN()                                          \
  __attribute__((noinline)) void* racy_writer(void* arg) {           \
    (void)arg;                                                       \
    printf("WRITER_TID=%d\n", tp_gettid());                          \
    tp_wait_for_both();                                              \
    for (int i = 0; tp_keep_going(); i++) racy_writer_access(i);     \
    return NULL;                                                     \
  }                                                                  \
  __attribute__((noinline)) void* racy_reader(void* arg) {           \
    (void)arg;                                                       \
    printf("READER_TID=%d\n", tp_gettid());                          \
    tp_wait_for_both();                                              \
    long sum = 0;                                                    \
    while (tp_keep_going()) sum += racy_reader_access();             \
    g_sink = sum;                                                    \
    return NULL;                                                     \
  }                                                                  \
  int main(int argc, char** argv) {                                  \
    tp_setup_stdout();                                               \
    int max_ms = argc > 1 ? atoi(argv[1]) : 3000;                    \
    printf("PID=%d\n", (int)getpid());                               \
    printf("BACKEND=%s\n", trapsan_backend());                       \
    tp_start_race_driver(max_ms);                                    \
    pthread_t w, r;                                                  \
    pthread_create(&w, NULL, racy_writer, NULL);                     \
    pthread_create(&r, NULL, racy_reader, NULL);                     \
    pthread_join(w, NULL);                                           \
    pthread_join(r, NULL);                                           \
    printf("REPORTS=%d\n", tp_reports());                            \
    tp_print_stats();                                                \
    printf("DONE=1\n");                                              \
    return 0;                                                        \
  }

#endif /* TRAPSAN_TESTS_PROGRAMS_RACE_DRIVER_H_ */
