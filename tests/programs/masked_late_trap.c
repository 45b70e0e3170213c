/* A TRAPSAN_ASSERT_EXCLUSIVE_BITS window's trap whose handler runs after the
 * window closed, made deterministic: the racer blocks SIGTRAP with the raw
 * rt_sigprocmask system call (bypassing trapsan, which keeps SIGTRAP
 * unblocked for the program's own calls), writes the asserted word while the
 * window is armed (the kernel queues the trap), waits until the assertion
 * has returned, then unblocks. Its handler must still judge the write by the
 * window's mask. (In the lab guest a racer descheduled between its trap and
 * its handler did the same: the handler found the window's mask cleared,
 * took the write for one that changed no masked bit, and the window
 * reported a race of unknown origin.)
 *
 * Usage: masked_late_trap same|other
 *   same   the racer increments byte 1, inside the mask 0xff00: the late
 *          trap is a race, reported with the racer's side
 *   other  the racer increments byte 0, outside the mask: no report
 * Prints WATCHER_TID, RACER_TID, WRITE_WHILE_ARMED, RACE_REPORTS,
 * RACER_REPORTS (reports naming the racer, late), UNKNOWN_REPORTS, MASKED,
 * STAT_*. */
#define TRAPSAN_ENABLE_ANNOTATIONS 1
#include <trapsan/annotations.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"

uint64_t __trapsan_testonly_armed_cookie(const volatile void* addr);

static union {
  uint32_t word;
  unsigned char bytes[4];
} g_bits;
static int g_byte; /* the byte the racer writes */
static atomic_int g_window_over, g_write_while_armed, g_racer_ready;
static atomic_int g_writing, g_wrote; /* the racer saw a window armed; it wrote */
static atomic_int g_reports, g_racer_reports, g_unknown_reports;
static atomic_int g_racer_tid, g_watcher_tid;
static uint64_t g_deadline_ns; /* no spin outlives it: the program never hangs */

static int before_deadline(void) { return tp_now_ns() < g_deadline_ns; }

static void on_report(const trapsan_report* r, void* data) {
  (void)data;
  atomic_fetch_add(&g_reports, 1);
  if (r->kind == TRAPSAN_REPORT_UNKNOWN_ORIGIN) atomic_fetch_add(&g_unknown_reports, 1);
  if (r->racer_tid == atomic_load(&g_racer_tid) && r->late) {
    atomic_fetch_add(&g_racer_reports, 1);
  }
}

static void raw_sigtrap_mask(int how) {
  unsigned long mask = 1UL << (SIGTRAP - 1);
  syscall(SYS_rt_sigprocmask, how, &mask, NULL, sizeof mask);
}

__attribute__((noinline)) static void watcher_asserts_bits(void) {
  TRAPSAN_ASSERT_EXCLUSIVE_BITS(g_bits.word, 0xff00u);
}

static void* watcher(void* arg) {
  (void)arg;
  atomic_store(&g_watcher_tid, tp_gettid());
  while (!atomic_load(&g_racer_ready) && before_deadline()) {
  }
  /* Assertions until the racer has written inside one. After each, a
   * racer about to write (it saw the window armed) is waited for, so that
   * no next window replaces the write's before its handler runs. */
  while (before_deadline()) {
    watcher_asserts_bits();
    while (atomic_load(&g_writing) && !atomic_load(&g_wrote) &&
           before_deadline()) {
    }
    if (atomic_load(&g_wrote)) break;
  }
  atomic_store(&g_window_over, 1);
  return NULL;
}

__attribute__((noinline)) static void racer_writes(void) {
  *(volatile unsigned char*)&g_bits.bytes[g_byte] += 1;
}

static void* racer(void* arg) {
  (void)arg;
  atomic_store(&g_racer_tid, tp_gettid());
  raw_sigtrap_mask(SIG_BLOCK);
  atomic_store(&g_racer_ready, 1);
  /* One write, while a window is armed; proven inside it when the same
   * window is armed before and after. */
  while (before_deadline()) {
    atomic_store(&g_writing, 1);
    uint64_t cookie = __trapsan_testonly_armed_cookie(&g_bits.bytes[g_byte]);
    if (cookie == 0) {
      atomic_store(&g_writing, 0);
      continue;
    }
    racer_writes();
    atomic_store(&g_write_while_armed,
                 __trapsan_testonly_armed_cookie(&g_bits.bytes[g_byte]) == cookie);
    atomic_store(&g_wrote, 1);
    break;
  }
  while (!atomic_load(&g_window_over) && before_deadline()) {
  }
  raw_sigtrap_mask(SIG_UNBLOCK); /* the queued trap is handled now */
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  if (argc != 2 || (strcmp(argv[1], "same") != 0 && strcmp(argv[1], "other") != 0)) {
    fprintf(stderr, "usage: %s same|other\n", argv[0]);
    return 2;
  }
  g_byte = strcmp(argv[1], "same") == 0 ? 1 : 0;
  trapsan_set_report_callback(on_report, NULL);
  g_deadline_ns = tp_deadline_ns(5000);
  pthread_t w, r;
  pthread_create(&r, NULL, racer, NULL);
  pthread_create(&w, NULL, watcher, NULL);
  pthread_join(w, NULL);
  pthread_join(r, NULL);
  trapsan_flush(); /* reports late traps */
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("WATCHER_TID=%d\n", atomic_load(&g_watcher_tid));
  printf("RACER_TID=%d\n", atomic_load(&g_racer_tid));
  printf("WRITE_WHILE_ARMED=%d\n", atomic_load(&g_write_while_armed));
  printf("RACE_REPORTS=%d\n", atomic_load(&g_reports));
  printf("RACER_REPORTS=%d\n", atomic_load(&g_racer_reports));
  printf("UNKNOWN_REPORTS=%d\n", atomic_load(&g_unknown_reports));
  printf("MASKED=%llu\n", (unsigned long long)s.conflicts_masked);
  tp_print_stats();
  return 0;
}
