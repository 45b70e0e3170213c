/* Helpers shared by the test programs (header-only, C11 and C++).
 *
 * Conventions: programs print facts as KEY=VALUE lines on stdout (line
 * buffered, so nothing is lost when trapsan _exit()s), which the integration
 * driver parses; trapsan's reports go to stderr. */
#ifndef TRAPSAN_TESTS_PROGRAMS_COMMON_H_
#define TRAPSAN_TESTS_PROGRAMS_COMMON_H_

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef TP_NO_RUNTIME_LINK
#include "trapsan/trapsan.h"
#endif

/* Keeps the compiler from caching a racy variable in a register across loop
 * iterations, without making the access itself anything but a plain mov. */
#define TP_BARRIER() __asm__ __volatile__("" ::: "memory")

static inline uint64_t tp_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* How much slower than a native machine this one is taken to be: the
 * environment's TRAPSAN_TEST_TIME_SCALE (the lab guest sets it, see
 * docs/lab.md), at least 1. Every time limit of a test program scales by it,
 * so a slow machine gives the verdicts of a fast one. */
static inline double tp_time_scale(void) {
  const char* s = getenv("TRAPSAN_TEST_TIME_SCALE");
  double v = s != NULL ? atof(s) : 1.0;
  return v >= 1.0 && v <= 1000.0 ? v : 1.0;
}

/* The monotonic time max_ms (scaled) from now. */
static inline uint64_t tp_deadline_ns(int max_ms) {
  return tp_now_ns() + (uint64_t)((double)max_ms * tp_time_scale() * 1e6);
}

static inline int tp_gettid(void) { return (int)syscall(SYS_gettid); }

static inline void tp_setup_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

#ifndef TP_NO_RUNTIME_LINK
/* STAT_<name>=<value> for the counters the tests look at. */
static inline void tp_print_stats(void) {
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("STAT_checks_slow=%" PRIu64 "\n", s.checks_slow);
  printf("STAT_windows=%" PRIu64 "\n", s.windows);
  printf("STAT_skipped_no_slot=%" PRIu64 "\n", s.skipped_no_slot);
  printf("STAT_skipped_budget=%" PRIu64 "\n", s.skipped_budget);
  printf("STAT_traps=%" PRIu64 "\n", s.traps);
  printf("STAT_traps_late=%" PRIu64 "\n", s.traps_late);
  printf("STAT_traps_self=%" PRIu64 "\n", s.traps_self);
  printf("STAT_traps_foreign=%" PRIu64 "\n", s.traps_foreign);
  printf("STAT_traps_dropped=%" PRIu64 "\n", s.traps_dropped);
  printf("STAT_races_found=%" PRIu64 "\n", s.races_found);
  printf("STAT_races_reported=%" PRIu64 "\n", s.races_reported);
  printf("STAT_races_unknown_origin=%" PRIu64 "\n", s.races_unknown_origin);
  printf("STAT_duplicates=%" PRIu64 "\n", s.duplicates);
  printf("STAT_threads_created=%" PRIu64 "\n", s.threads_created);
  printf("STAT_soft_checks=%" PRIu64 "\n", s.soft_checks);
  printf("STAT_soft_conflicts=%" PRIu64 "\n", s.soft_conflicts);
  printf("STAT_hw_slots=%d\n", s.hw_slots);
  printf("STAT_backend=%d\n", s.backend);
  fflush(stdout);
}
#endif

#endif /* TRAPSAN_TESTS_PROGRAMS_COMMON_H_ */
