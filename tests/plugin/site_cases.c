/* The runtime reads each sampled access's address out of the registers at
 * an instrumented site (compiler-plugin/TrapsanPass.cpp, runtime/linux/
 * sites.cpp, labels.cpp): one function per way an operand reaches the site
 * (a register, a frame slot, a global's address, a run-time memcpy length, a
 * promoted loop's countdown, a loop's region, both ways of a branch). Each
 * case sets the countdown so that the next check or calling site expires,
 * runs, and prints what the runtime picked against what it must be:
 *   CASE <name> ok=<0|1> addr=... want=... size=... kind=... line=...
 * Built with label sites (the default): run with the hw backend (a label is
 * reached through an execution breakpoint). Built with
 * TRAPSAN_PLUGIN_SITES=call, run with argument "call" (a join's variants
 * are then checked too) and backend=off: only the picking. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <trapsan/compiler_abi.h>

void __trapsan_testonly_last_site_sample(uint64_t out[7]);

/* Calling sites (argument "call") or label sites. */
static int g_call_mode;

long g_long;
long* volatile g_escaped;
long* volatile g_frame;  /* the last non-null g_escaped */
char g_src[64], g_dst[64];

#define NOINLINE __attribute__((noinline))

NOINLINE void escape(long* p) {
  g_escaped = p;
  if (p != 0) g_frame = p;
}

NOINLINE void store_global(long v) {
  g_long = v; /* LINE_STORE_GLOBAL */
}

long volatile g_sink;

NOINLINE void load_pointer(const long* p) {
  g_sink = *p; /* LINE_LOAD_POINTER */
}

NOINLINE long frame_slot(long v, int call_mode) {
  long x;
  escape(&x);
  /* A calling site after escape's own; a label was armed at the entry. */
  if (call_mode) __trapsan_countdown = 1;
  x = v; /* LINE_FRAME_SLOT */
  escape(0);
  return 0;
}

NOINLINE void copy_n(size_t n) { memcpy(g_dst, g_src, n); }

NOINLINE void fill_loop(int* p, int n) {
  for (int i = 0; i < n; ++i) p[i] = i;
}

/* A loop with a call in it: several blocks, a region of its own. */
NOINLINE void bump_all(int* p, int n) {
  for (int i = 0; i < n; ++i) {
    p[i] += 1;
    if (p[i] == 1000) escape(0);
  }
}

/* A loop of several blocks with no call: its check keeps the countdown in
 * a register. */
NOINLINE int scan(int* p, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i) {
    if (p[i] & 1)
      s += p[i];
    else
      p[i] = s;
    if (s > 100000) break;
  }
  return s;
}

/* A loop nest that calls nothing: its countdown is in a register from its
 * entry to its exits, the inner loop's and the outer loop's sites alike
 * (compiler-plugin/Countdown.cpp, register nests). */
NOINLINE int nest(int* p, int rows, int cols) {
  int s = 0;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) s += p[r * cols + c] >> 1;
    p[r * cols] = s & 7;
    if (s < 0) break;
  }
  return s;
}

NOINLINE void join(long* p, int c) {
  if (c) {
    p[0] = 1;
    p[1] = 2;
  } else {
    p[2] = 3;
  }
  p[3] = 4;
}

static int failures;

static void check(const char* name, uintptr_t lo, uintptr_t hi, int is_write,
                  int any_size) {
  uint64_t s[7];
  __trapsan_testonly_last_site_sample(s);
  int ok = s[0] >= lo && s[0] < hi && (is_write < 0 || (int)s[2] == is_write) &&
           (any_size || s[0] + s[1] <= hi);
  if (!ok) ++failures;
  printf("CASE %s ok=%d addr=%#lx want=[%#lx,%#lx) size=%lu kind=%s line=%lu\n",
         name, ok, (unsigned long)s[0], (unsigned long)lo, (unsigned long)hi,
         (unsigned long)s[1], s[2] ? "write" : "read", (unsigned long)s[3]);
}

/* Makes the next site expire at its first access. */
static void expire_next(void) { __trapsan_countdown = 1; }

int main(int argc, char** argv) {
  uint64_t s[7];
  long local = 7;
  long buf[4] = {0, 0, 0, 0};
  int ints[64];
  g_call_mode = argc > 1 && strcmp(argv[1], "call") == 0;

  /* The first expiry of a thread only draws its countdown. */
  expire_next();
  store_global(0);

  expire_next();
  store_global(1);
  check("global", (uintptr_t)&g_long, (uintptr_t)(&g_long + 1), 1, 0);
  __trapsan_testonly_last_site_sample(s);
  printf("LINE_STORE_GLOBAL=%lu\n", (unsigned long)s[3]);

  {
    /* The site has the load through p and the store to g_sink: either. */
    expire_next();
    load_pointer(&local);
    __trapsan_testonly_last_site_sample(s);
    int ok = (s[0] == (uintptr_t)&local && s[2] == 0 && s[1] == 8) ||
             (s[0] == (uintptr_t)&g_sink && s[2] == 1 && s[1] == 8);
    if (!ok) ++failures;
    printf("CASE register ok=%d addr=%#lx local=%p g_sink=%p\n", ok,
           (unsigned long)s[0], (void*)&local, (void*)&g_sink);
  }

  if (!g_call_mode) expire_next();
  frame_slot(3, g_call_mode);
  check("frame_slot", (uintptr_t)g_frame, (uintptr_t)(g_frame + 1), 1, 0);

  expire_next();
  copy_n(40);
  {
    /* The source (read) or the destination (write): either may be picked. */
    uint64_t m[7];
    __trapsan_testonly_last_site_sample(m);
    int ok = (m[0] == (uintptr_t)g_src && m[2] == 0) ||
             (m[0] == (uintptr_t)g_dst && m[2] == 1);
    if (!ok || m[1] != 40) ++failures;
    printf("CASE memcpy ok=%d size=%lu kind=%s\n", ok && m[1] == 40,
           (unsigned long)m[1], m[2] ? "write" : "read");
  }
  __trapsan_testonly_last_site_sample(s);
  printf("MEMCPY_SIZE=%lu\n", (unsigned long)s[1]);

  expire_next();
  fill_loop(ints, 64);
  check("loop", (uintptr_t)ints, (uintptr_t)(ints + 64), 1, 0);

  expire_next();
  bump_all(ints, 64);
  check("loop_region", (uintptr_t)ints, (uintptr_t)(ints + 64), -1, 0);

  expire_next();
  g_sink = scan(ints, 64);
  check("loop_register", (uintptr_t)ints, (uintptr_t)(ints + 64), -1, 0);

  expire_next();
  g_sink = nest(ints, 8, 8);
  check("loop_nest", (uintptr_t)ints, (uintptr_t)(ints + 64), -1, 0);

  if (g_call_mode) {
    for (int c = 0; c < 2; ++c) {
      /* The countdown at k crosses zero at the k-th access of the way taken
       * (c=1 writes p[0], p[1], p[3]; c=0 writes p[2], p[3]), if there is
       * one: every pick must be on that way. */
      for (int k = 1; k <= 4; ++k) {
        uint64_t before[7];
        __trapsan_testonly_last_site_sample(before);
        __trapsan_countdown = k;
        join(buf, c);
        __trapsan_testonly_last_site_sample(s);
        if (s[5] == before[5]) {
          printf("JOIN c=%d k=%d expired=0\n", c, k);
          continue;
        }
        if (s[6] != before[6]) {
          printf("JOIN c=%d k=%d expired=1 phantom=1\n", c, k);
          continue;
        }
        int index = (int)((s[0] - (uintptr_t)buf) / sizeof(long));
        int on_path = c ? (index == 0 || index == 1 || index == 3)
                        : (index == 2 || index == 3);
        if (!on_path) ++failures;
        printf("JOIN c=%d k=%d expired=1 index=%d on_path=%d\n", c, k, index,
               on_path);
      }
    }
  } else {
    /* Labels: the region's check picks one of the three blocks' labels; one
     * on the other way is not reached. What is sampled is on the way taken. */
    for (int c = 0; c < 2; ++c) {
      int picked = 0;
      for (int tries = 0; tries < 200 && picked < 3; ++tries) {
        uint64_t before[7];
        __trapsan_testonly_last_site_sample(before);
        expire_next();
        join(buf, c);
        __trapsan_testonly_last_site_sample(s);
        if (s[4] == before[4]) continue;
        ++picked;
        int index = (int)((s[0] - (uintptr_t)buf) / sizeof(long));
        int on_path = c ? (index == 0 || index == 1 || index == 3)
                        : (index == 2 || index == 3);
        if (!on_path) ++failures;
        printf("BRANCH c=%d index=%d on_path=%d\n", c, index, on_path);
      }
      printf("BRANCH_PICKED_%d=%d\n", c, picked);
    }
  }
  __trapsan_testonly_last_site_sample(s);
  printf("PICKED=%lu SITES=%lu PHANTOMS=%lu\n", (unsigned long)s[4],
         (unsigned long)s[5], (unsigned long)s[6]);
  printf("FAILURES=%d\n", failures);
  return failures != 0;
}
