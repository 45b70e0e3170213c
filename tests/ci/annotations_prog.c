/* The annotations of include/trapsan/annotations.h at work (annotations_test.py).
 *
 * Usage: annotations_prog CASE
 * Two threads: the owner (asserting, or sampling its writes) and the
 * intruder, whose plain accesses go through trapsan_check_read/write (as
 * instrumentation would, so the soft backend checks them against open
 * windows too). Cases that must report stop at the first report (callback)
 * or after ROUNDS assertions; cases that must stay silent run ROUNDS.
 *   writer-vs-write   ASSERT_EXCLUSIVE_WRITER, the intruder writes: report
 *   writer-vs-read    ASSERT_EXCLUSIVE_WRITER, the intruder reads: silent
 *   access-vs-read    ASSERT_EXCLUSIVE_ACCESS, the intruder reads: report
 *   bits-other        ASSERT_EXCLUSIVE_BITS(word, 0xff00), the intruder
 *                     writes byte 0: silent
 *   bits-same         ... the intruder writes byte 1: report
 *   bits-other-bits   ASSERT_EXCLUSIVE_BITS(word, 0x0f00), the intruder
 *                     flips the other bits of byte 1 (0xf000): silent (KCSAN:
 *                     a write that leaves the mask's bits is allowed)
 *   scoped            ASSERT_EXCLUSIVE_WRITER_SCOPED (cleanup at the end of
 *                     the block), the intruder writes: report
 * Scoped assertions watched in the middle of their scope: the owner opens
 * the scope, makes its own accesses to the variable (allowed), then asks the
 * intruder for one access and waits for it before the scope ends; the
 * intruder makes no other access, so only a window open for the whole scope
 * sees it:
 *   scoped-middle        WRITER_SCOPED, the intruder writes: report
 *   scoped-read-middle   WRITER_SCOPED, the intruder reads: silent
 *   scoped-access-middle ACCESS_SCOPED, the intruder reads: report
 *   scoped-bits-other    BITS_SCOPED(word, 0x0f00), the owner changes those
 *                        bits, the intruder flips 0xf000: silent
 *   scoped-bits-same     ... the intruder changes bit 8: report with
 *                        hardware watchpoints (the soft backend cannot judge
 *                        a write in the middle of a masked scope)
 *   scoped-two-writers   WRITER_SCOPED in both threads, the owner's first;
 *                        in the middle of both the owner writes, unchecked:
 *                        report (the intruder's assertion) with hardware
 *                        watchpoints. The write hits both watchpoints and
 *                        the kernel sends one SIGTRAP, which may carry the
 *                        owner's own window's cookie
 *   data-race         the owner samples its writes, the intruder reads
 *                     through TRAPSAN_DATA_RACE: silent
 *   plain-race        the same without TRAPSAN_DATA_RACE: report
 *   ignore-region     the same inside TRAPSAN_IGNORE_BEGIN/END: silent
 * Prints REPORTS=n, ROUNDS=n, MASKED=n (conflicts_masked) and BACKEND. */
#define TRAPSAN_ENABLE_ANNOTATIONS 1
#include <trapsan/annotations.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

#define ROUNDS 400

static long g_counter;
static union {
  uint32_t word;
  unsigned char bytes[4];
} g_bits;

static atomic_int g_reports;
static atomic_int g_done;
static atomic_int g_go, g_went; /* the owner's request, the intruder's answer */
static atomic_int g_release, g_closed; /* scoped-two-writers: end your scope */
static const char *g_case;
static int g_rounds;

static void on_report(const trapsan_report *r, void *user) {
  (void)r;
  (void)user;
  atomic_fetch_add(&g_reports, 1);
}

static int is(const char *name) { return strcmp(g_case, name) == 0; }

static int should_stop(int must_report) {
  return must_report && atomic_load(&g_reports) > 0;
}

__attribute__((noinline)) static void owner_asserts_writer(void) {
  TRAPSAN_ASSERT_EXCLUSIVE_WRITER(g_counter);
}
__attribute__((noinline)) static void owner_asserts_access(void) {
  TRAPSAN_ASSERT_EXCLUSIVE_ACCESS(g_counter);
}
__attribute__((noinline)) static void owner_asserts_bits(uint32_t mask) {
  TRAPSAN_ASSERT_EXCLUSIVE_BITS(g_bits.word, mask);
}
__attribute__((noinline)) static long owner_scoped(long v) {
  TRAPSAN_ASSERT_EXCLUSIVE_WRITER_SCOPED(g_counter);
  TP_BARRIER();
  return v + 1; /* the second assertion runs here, at the block's end */
}
__attribute__((noinline)) static void owner_writes(void) {
  trapsan_check_write(&g_counter, sizeof g_counter);
  g_counter++;
}

__attribute__((noinline)) static void owner_writes_own(void) {
  trapsan_check_write(&g_counter, sizeof g_counter);
  *(volatile long *)&g_counter += 1;
}
__attribute__((noinline)) static void owner_changes_bits(void) {
  trapsan_check_write(&g_bits.bytes[1], 1);
  *(volatile unsigned char *)&g_bits.bytes[1] ^= 0x01;
}

/* Asks the intruder for its one access and waits for it (bounded: a lost
 * answer ends the wait, never the verdict). */
static void ask_intruder(void) {
  atomic_store(&g_went, 0);
  atomic_store(&g_go, 1);
  uint64_t deadline = tp_deadline_ns(5000);
  while (!atomic_load(&g_went) && tp_now_ns() < deadline) sched_yield();
}

__attribute__((noinline)) static void owner_scope_writer(void) {
  TRAPSAN_ASSERT_EXCLUSIVE_WRITER_SCOPED(g_counter);
  owner_writes_own();
  ask_intruder();
}
__attribute__((noinline)) static void owner_scope_access(void) {
  TRAPSAN_ASSERT_EXCLUSIVE_ACCESS_SCOPED(g_counter);
  owner_writes_own();
  ask_intruder();
}
__attribute__((noinline)) static void owner_scope_bits(void) {
  TRAPSAN_ASSERT_EXCLUSIVE_BITS_SCOPED(g_bits.word, 0x0f00u);
  owner_changes_bits();
  ask_intruder();
}

__attribute__((noinline)) static void owner_writes_unchecked(void) {
  *(volatile long *)&g_counter += 1; /* no check: only a trap sees it */
}
/* Waits (bounded) until *flag is set, then clears it. */
static void wait_for(atomic_int *flag) {
  uint64_t deadline = tp_deadline_ns(5000);
  while (!atomic_load(flag) && tp_now_ns() < deadline) sched_yield();
  atomic_store(flag, 0);
}
__attribute__((noinline)) static void owner_scope_beside_intruders(void) {
  TRAPSAN_ASSERT_EXCLUSIVE_WRITER_SCOPED(g_counter);
  atomic_store(&g_closed, 0);
  ask_intruder(); /* it opens a scope of its own on g_counter, and stays */
  owner_writes_unchecked();
  atomic_store(&g_release, 1);
  wait_for(&g_closed);
}

static int is_middle_case(void) { return strncmp(g_case, "scoped-", 7) == 0; }

static void *owner(void *arg) {
  (void)arg;
  int must_report = !(is("writer-vs-read") || is("bits-other") ||
                      is("bits-other-bits") || is("data-race") ||
                      is("ignore-region") || is("scoped-read-middle") ||
                      is("scoped-bits-other"));
  long sink = 0;
  int i;
  for (i = 0; i < ROUNDS && !should_stop(must_report); ++i) {
    if (is("writer-vs-write") || is("writer-vs-read")) owner_asserts_writer();
    else if (is("access-vs-read")) owner_asserts_access();
    else if (is("bits-other") || is("bits-same") || is("bits-other-bits"))
      owner_asserts_bits(is("bits-other-bits") ? 0x0f00u : 0xff00u);
    else if (is("scoped")) sink += owner_scoped(i);
    else if (is("scoped-middle") || is("scoped-read-middle"))
      owner_scope_writer();
    else if (is("scoped-access-middle")) owner_scope_access();
    else if (is("scoped-bits-other") || is("scoped-bits-same"))
      owner_scope_bits();
    else if (is("scoped-two-writers")) owner_scope_beside_intruders();
    else owner_writes();
  }
  g_rounds = i;
  atomic_store(&g_done, 1);
  return (void *)sink;
}

__attribute__((noinline)) static void intruder_writes_counter(void) {
  trapsan_check_write(&g_counter, sizeof g_counter);
  *(volatile long *)&g_counter = 7;
}
__attribute__((noinline)) static long intruder_reads_counter(void) {
  trapsan_check_read(&g_counter, sizeof g_counter);
  return *(volatile long *)&g_counter;
}
__attribute__((noinline)) static void intruder_writes_byte(int b) {
  trapsan_check_write(&g_bits.bytes[b], 1);
  *(volatile unsigned char *)&g_bits.bytes[b] += 1;
}
__attribute__((noinline)) static void intruder_flips_other_bits(void) {
  trapsan_check_write(&g_bits.bytes[1], 1);
  *(volatile unsigned char *)&g_bits.bytes[1] ^= 0xf0;
}
__attribute__((noinline)) static long intruder_reads_data_race(void) {
  return TRAPSAN_DATA_RACE(intruder_reads_counter());
}
__attribute__((noinline)) static long intruder_reads_ignored(void) {
  TRAPSAN_IGNORE_BEGIN();
  long v = intruder_reads_counter();
  TRAPSAN_IGNORE_END();
  return v;
}

__attribute__((noinline)) static void intruder_scope_writer(void) {
  {
    TRAPSAN_ASSERT_EXCLUSIVE_WRITER_SCOPED(g_counter);
    atomic_store(&g_go, 0);
    atomic_store(&g_went, 1);
    wait_for(&g_release);
  }
  atomic_store(&g_closed, 1);
}

static void *intruder(void *arg) {
  (void)arg;
  long sink = 0;
  while (!atomic_load(&g_done)) {
    if (is_middle_case()) {
      /* One access, when asked, in the middle of the owner's scope. */
      if (!atomic_load(&g_go)) {
        sched_yield();
        continue;
      }
      if (is("scoped-two-writers")) {
        intruder_scope_writer();
        continue;
      }
      if (is("scoped-middle")) intruder_writes_counter();
      else if (is("scoped-bits-other")) intruder_flips_other_bits();
      else if (is("scoped-bits-same")) intruder_writes_byte(1);
      else sink += intruder_reads_counter();
      atomic_store(&g_go, 0);
      atomic_store(&g_went, 1);
      continue;
    }
    if (is("writer-vs-write") || is("scoped")) intruder_writes_counter();
    else if (is("bits-other")) intruder_writes_byte(0);
    else if (is("bits-same")) intruder_writes_byte(1);
    else if (is("bits-other-bits")) intruder_flips_other_bits();
    else if (is("data-race")) sink += intruder_reads_data_race();
    else if (is("ignore-region")) sink += intruder_reads_ignored();
    else sink += intruder_reads_counter();
  }
  return (void *)sink;
}

int main(int argc, char **argv) {
  tp_setup_stdout();
  if (argc != 2) {
    fprintf(stderr, "usage: %s CASE\n", argv[0]);
    return 2;
  }
  g_case = argv[1];
  trapsan_set_report_callback(on_report, NULL);
  pthread_t a, b;
  pthread_create(&b, NULL, intruder, NULL);
  pthread_create(&a, NULL, owner, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("BACKEND=%s\n", trapsan_backend());
  printf("ROUNDS=%d\n", g_rounds);
  printf("REPORTS=%d\n", atomic_load(&g_reports));
  trapsan_stats stats;
  trapsan_get_stats(&stats);
  printf("MASKED=%llu\n", (unsigned long long)stats.conflicts_masked);
  return 0;
}
