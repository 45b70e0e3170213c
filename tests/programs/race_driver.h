/* The two-thread driver shared by the racy test programs: both threads start
 * together (tp_wait_for_both) and loop while tp_keep_going(): until the
 * report callback fired (tp_reports) or the deadline set by
 * tp_start_race_driver(max_ms) passed. */
#ifndef TRAPSAN_TESTS_PROGRAMS_RACE_DRIVER_H_
#define TRAPSAN_TESTS_PROGRAMS_RACE_DRIVER_H_

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
  tp_end_ns = tp_now_ns() + (uint64_t)max_ms * 1000000u;
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

#endif /* TRAPSAN_TESTS_PROGRAMS_RACE_DRIVER_H_ */
