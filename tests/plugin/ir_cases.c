/* What the plugin instruments and what it leaves alone, one function per
 * case; plugin_test.cc counts the sites, and the accesses the countdown
 * steps by, in each function of this file compiled to LLVM IR through
 * trapsan-cc at -O0 and -O2, and by plain clang -O1 -fsanitize=thread with
 * only the pass plugin. */
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include <trapsan/annotations.h>

long g_shared;
const int g_table[4] = {1, 2, 3, 4};
_Atomic long g_atomic;
long g_plain_b;

void sink(long* p);

/* Instrumented: a plain store to a global. */
void write_global(long v) {
  g_shared = v;  /* IR_WRITE_GLOBAL */
}

/* Instrumented: a plain load through a pointer. */
long read_pointer(const long* p) { return *p; }

/* One sample, the write: the read before it in the block is covered. */
void increment(long* p) { *p += 1; }

/* Skipped: atomics, any order. */
long atomics(void) {
  atomic_store_explicit(&g_atomic, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&g_atomic, 2, memory_order_acq_rel);
  return atomic_load_explicit(&g_atomic, memory_order_acquire) +
         atomic_load(&g_atomic);
}

/* Skipped: a local whose address never escapes (at -O0 it lives in an
 * alloca). */
long local_only(long n) {
  long acc[4] = {0, 0, 0, 0};
  for (long i = 0; i < n; ++i) acc[i & 3] += i;
  return acc[0] + acc[1] + acc[2] + acc[3];
}

/* Instrumented: a local whose address escapes, from then on. */
long escaping_local(void) {
  long x = 1;
  sink(&x);
  return x; /* IR_ESCAPED_READ */
}

/* Skipped: a constant global. */
int const_table(int i) { return g_table[i & 3]; }

/* Skipped: trapsan's opt-out macro. */
TRAPSAN_NO_INSTRUMENT long opted_out(void) {
  g_plain_b = g_shared + 1;
  return g_plain_b;
}

/* Skipped: disable_sanitizer_instrumentation. */
__attribute__((disable_sanitizer_instrumentation)) long sanitizers_disabled(void) {
  g_plain_b = g_shared + 2;
  return g_plain_b;
}

/* Skipped through trapsan-cc (its clang plugin marks it), and under
 * -fsanitize=thread (see docs/compiler-plugin.md). */
__attribute__((no_sanitize("thread"))) long no_sanitize_thread(void) {
  g_plain_b = g_shared + 3;
  return g_plain_b;
}

/* Instrumented: memcpy (source read + destination write), memset (write). */
void copy(void* dst, const void* src, size_t n) { memcpy(dst, src, n); }
void fill(void* dst, size_t n) { memset(dst, 0, n); }

/* Instrumented: a loop's loads (at -O2 vectorized, the loop one block
 * whose countdown stays in a register). */
long sum_array(const long* p, long n) {
  long s = 0;
  for (long i = 0; i < n; ++i) s += p[i];
  return s;
}
