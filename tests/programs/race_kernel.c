/* See race_kernel.h. The integration tests find the racy lines by their
 * RACE_* marker comments: keep each marker on the line of its access. */
#include "race_kernel.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"

int g_counter;
volatile long g_reader_sink;

static int g_mode;
static atomic_int g_started;
static atomic_int g_reports;
static atomic_int g_writer_tid, g_reader_tid;
static uint64_t g_min_end_ns, g_max_end_ns;

int tp_parse_race_mode(const char* text) {
  if (strcmp(text, "writer") == 0) return TP_SAMPLE_WRITER;
  if (strcmp(text, "reader") == 0) return TP_SAMPLE_READER;
  if (strcmp(text, "both") == 0) return TP_SAMPLE_BOTH;
  if (strcmp(text, "masked") == 0) return TP_SAMPLE_WRITER_MASKED_READER;
  if (strcmp(text, "attr-masked") == 0) return TP_SAMPLE_WRITER_ATTR_MASKED_READER;
  return -1;
}

static void on_report(const trapsan_report* r, void* data) {
  (void)data;
  int n = atomic_fetch_add(&g_reports, 1) + 1;
  if (n > 1) return;
  printf("CALLBACK_KIND=%d\n", (int)r->kind);
  printf("CALLBACK_TITLE=%s\n", r->title);
  printf("CALLBACK_SUMMARY=%s\n", r->summary);
  printf("CALLBACK_WATCHER_TID=%d\n", r->watcher_tid);
  printf("CALLBACK_RACER_TID=%d\n", r->racer_tid);
  printf("CALLBACK_LATE=%d\n", r->late);
  printf("CALLBACK_ADDRESS_IS_COUNTER=%d\n",
         r->address == (uintptr_t)&g_counter);
  printf("CALLBACK_TEXT_BEGIN\n%sCALLBACK_TEXT_END\n", r->text);
  fflush(stdout);
}

static int keep_going(void) {
  uint64_t now = tp_now_ns();
  if (now >= g_max_end_ns) return 0;
  return atomic_load_explicit(&g_reports, memory_order_relaxed) == 0 ||
         now < g_min_end_ns;
}

static void wait_for_both(void) {
  atomic_fetch_add(&g_started, 1);
  while (atomic_load(&g_started) < 2) {
  }
}

__attribute__((noinline)) void* racy_writer(void* arg) {
  struct tp_race_result* out = (struct tp_race_result*)arg;
  atomic_store(&g_writer_tid, tp_gettid());
  wait_for_both();
  long n = 0;
  while (keep_going()) {
    if (g_mode == TP_SAMPLE_READER) {
      for (int i = 0; i < 1000; ++i) { g_counter++; TP_BARRIER(); }  /* RACE_WRITE_PLAIN */
    } else {
      trapsan_check_write(&g_counter, sizeof g_counter); g_counter++;  /* RACE_WRITE_CHECKED */
    }
    ++n;
  }
  out->writer_iterations = n;
  return NULL;
}

__attribute__((noinline)) void* racy_reader(void* arg) {
  (void)arg;
  atomic_store(&g_reader_tid, tp_gettid());
  if (g_mode == TP_SAMPLE_WRITER_MASKED_READER) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
  }
  wait_for_both();
  long sum = 0;
  while (keep_going()) {
    if (g_mode == TP_SAMPLE_WRITER || g_mode == TP_SAMPLE_WRITER_MASKED_READER ||
        g_mode == TP_SAMPLE_WRITER_ATTR_MASKED_READER) {
      for (int i = 0; i < 1000; ++i) { sum += g_counter; TP_BARRIER(); }  /* RACE_READ_PLAIN */
    } else {
      trapsan_check_read(&g_counter, sizeof g_counter); sum += g_counter;  /* RACE_READ_CHECKED */
    }
  }
  g_reader_sink = sum;
  return NULL;
}

int tp_run_race(int mode, int min_ms, int max_ms, struct tp_race_result* out) {
  struct tp_race_result local;
  if (out == NULL) out = &local;
  memset(out, 0, sizeof *out);
  g_mode = mode;
  atomic_store(&g_started, 0);
  atomic_store(&g_reports, 0);
  trapsan_set_report_callback(on_report, NULL);
  uint64_t start = tp_now_ns();
  g_min_end_ns = start + (uint64_t)min_ms * 1000000u;
  g_max_end_ns = tp_deadline_ns(max_ms);
  pthread_t writer, reader;
  pthread_attr_t reader_attr;
  pthread_attr_init(&reader_attr);
  if (mode == TP_SAMPLE_WRITER_ATTR_MASKED_READER) {
    sigset_t all;
    sigfillset(&all);
    pthread_attr_setsigmask_np(&reader_attr, &all);
  }
  if (pthread_create(&writer, NULL, racy_writer, out) != 0 ||  /* RACE_CREATE_WRITER */
      pthread_create(&reader, &reader_attr, racy_reader, NULL) != 0) {  /* RACE_CREATE_READER */
    printf("ERROR=pthread_create\n");
    exit(2);
  }
  pthread_attr_destroy(&reader_attr);
  pthread_join(writer, NULL);
  pthread_join(reader, NULL);
  out->writer_tid = atomic_load(&g_writer_tid);
  out->reader_tid = atomic_load(&g_reader_tid);
  out->reports = atomic_load(&g_reports);
  printf("WRITER_TID=%d\n", out->writer_tid);
  printf("READER_TID=%d\n", out->reader_tid);
  printf("RACE_REPORTS=%d\n", out->reports);
  fflush(stdout);
  return out->reports;
}
