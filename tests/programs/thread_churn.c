/* Thread churn: a watcher thread keeps a window open on `g_x` almost all the
 * time (trapsan_check_write in a loop, run with a long delay_us), while the
 * main thread creates short-lived threads one after another; each writes
 * g_x with a plain store.
 *
 * A write is "proven inside" when trapsan's test hook reports the same armed
 * window right before and right after it: the watchpoint was armed all along,
 * so the write must have trapped on that thread. A proven-inside write whose
 * thread took no trap is a lost trap.
 *
 * Usage: thread_churn [threads] (default 400).
 * Prints CHURN_THREADS, PROVEN_INSIDE, TRAPPED_INSIDE, LOST, REPORTS,
 * FIRST_RACER_IS_CHURN, STAT_*. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"

/* Test-only entry points of the runtime (runtime/abi/test_hooks.cpp). */
uint64_t __trapsan_testonly_armed_cookie(const volatile void* addr);
uint64_t __trapsan_testonly_thread_traps(void);

static volatile uint64_t g_x __attribute__((aligned(8)));
static atomic_int g_done;
static atomic_long g_watcher_checks;
static atomic_int g_reports, g_first_racer_tid;

struct churn_record {
  uint64_t value;
  int tid;
  int proven_inside;
  int trapped;
  int attempts;
};

static void on_report(const trapsan_report* r, void* data) {
  (void)data;
  if (atomic_fetch_add(&g_reports, 1) == 0) {
    atomic_store(&g_first_racer_tid, r->racer_tid);
    printf("CALLBACK_TITLE=%s\n", r->title);
    fflush(stdout);
  }
}

__attribute__((noinline)) void* churn_watcher(void* arg) {
  (void)arg;
  while (!atomic_load(&g_done)) {
    trapsan_check_write(&g_x, sizeof g_x);
    atomic_fetch_add(&g_watcher_checks, 1);
  }
  return NULL;
}

__attribute__((noinline)) void* churn_writer(void* arg) {
  struct churn_record* r = (struct churn_record*)arg;
  r->tid = tp_gettid();
  uint64_t deadline = tp_now_ns() + 500000000u; /* 0.5 s */
  while (tp_now_ns() < deadline) {
    uint64_t before_cookie = __trapsan_testonly_armed_cookie(&g_x);
    if (before_cookie == 0) continue; /* between windows: wait */
    uint64_t traps_before = __trapsan_testonly_thread_traps();
    g_x = r->value;  /* CHURN_WRITE */
    uint64_t traps_after = __trapsan_testonly_thread_traps();
    uint64_t after_cookie = __trapsan_testonly_armed_cookie(&g_x);
    r->attempts++;
    if (traps_after == traps_before) {
      /* A signal the kernel delivers asynchronously arrives on the next
       * return to user mode at the latest. */
      sched_yield();
      traps_after = __trapsan_testonly_thread_traps();
    }
    if (after_cookie == before_cookie) {
      r->proven_inside = 1;
      r->trapped = traps_after > traps_before;
      break;
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  int n = argc > 1 ? atoi(argv[1]) : 400;
  struct churn_record* recs = calloc((size_t)n, sizeof *recs);
  trapsan_set_report_callback(on_report, NULL);
  pthread_t watcher;
  pthread_create(&watcher, NULL, churn_watcher, NULL);
  while (__trapsan_testonly_armed_cookie(&g_x) == 0) {
  }
  for (int i = 0; i < n; ++i) {
    recs[i].value = (uint64_t)i + 1;
    pthread_t t;
    if (pthread_create(&t, NULL, churn_writer, &recs[i]) != 0) {
      printf("ERROR=pthread_create\n");
      return 2;
    }
    pthread_join(t, NULL);
  }
  atomic_store(&g_done, 1);
  pthread_join(watcher, NULL);
  trapsan_flush();

  int inside = 0, trapped = 0, lost = 0;
  for (int i = 0; i < n; ++i) {
    inside += recs[i].proven_inside;
    trapped += recs[i].proven_inside && recs[i].trapped;
    if (recs[i].proven_inside && !recs[i].trapped) {
      ++lost;
      printf("LOST_TID=%d\n", recs[i].tid);
    }
  }
  int first_racer = atomic_load(&g_first_racer_tid);
  int racer_is_churn = 0;
  for (int i = 0; i < n; ++i) racer_is_churn |= recs[i].tid == first_racer;
  printf("CHURN_THREADS=%d\n", n);
  printf("PROVEN_INSIDE=%d\n", inside);
  printf("TRAPPED_INSIDE=%d\n", trapped);
  printf("LOST=%d\n", lost);
  printf("WATCHER_CHECKS=%ld\n", atomic_load(&g_watcher_checks));
  printf("REPORTS=%d\n", atomic_load(&g_reports));
  printf("FIRST_RACER_IS_CHURN=%d\n", racer_is_churn);
  tp_print_stats();
  free(recs);
  return 0;
}
