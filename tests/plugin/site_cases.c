/* The runtime reads each sampled access's address out of the registers an
 * instrumented site saved (compiler-plugin/TrapsanPass.cpp, runtime/linux/
 * sites.cpp): one function per way an operand reaches the site (a register,
 * a frame slot, a global's address, a run-time memcpy length, a promoted
 * loop's countdown, a join's variants). Each case sets the countdown so that
 * its site expires, runs, and prints what the runtime picked against what it
 * must be:
 *   CASE <name> ok=<0|1> addr=... want=... size=... kind=... line=...
 * Run with TRAPSAN_OPTIONS=backend=off (no windows: only the picking). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <trapsan/compiler_abi.h>

void __trapsan_testonly_last_site_sample(uint64_t out[6]);

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

NOINLINE long frame_slot(long v) {
  long x;
  escape(&x);
  __trapsan_countdown = 1; /* (escape's own site has run) */
  x = v; /* LINE_FRAME_SLOT */
  escape(0);
  return 0;
}

NOINLINE void copy_n(size_t n) { memcpy(g_dst, g_src, n); }

NOINLINE void fill_loop(int* p, int n) {
  for (int i = 0; i < n; ++i) p[i] = i;
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
  uint64_t s[6];
  __trapsan_testonly_last_site_sample(s);
  int ok = s[0] >= lo && s[0] < hi && (int)s[2] == is_write &&
           (any_size || s[0] + s[1] <= hi);
  if (!ok) ++failures;
  printf("CASE %s ok=%d addr=%#lx want=[%#lx,%#lx) size=%lu kind=%s line=%lu\n",
         name, ok, (unsigned long)s[0], (unsigned long)lo, (unsigned long)hi,
         (unsigned long)s[1], s[2] ? "write" : "read", (unsigned long)s[3]);
}

/* Makes the next site expire at its first access. */
static void expire_next(void) { __trapsan_countdown = 1; }

int main(void) {
  uint64_t s[6];
  long local = 7;
  long buf[4] = {0, 0, 0, 0};
  int ints[64];

  /* The first expiry of a thread only draws its countdown. */
  expire_next();
  store_global(0);

  expire_next();
  store_global(1);
  check("global", (uintptr_t)&g_long, (uintptr_t)(&g_long + 1), 1, 0);
  __trapsan_testonly_last_site_sample(s);
  printf("LINE_STORE_GLOBAL=%lu\n", (unsigned long)s[3]);

  {
    /* The site also has the store to g_sink: 1 picks the load (the first). */
    __trapsan_countdown = 1;
    load_pointer(&local);
    check("register", (uintptr_t)&local, (uintptr_t)(&local + 1), 0, 0);
  }

  frame_slot(3);
  check("frame_slot", (uintptr_t)g_frame, (uintptr_t)(g_frame + 1), 1, 0);

  expire_next();
  copy_n(40);
  {
    /* The source (read) or the destination (write): either may be picked. */
    uint64_t m[6];
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

  for (int c = 0; c < 2; ++c) {
    /* The countdown at k crosses zero at the k-th access of the way taken
     * (c=1 writes p[0], p[1], p[3]; c=0 writes p[2], p[3]), if there is one:
     * every pick must be on that way. */
    for (int k = 1; k <= 4; ++k) {
      uint64_t before[6];
      __trapsan_testonly_last_site_sample(before);
      __trapsan_countdown = k;
      join(buf, c);
      __trapsan_testonly_last_site_sample(s);
      if (s[4] == before[4]) {
        printf("JOIN c=%d k=%d expired=0\n", c, k);
        continue;
      }
      if (s[5] != before[5]) {
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
  __trapsan_testonly_last_site_sample(s);
  printf("SITES=%lu PHANTOMS=%lu\n", (unsigned long)s[4], (unsigned long)s[5]);
  printf("FAILURES=%d\n", failures);
  return failures != 0;
}
