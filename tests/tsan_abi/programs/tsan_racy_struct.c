/* A data race on a struct copied whole (gcc: __tsan_write_range; clang:
 * sized writes) and read field by field, compiled with
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

struct record {
  long a, b, c, d, e, f, g, h, i, j, k, l;
};
struct record g_record;
struct record g_templates[2] = {{1, 2, 3}, {4, 5, 6}};
volatile long g_sink;

__attribute__((noinline)) void racy_writer_access(int v) {
  g_record = g_templates[v & 1]; /* RACE_STRUCT_WRITE */
}

__attribute__((noinline)) long racy_reader_access(void) {
  return g_record.a; /* RACE_STRUCT_READ */
}

TP_RACY_PAIR_MAIN()
