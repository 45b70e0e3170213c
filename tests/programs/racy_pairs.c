/* Three distinct races, one after the other: pair_a_writer/pair_a_reader on
 * g_a, then b, then c. Each pair runs until trapsan found a race (its
 * races_found counter grew while only that pair ran) or max_ms passed.
 * Writers sample their writes; readers read plainly.
 * Usage: racy_pairs [max_ms_per_pair] (default 2000).
 * Prints PAIR_a_FOUND.., PAIRS_FOUND, REPORTS (callbacks), STAT_*. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

int g_a, g_b, g_c;
static volatile long g_sink;
static atomic_int g_stop, g_reports;
static uint64_t g_deadline_ns;
static uint64_t g_found_at_start;

static uint64_t races_found(void) {
  trapsan_stats s;
  trapsan_get_stats(&s);
  return s.races_found;
}

static int keep_going(void) {
  return !atomic_load_explicit(&g_stop, memory_order_relaxed) &&
         tp_now_ns() < g_deadline_ns;
}

static void writer_found_one(void) {
  if (races_found() > g_found_at_start) atomic_store(&g_stop, 1);
}

__attribute__((noinline)) void* pair_a_writer(void* p) {
  (void)p;
  while (keep_going()) { trapsan_check_write(&g_a, sizeof g_a); g_a++; writer_found_one(); }
  return NULL;
}
__attribute__((noinline)) void* pair_a_reader(void* p) {
  (void)p;
  long s = 0;
  while (keep_going()) { for (int i = 0; i < 1000; ++i) { s += g_a; TP_BARRIER(); } }
  g_sink = s;
  return NULL;
}
__attribute__((noinline)) void* pair_b_writer(void* p) {
  (void)p;
  while (keep_going()) { trapsan_check_write(&g_b, sizeof g_b); g_b++; writer_found_one(); }
  return NULL;
}
__attribute__((noinline)) void* pair_b_reader(void* p) {
  (void)p;
  long s = 0;
  while (keep_going()) { for (int i = 0; i < 1000; ++i) { s += g_b; TP_BARRIER(); } }
  g_sink = s;
  return NULL;
}
__attribute__((noinline)) void* pair_c_writer(void* p) {
  (void)p;
  while (keep_going()) { trapsan_check_write(&g_c, sizeof g_c); g_c++; writer_found_one(); }
  return NULL;
}
__attribute__((noinline)) void* pair_c_reader(void* p) {
  (void)p;
  long s = 0;
  while (keep_going()) { for (int i = 0; i < 1000; ++i) { s += g_c; TP_BARRIER(); } }
  g_sink = s;
  return NULL;
}

static void on_report(const trapsan_report* r, void* data) {
  (void)r;
  (void)data;
  atomic_fetch_add(&g_reports, 1);
}

static int run_pair(const char* name, void* (*writer)(void*),
                    void* (*reader)(void*), int max_ms) {
  atomic_store(&g_stop, 0);
  g_found_at_start = races_found();
  g_deadline_ns = tp_deadline_ns(max_ms);
  pthread_t w, r;
  pthread_create(&w, NULL, writer, NULL);
  pthread_create(&r, NULL, reader, NULL);
  pthread_join(w, NULL);
  pthread_join(r, NULL);
  trapsan_flush();
  int found = races_found() > g_found_at_start;
  printf("PAIR_%s_FOUND=%d\n", name, found);
  return found;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  int max_ms = argc > 1 ? atoi(argv[1]) : 2000;
  trapsan_set_report_callback(on_report, NULL);
  int found = 0;
  found += run_pair("a", pair_a_writer, pair_a_reader, max_ms);
  found += run_pair("b", pair_b_writer, pair_b_reader, max_ms);
  found += run_pair("c", pair_c_writer, pair_c_reader, max_ms);
  printf("PAIRS_FOUND=%d\n", found);
  printf("REPORTS=%d\n", atomic_load(&g_reports));
  tp_print_stats();
  return 0;
}
