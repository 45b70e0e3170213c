/* A race at unknown origin: unknown_watcher samples reads of g_buf while
 * another thread makes the kernel write g_buf (read() from a pipe into it).
 * Kernel accesses do not trap user watchpoints, so the value changes with no
 * trap: trapsan must report a race at unknown origin.
 * Usage: unknown_origin [max_ms] (default 3000).
 * Prints CALLBACK_KIND, CALLBACK_TITLE, CALLBACK_RACER_TID, RACE_REPORTS. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

static uint64_t g_buf __attribute__((aligned(8)));
static volatile uint64_t g_sink;
static int g_pipe[2];
static atomic_int g_reports;
static uint64_t g_deadline_ns;

static void on_report(const trapsan_report* r, void* data) {
  (void)data;
  if (atomic_fetch_add(&g_reports, 1) == 0) {
    printf("CALLBACK_KIND=%d\n", (int)r->kind);
    printf("CALLBACK_TITLE=%s\n", r->title);
    printf("CALLBACK_SUMMARY=%s\n", r->summary);
    printf("CALLBACK_RACER_TID=%d\n", r->racer_tid);
    fflush(stdout);
  }
}

static int keep_going(void) {
  return atomic_load(&g_reports) == 0 && tp_now_ns() < g_deadline_ns;
}

__attribute__((noinline)) void* unknown_watcher(void* arg) {
  (void)arg;
  uint64_t sum = 0;
  while (keep_going()) {
    trapsan_check_read(&g_buf, sizeof g_buf); sum += g_buf;  /* UNKNOWN_WATCH */
  }
  g_sink = sum;
  return NULL;
}

__attribute__((noinline)) void* kernel_writer(void* arg) {
  (void)arg;
  uint64_t v = 0;
  while (keep_going()) {
    ++v;
    if (write(g_pipe[1], &v, sizeof v) != sizeof v) break;
    if (read(g_pipe[0], &g_buf, sizeof g_buf) != sizeof g_buf) break;
  }
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  int max_ms = argc > 1 ? atoi(argv[1]) : 3000;
  if (pipe(g_pipe) != 0) return 2;
  trapsan_set_report_callback(on_report, NULL);
  g_deadline_ns = tp_deadline_ns(max_ms);
  pthread_t w, k;
  pthread_create(&w, NULL, unknown_watcher, NULL);
  pthread_create(&k, NULL, kernel_writer, NULL);
  pthread_join(w, NULL);
  pthread_join(k, NULL);
  printf("RACE_REPORTS=%d\n", atomic_load(&g_reports));
  tp_print_stats();
  return 0;
}
