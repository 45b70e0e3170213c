/* A racy pair of threads shared by several test programs: racy_writer
 * increments the global g_counter while racy_reader reads it. Which side calls
 * the trapsan checks depends on the mode; the other side's accesses are plain
 * and can only be caught by a hardware watchpoint trap. */
#ifndef TRAPSAN_TESTS_PROGRAMS_RACE_KERNEL_H_
#define TRAPSAN_TESTS_PROGRAMS_RACE_KERNEL_H_

#ifdef __cplusplus
extern "C" {
#endif

enum tp_race_mode {
  TP_SAMPLE_WRITER = 0, /* writer checks its writes; reader reads plainly */
  TP_SAMPLE_READER = 1, /* reader checks its reads; writer writes plainly */
  TP_SAMPLE_BOTH = 2,   /* both sides call the checks */
  /* As TP_SAMPLE_WRITER, but the reader thread first blocks every signal
   * (pthread_sigmask), as worker threads of many programs do. */
  TP_SAMPLE_WRITER_MASKED_READER = 3,
  /* As TP_SAMPLE_WRITER, but the reader thread starts with every signal
   * blocked (pthread_attr_setsigmask_np). */
  TP_SAMPLE_WRITER_ATTR_MASKED_READER = 4,
};

extern int g_counter;

struct tp_race_result {
  int writer_tid, reader_tid;
  int reports; /* report callbacks received */
  long writer_iterations;
};

/* Parses "writer", "reader", "both", "masked" or "attr-masked"; -1 if
 * none. */
int tp_parse_race_mode(const char* text);

/* Installs a report callback (printing CALLBACK_* lines for the first
 * report, counting the others), then runs racy_writer and racy_reader in two
 * new threads (created in that order) until a report arrived and at least
 * `min_ms` passed, or `max_ms` passed. Prints WRITER_TID, READER_TID and
 * RACE_REPORTS. Returns the number of reports. */
int tp_run_race(int mode, int min_ms, int max_ms, struct tp_race_result* out);

#ifdef __cplusplus
}
#endif

#endif /* TRAPSAN_TESTS_PROGRAMS_RACE_KERNEL_H_ */
