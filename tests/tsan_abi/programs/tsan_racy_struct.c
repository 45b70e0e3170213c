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

__attribute__((noinline)) void* racy_writer(void* arg) {
  (void)arg;
  printf("WRITER_TID=%d\n", tp_gettid());
  tp_wait_for_both();
  for (int i = 0; tp_keep_going(); i++) racy_writer_access(i);
  return NULL;
}

__attribute__((noinline)) void* racy_reader(void* arg) {
  (void)arg;
  printf("READER_TID=%d\n", tp_gettid());
  tp_wait_for_both();
  long sum = 0;
  while (tp_keep_going()) sum += racy_reader_access();
  g_sink = sum;
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  int max_ms = argc > 1 ? atoi(argv[1]) : 3000;
  printf("PID=%d\n", (int)getpid());
  printf("BACKEND=%s\n", trapsan_backend());
  tp_start_race_driver(max_ms);
  pthread_t w, r;
  pthread_create(&w, NULL, racy_writer, NULL);
  pthread_create(&r, NULL, racy_reader, NULL);
  pthread_join(w, NULL);
  pthread_join(r, NULL);
  printf("REPORTS=%d\n", tp_reports());
  tp_print_stats();
  printf("DONE=1\n");
  return 0;
}
