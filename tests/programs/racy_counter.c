/* Two threads race on a global counter (see race_kernel.c).
 *
 * Usage: racy_counter [writer|reader|both|masked|attr-masked] [max_ms]
 *   writer (default): racy_writer samples its writes, racy_reader's plain
 *                     reads are caught by the watchpoint
 *   reader:           racy_reader samples its reads, racy_writer's plain
 *                     writes are caught
 *   both:             both sides call the checks
 *   masked:           as writer, but racy_reader blocks all signals first
 *   attr-masked:      as writer, but racy_reader starts with all signals
 *                     blocked (pthread_attr_setsigmask_np)
 * Stops at the first report (report callback) or after max_ms (default 3000).
 * Prints DONE=1 when main returns normally. */
#include <string.h>

#include "common.h"
#include "race_kernel.h"

int main(int argc, char** argv) {
  tp_setup_stdout();
  int mode = argc > 1 ? tp_parse_race_mode(argv[1]) : TP_SAMPLE_WRITER;
  int max_ms = argc > 2 ? atoi(argv[2]) : 3000;
  if (mode < 0 || max_ms <= 0) {
    fprintf(stderr, "usage: %s [writer|reader|both|masked|attr-masked] [max_ms]\n", argv[0]);
    return 2;
  }
  printf("PID=%d\n", (int)getpid());
  printf("BACKEND=%s\n", trapsan_backend());
  tp_run_race(mode, 0, max_ms, NULL);
  tp_print_stats();
  printf("DONE=1\n");
  return 0;
}
