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

#include "common.h"

struct record {
  long a, b, c, d, e, f, g, h, i, j, k, l;
};
struct record g_record;
struct record g_templates[2] = {{1, 2, 3}, {4, 5, 6}};
volatile long g_sink;

static atomic_int g_reports;
static atomic_int g_started;
static uint64_t g_end_ns;

static void on_report(const trapsan_report* r, void* data) {
  (void)r;
  (void)data;
  atomic_fetch_add(&g_reports, 1);
}

static int keep_going(void) {
  return atomic_load_explicit(&g_reports, memory_order_relaxed) == 0 &&
         tp_now_ns() < g_end_ns;
}

static void wait_for_both(void) {
  atomic_fetch_add(&g_started, 1);
  while (atomic_load(&g_started) < 2) {
  }
}

__attribute__((noinline)) void racy_writer_access(int v) {
  g_record = g_templates[v & 1]; /* RACE_STRUCT_WRITE */
}

__attribute__((noinline)) long racy_reader_access(void) {
  return g_record.a; /* RACE_STRUCT_READ */
}

__attribute__((noinline)) void* racy_writer(void* arg) {
  (void)arg;
  printf("WRITER_TID=%d\n", tp_gettid());
  wait_for_both();
  for (int i = 0; keep_going(); i++) racy_writer_access(i);
  return NULL;
}

__attribute__((noinline)) void* racy_reader(void* arg) {
  (void)arg;
  printf("READER_TID=%d\n", tp_gettid());
  wait_for_both();
  long sum = 0;
  while (keep_going()) sum += racy_reader_access();
  g_sink = sum;
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  int max_ms = argc > 1 ? atoi(argv[1]) : 3000;
  printf("PID=%d\n", (int)getpid());
  printf("BACKEND=%s\n", trapsan_backend());
  trapsan_set_report_callback(on_report, NULL);
  g_end_ns = tp_now_ns() + (uint64_t)max_ms * 1000000u;
  pthread_t w, r;
  pthread_create(&w, NULL, racy_writer, NULL);
  pthread_create(&r, NULL, racy_reader, NULL);
  pthread_join(w, NULL);
  pthread_join(r, NULL);
  printf("REPORTS=%d\n", atomic_load(&g_reports));
  tp_print_stats();
  printf("DONE=1\n");
  return 0;
}
