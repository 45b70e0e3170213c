/* A trap delivered after its window closed ("late"), made deterministic: the
 * racer blocks SIGTRAP with the raw rt_sigprocmask system call (bypassing
 * trapsan, which keeps SIGTRAP unblocked for the program's own calls), reads
 * the watched variable while the window is armed (the kernel queues the
 * trap), waits until the window is over, then unblocks: the handler runs
 * late, and trapsan must still report the race, marked late.
 * Prints RACER_TID, WATCHER_TID, READ_WHILE_ARMED, CALLBACK_LATE,
 * CALLBACK_TITLE, RACE_REPORTS, STAT_*. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "common.h"

uint64_t __trapsan_testonly_armed_cookie(const volatile void* addr);

static int g_late_var;
static volatile int g_sink;
static atomic_int g_window_over, g_reports, g_read_while_armed, g_reader_ready;
static uint64_t g_deadline_ns; /* no spin outlives it: the program never hangs */

static int before_deadline(void) { return tp_now_ns() < g_deadline_ns; }
static atomic_int g_racer_tid, g_watcher_tid;

static void on_report(const trapsan_report* r, void* data) {
  (void)data;
  if (atomic_fetch_add(&g_reports, 1) == 0) {
    printf("CALLBACK_TITLE=%s\n", r->title);
    printf("CALLBACK_LATE=%d\n", r->late);
    printf("CALLBACK_RACER_TID=%d\n", r->racer_tid);
    fflush(stdout);
  }
}

static void raw_sigtrap_mask(int how) {
  unsigned long mask = 1UL << (SIGTRAP - 1);
  syscall(SYS_rt_sigprocmask, how, &mask, NULL, sizeof mask);
}

__attribute__((noinline)) void* late_watcher(void* arg) {
  (void)arg;
  atomic_store(&g_watcher_tid, tp_gettid());
  while (!atomic_load(&g_reader_ready) && before_deadline()) {
  }
  /* Windows until the reader has read inside one (it may be descheduled
   * through a whole window on a busy machine); once a window returns after
   * that read, the read's window is closed. */
  while (before_deadline()) {
    trapsan_check_write(&g_late_var, sizeof g_late_var); g_late_var = 1;  /* LATE_WATCH */
    if (atomic_load(&g_read_while_armed)) break;
  }
  atomic_store(&g_window_over, 1);
  return NULL;
}

__attribute__((noinline)) void* late_reader(void* arg) {
  (void)arg;
  atomic_store(&g_racer_tid, tp_gettid());
  raw_sigtrap_mask(SIG_BLOCK);
  atomic_store(&g_reader_ready, 1);
  while (before_deadline()) {
    uint64_t cookie = __trapsan_testonly_armed_cookie(&g_late_var);
    if (cookie == 0) continue;
    g_sink = g_late_var;  /* LATE_READ */
    if (__trapsan_testonly_armed_cookie(&g_late_var) == cookie) {
      atomic_store(&g_read_while_armed, 1);
      break;
    }
  }
  while (!atomic_load(&g_window_over) && before_deadline()) {
  }
  raw_sigtrap_mask(SIG_UNBLOCK); /* the queued trap is handled now */
  return NULL;
}

int main(void) {
  tp_setup_stdout();
  trapsan_set_report_callback(on_report, NULL);
  g_deadline_ns = tp_now_ns() + 5000000000u;
  pthread_t w, r;
  pthread_create(&r, NULL, late_reader, NULL);
  pthread_create(&w, NULL, late_watcher, NULL);
  pthread_join(w, NULL);
  pthread_join(r, NULL);
  trapsan_flush(); /* reports late traps */
  printf("WATCHER_TID=%d\n", atomic_load(&g_watcher_tid));
  printf("RACER_TID=%d\n", atomic_load(&g_racer_tid));
  printf("READ_WHILE_ARMED=%d\n", atomic_load(&g_read_while_armed));
  printf("RACE_REPORTS=%d\n", atomic_load(&g_reports));
  tp_print_stats();
  return 0;
}
