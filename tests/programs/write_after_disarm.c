/* A write right after a window's watchpoint was disarmed, before the window
 * finished closing, made deterministic: the watcher asserts exclusive
 * writing of g_var (TRAPSAN_ASSERT_EXCLUSIVE_WRITER) in a loop; the racer
 * waits until a window is armed, then until its disarm begins (trapsan's
 * test hook: the armed cookie is cleared right before the disarm), then
 * sends the watcher SIGUSR1, which it takes on its way back from the disarm
 * system call, still inside the closing window; while the watcher's handler
 * waits, the racer writes g_var. The watchpoint is off by then: the write
 * is no access during the window. (Its value change used to be taken for
 * one: the window read the value again only after the disarm, and reported
 * a race of unknown origin; in the lab guest, where a close can take tens of
 * milliseconds, the other thread's writes of that time showed so.) The
 * signal may also come after the window read its value (its system calls
 * are the watcher's only ways back to user mode): ROUNDS windows, each with
 * such a write.
 *
 * Usage: write_after_disarm after|armed
 *   after  the write as above, in ROUNDS windows: no race of unknown
 *          origin (a signal taken at an interrupt just before the disarm
 *          lets the write trap: a race with both stacks)
 *   armed  the control: the racer writes while the window is armed (the
 *          same window armed before and after): a race with both stacks
 * Prints WATCHER_TID, RACER_TID, SETUP (1: the write happened as the case
 * wants), RACE_REPORTS, UNKNOWN_REPORTS, STAT_*. */
#define TRAPSAN_ENABLE_ANNOTATIONS 1
#include <trapsan/annotations.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"

uint64_t __trapsan_testonly_armed_cookie(const volatile void* addr);

static long g_var;
static int g_after; /* 1: write after the disarm; 0: while armed */
#define ROUNDS 10

static atomic_int g_racer_ready, g_writing, g_wrote, g_setup;
static atomic_int g_sent, g_handled, g_written; /* rounds of the "after" case */
static atomic_int g_reports, g_unknown_reports;
static atomic_int g_racer_tid, g_watcher_tid;
static uint64_t g_deadline_ns; /* no spin outlives it: the program never hangs */

static int before_deadline(void) { return tp_now_ns() < g_deadline_ns; }

static void on_report(const trapsan_report* r, void* data) {
  (void)data;
  atomic_fetch_add(&g_reports, 1);
  if (r->kind == TRAPSAN_REPORT_UNKNOWN_ORIGIN) atomic_fetch_add(&g_unknown_reports, 1);
}

/* The watcher, interrupted inside the closing window: waits for the write. */
static void on_usr1(int sig) {
  (void)sig;
  const int round = atomic_load(&g_sent);
  atomic_store(&g_handled, round);
  while (atomic_load(&g_written) != round && before_deadline()) {
  }
}

__attribute__((noinline)) static void watcher_asserts(void) {
  TRAPSAN_ASSERT_EXCLUSIVE_WRITER(g_var);
}

static void* watcher(void* arg) {
  (void)arg;
  atomic_store(&g_watcher_tid, tp_gettid());
  while (!atomic_load(&g_racer_ready) && before_deadline()) {
  }
  /* Assertions until the racer has written; a racer about to write (it saw
   * a window armed) is waited for before the next one. */
  while (before_deadline()) {
    watcher_asserts();
    while (atomic_load(&g_writing) && !atomic_load(&g_wrote) && before_deadline()) {
    }
    if (atomic_load(&g_wrote)) break;
  }
  return NULL;
}

__attribute__((noinline)) static void racer_writes(long value) {
  *(volatile long*)&g_var = value;
}

/* The control: one write while a window is armed, proven inside it when
 * the same window is armed before and after. */
static void write_while_armed(void) {
  while (before_deadline()) {
    atomic_store(&g_writing, 1);
    const uint64_t cookie = __trapsan_testonly_armed_cookie(&g_var);
    if (cookie == 0) {
      atomic_store(&g_writing, 0);
      continue;
    }
    racer_writes(42);
    atomic_store(&g_setup, __trapsan_testonly_armed_cookie(&g_var) == cookie);
    return;
  }
}

/* ROUNDS writes, each while the watcher is held in its handler right after a
 * window's disarm. */
static void write_after_disarms(void) {
  uint64_t last = 0;
  int round = 0;
  while (round < ROUNDS && before_deadline()) {
    const uint64_t cookie = __trapsan_testonly_armed_cookie(&g_var);
    if (cookie == 0 || cookie == last) continue;
    last = cookie;
    /* The disarm begins: the watcher is in (or about to enter) its system
     * call, and takes the signal on its way back (at the latest at the
     * close's last system call, before its next window is armed). */
    while (__trapsan_testonly_armed_cookie(&g_var) == cookie && before_deadline()) {
    }
    atomic_store(&g_sent, ++round);
    syscall(SYS_tgkill, getpid(), atomic_load(&g_watcher_tid), SIGUSR1);
    while (atomic_load(&g_handled) != round && before_deadline()) {
    }
    racer_writes(round);
    atomic_store(&g_written, round);
  }
  atomic_store(&g_setup, atomic_load(&g_written) == ROUNDS);
}

static void* racer(void* arg) {
  (void)arg;
  atomic_store(&g_racer_tid, tp_gettid());
  atomic_store(&g_racer_ready, 1);
  if (g_after) write_after_disarms();
  else write_while_armed();
  atomic_store(&g_wrote, 1);
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  if (argc != 2 || (strcmp(argv[1], "after") != 0 && strcmp(argv[1], "armed") != 0)) {
    fprintf(stderr, "usage: %s after|armed\n", argv[0]);
    return 2;
  }
  g_after = strcmp(argv[1], "after") == 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  trapsan_set_report_callback(on_report, NULL);
  g_deadline_ns = tp_deadline_ns(5000);
  pthread_t w, r;
  pthread_create(&r, NULL, racer, NULL);
  pthread_create(&w, NULL, watcher, NULL);
  pthread_join(w, NULL);
  pthread_join(r, NULL);
  trapsan_flush(); /* reports late traps */
  printf("WATCHER_TID=%d\n", atomic_load(&g_watcher_tid));
  printf("RACER_TID=%d\n", atomic_load(&g_racer_tid));
  printf("SETUP=%d\n", atomic_load(&g_setup));
  printf("RACE_REPORTS=%d\n", atomic_load(&g_reports));
  printf("UNKNOWN_REPORTS=%d\n", atomic_load(&g_unknown_reports));
  tp_print_stats();
  return 0;
}
