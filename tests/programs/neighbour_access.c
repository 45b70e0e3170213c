/* A sampled 4-byte write next to another thread's accesses of neighbouring
 * bytes (corpus race_free/partitioned's shape with cold_sites=16: one
 * thread's last cell of an int array, 8-aligned, the next thread's chunk
 * starting 4 bytes on, read and written 16 bytes at a time by its vectorized
 * loop). The watcher samples its write of W = g_buf + 8 (4 bytes) again and
 * again (trapsan_check_write: a window per call); the neighbour runs one
 * fixed instruction in a loop (inline assembly, so the access is exactly
 * the one named), on bytes next to W or, in the *_overlap modes, on W too.
 *
 * A trap whose instruction did not touch W..W+4 is no race: in the lab guest
 * (qemu 7.2, TCG) an unaligned access is checked against the debug registers
 * as the aligned accesses of its size around it, so e.g. the 16-byte load at
 * W+4 traps on W's watchpoint.
 *
 * Usage: neighbour_access MODE [windows] [max_ms]
 *   MODE: load4, load8_unaligned, load16_unaligned, store16_unaligned,
 *     rmw8_unaligned, load8_base_written, strlen_overread (libc's strlen
 *     of the string before W, whose vector load reads W too: only a possible
 *     race) (disjoint from W: never a race);
 *     load8_overlap, load16_overlap, store4_overlap,
 *     load8_base_written_overlap (touch W: a race)
 *   windows (default 60): the watcher's samples; max_ms (default 20000,
 *     scaled) bounds the run. An *_overlap mode stops at its first race.
 * Prints MODE, WINDOWS (samples taken), NEIGHBOUR_ACCESSES, DONE=1, STAT_*. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"

static _Alignas(64) unsigned char g_buf[64];
#define W (g_buf + 8)

static atomic_int g_stop, g_neighbour_running;
static int g_stop_at_race;
static long g_accesses;

typedef void (*access_fn)(unsigned char* w);

/* Each function makes exactly one access, named by the mode (a load's
 * destination is never its address register, "=&r", but in
 * load8_base_written). */
__attribute__((noinline)) static void load4(unsigned char* w) {
  unsigned v;
  __asm__ __volatile__("movl 4(%1), %0" : "=&r"(v) : "r"(w) : "memory");
}
__attribute__((noinline)) static void load8_unaligned(unsigned char* w) {
  unsigned long v;
  __asm__ __volatile__("movq 4(%1), %0" : "=&r"(v) : "r"(w) : "memory");
}
__attribute__((noinline)) static void load16_unaligned(unsigned char* w) {
  __asm__ __volatile__("movdqu 4(%0), %%xmm0" : : "r"(w) : "xmm0", "memory");
}
__attribute__((noinline)) static void store16_unaligned(unsigned char* w) {
  __asm__ __volatile__("pxor %%xmm0, %%xmm0\n\tmovdqu %%xmm0, 4(%0)"
                       : : "r"(w) : "xmm0", "memory");
}
__attribute__((noinline)) static void rmw8_unaligned(unsigned char* w) {
  __asm__ __volatile__("addq $1, 4(%0)" : : "r"(w) : "memory", "cc");
}
/* A load into its own base register: the registers after the trap do not
 * give the address it read. */
__attribute__((noinline)) static void load8_base_written(unsigned char* w) {
  unsigned char* p = w;
  __asm__ __volatile__("movq 4(%0), %0" : "+r"(p) : : "memory");
}
__attribute__((noinline)) static void load8_base_written_overlap(
    unsigned char* w) {
  unsigned char* p = w;
  __asm__ __volatile__("movq -4(%0), %0" : "+r"(p) : : "memory");
}
__attribute__((noinline)) static void load8_overlap(unsigned char* w) {
  unsigned long v;
  __asm__ __volatile__("movq -4(%1), %0" : "=&r"(v) : "r"(w) : "memory");
}
__attribute__((noinline)) static void load16_overlap(unsigned char* w) {
  __asm__ __volatile__("movdqu -12(%0), %%xmm0" : : "r"(w) : "xmm0", "memory");
}
/* libc's strlen of the string in the 8 bytes before W ("abcdefg"): its
 * vector load of the aligned block reads W too, past the string's end. */
static size_t (*volatile g_strlen)(const char*) = strlen;
__attribute__((noinline)) static void strlen_overread(unsigned char* w) {
  if (g_strlen((const char*)w - 8) != 7) abort();
}
__attribute__((noinline)) static void store4_overlap(unsigned char* w) {
  __asm__ __volatile__("movl $7, (%0)" : : "r"(w) : "memory");
}

static const struct {
  const char* name;
  access_fn fn;
  int overlaps;
} kModes[] = {
    {"load4", load4, 0},
    {"load8_unaligned", load8_unaligned, 0},
    {"load16_unaligned", load16_unaligned, 0},
    {"store16_unaligned", store16_unaligned, 0},
    {"rmw8_unaligned", rmw8_unaligned, 0},
    {"load8_base_written", load8_base_written, 0},
    {"strlen_overread", strlen_overread, 0},
    {"load8_overlap", load8_overlap, 1},
    {"load8_base_written_overlap", load8_base_written_overlap, 1},
    {"load16_overlap", load16_overlap, 1},
    {"store4_overlap", store4_overlap, 1},
};

static access_fn g_fn;

static void* neighbour(void* arg) {
  (void)arg;
  long n = 0;
  atomic_store(&g_neighbour_running, 1);
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    for (int i = 0; i < 1000; ++i) g_fn(W);
    n += 1000;
  }
  g_accesses = n;
  return NULL;
}

static uint64_t races_found(void) {
  trapsan_stats s;
  trapsan_get_stats(&s);
  return s.races_found;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  if (argc < 2) {
    fprintf(stderr, "usage: neighbour_access MODE [windows] [max_ms]\n");
    return 2;
  }
  int found_mode = 0;
  for (size_t i = 0; i < sizeof kModes / sizeof kModes[0]; ++i) {
    if (strcmp(argv[1], kModes[i].name) == 0) {
      g_fn = kModes[i].fn;
      g_stop_at_race = kModes[i].overlaps;
      found_mode = 1;
    }
  }
  if (!found_mode) {
    fprintf(stderr, "neighbour_access: unknown mode '%s'\n", argv[1]);
    return 2;
  }
  const long windows = argc > 2 ? atol(argv[2]) : 60;
  const uint64_t deadline = tp_deadline_ns(argc > 3 ? atoi(argv[3]) : 20000);
  memcpy(g_buf, "abcdefg", 8);  /* strlen_overread's string */
  pthread_t t;
  pthread_create(&t, NULL, neighbour, NULL);
  while (!atomic_load(&g_neighbour_running)) TP_BARRIER();
  long taken = 0;
  volatile unsigned* watched = (volatile unsigned*)W;
  while (taken < windows && tp_now_ns() < deadline) {
    trapsan_check_write(watched, 4);  /* the window: W..W+4 */
    *watched += 1;
    ++taken;
    if (g_stop_at_race && races_found() > 0) break;
  }
  atomic_store(&g_stop, 1);
  pthread_join(t, NULL);
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("MODE=%s\n", argv[1]);
  printf("WINDOWS=%ld\n", taken);
  printf("NEIGHBOUR_ACCESSES=%ld\n", g_accesses);
  tp_print_stats();
  printf("STAT_traps_stale=%" PRIu64 "\n", s.traps_stale);
  printf("STAT_races_possible=%" PRIu64 "\n", s.races_possible);
  printf("DONE=1\n");
  return 0;
}
