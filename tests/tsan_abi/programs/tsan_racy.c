/* A data race on a plain int between two threads, compiled with
 * -fsanitize=thread (gcc or clang) and linked against libtrapsan: no trapsan
 * call guards the racy accesses, only the compiler's __tsan_* calls.
 *
 * Usage: tsan_racy [max_ms]  (default 3000)
 * Both threads loop until the report callback fires or max_ms pass. Prints
 * WRITER_TID, READER_TID, REPORTS and the STAT_ lines. The tests find the racy
 * lines by their RACE_* marker comments: keep each on its access's line. */
#include <pthread.h>
#include <stdatomic.h>

#include "race_driver.h"

int g_shared;
volatile long g_sink;

__attribute__((noinline)) void racy_writer_access(int v) {
  g_shared = v; /* RACE_WRITE */
}

__attribute__((noinline)) long racy_reader_access(void) {
  return g_shared; /* RACE_READ */
}

TP_RACY_PAIR_MAIN()
