/* Calls the __tsan_* entry points directly (this program is NOT compiled
 * with -fsanitize=thread, so no other access is sampled) and prints, for
 * each, how many watch windows it opened and whether it did its job:
 *   <NAME>_WINDOWS=<n> and <NAME>_OK=1
 * Run with sample_rate=1:max_overhead=0 (every call samples). Covers the
 * entry points the test programs' compilers do not emit: the *_pc variants,
 * ranges, unaligned, volatile, read_write, vptr, memcpy/memmove/memset, and
 * atomics called with unusual orders (gcc's flag bits, out-of-range values,
 * release/acq_rel failure orders). */
#include <stdint.h>
#include <string.h>

#include "common.h"

typedef __int128 a128;

void __tsan_init(void);
void __tsan_func_entry(void* pc);
void __tsan_func_exit(void);
void __tsan_read4(void* addr);
void __tsan_write8(void* addr);
void __tsan_read2_pc(void* addr, void* pc);
void __tsan_write16_pc(void* addr, void* pc);
void __tsan_unaligned_read8(const void* addr);
void __tsan_unaligned_write4(void* addr);
void __tsan_volatile_read1(void* addr);
void __tsan_volatile_write2(void* addr);
void __tsan_read_write4(void* addr);
void __tsan_unaligned_read_write8(void* addr);
void __tsan_read_range(void* addr, unsigned long size);
void __tsan_write_range(void* addr, unsigned long size);
void __tsan_read_range_pc(void* addr, unsigned long size, void* pc);
void __tsan_write_range_pc(void* addr, unsigned long size, void* pc);
void __tsan_vptr_read(void** vptr_p);
void __tsan_vptr_update(void** vptr_p, void* new_val);
void* __tsan_memcpy(void* dst, const void* src, size_t size);
void* __tsan_memmove(void* dst, const void* src, size_t size);
void* __tsan_memset(void* dst, int c, size_t size);
void __tsan_atomic_thread_fence(int mo);
void __tsan_atomic_signal_fence(int mo);
int __tsan_atomic32_fetch_add(volatile int* a, int v, int mo);
int __tsan_atomic32_load(const volatile int* a, int mo);
void __tsan_atomic32_store(volatile int* a, int v, int mo);
int __tsan_atomic32_compare_exchange_strong(volatile int* a, int* c, int v,
                                            int mo, int fail_mo);
int __tsan_atomic32_compare_exchange_val(volatile int* a, int c, int v,
                                         int mo, int fail_mo);
char __tsan_atomic8_compare_exchange_val(volatile char* a, char c, char v,
                                         int mo, int fail_mo);
short __tsan_atomic16_fetch_nand(volatile short* a, short v, int mo);
long __tsan_atomic64_exchange(volatile long* a, long v, int mo);
int __tsan_atomic64_compare_exchange_weak(volatile long* a, long* c, long v,
                                          int mo, int fail_mo);
a128 __tsan_atomic128_load(const volatile a128* a, int mo);
void __tsan_atomic128_store(volatile a128* a, a128 v, int mo);
a128 __tsan_atomic128_compare_exchange_val(volatile a128* a, a128 c, a128 v,
                                           int mo, int fail_mo);
int __tsan_atomic128_compare_exchange_strong(volatile a128* a, a128* c,
                                             a128 v, int mo, int fail_mo);
int __tsan_atomic128_compare_exchange_weak(volatile a128* a, a128* c, a128 v,
                                           int mo, int fail_mo);
a128 __tsan_atomic128_fetch_sub(volatile a128* a, a128 v, int mo);

static uint64_t windows(void) {
  trapsan_stats s;
  trapsan_get_stats(&s);
  return s.windows;
}

static uint64_t g_before;
static void start(void) { g_before = windows(); }
static void end(const char* name, int ok) {
  printf("%s_WINDOWS=%" PRIu64 "\n%s_OK=%d\n", name, windows() - g_before,
         name, ok);
}

static char g_buf[64] __attribute__((aligned(16)));
static char g_dst[64] __attribute__((aligned(16)));

__attribute__((noinline)) static void pc_target(void) { TP_BARRIER(); }

int main(void) {
  tp_setup_stdout();
  __tsan_init();
  printf("BACKEND=%s\n", trapsan_backend());
  void* pc = (void*)((uintptr_t)&pc_target + 1);

  start(); __tsan_func_entry(pc); __tsan_func_exit(); end("FUNC", 1);
  start(); __tsan_read4(g_buf); end("READ4", 1);
  start(); __tsan_write8(g_buf); end("WRITE8", 1);
  start(); __tsan_read2_pc(g_buf, pc); end("READ2_PC", 1);
  start(); __tsan_write16_pc(g_buf, pc); end("WRITE16_PC", 1);
  start(); __tsan_unaligned_read8(g_buf + 3); end("UNALIGNED_READ8", 1);
  start(); __tsan_unaligned_write4(g_buf + 1); end("UNALIGNED_WRITE4", 1);
  start(); __tsan_volatile_read1(g_buf); end("VOLATILE_READ1", 1);
  start(); __tsan_volatile_write2(g_buf); end("VOLATILE_WRITE2", 1);
  start(); __tsan_read_write4(g_buf); end("READ_WRITE4", 1);
  start(); __tsan_unaligned_read_write8(g_buf + 1); end("UNALIGNED_READ_WRITE8", 1);
  start(); __tsan_read_range(g_buf, 40); end("READ_RANGE", 1);
  start(); __tsan_write_range(g_buf + 5, 20); end("WRITE_RANGE", 1);
  start(); __tsan_read_range_pc(g_buf, 24, pc); end("READ_RANGE_PC", 1);
  start(); __tsan_write_range_pc(g_buf, 24, pc); end("WRITE_RANGE_PC", 1);
  start(); __tsan_read_range(g_buf, 0); end("EMPTY_RANGE", 1);

  void* vptr = &g_buf[0];
  start(); __tsan_vptr_read(&vptr); end("VPTR_READ", 1);
  start(); __tsan_vptr_update(&vptr, &g_buf[0]); end("VPTR_UPDATE_SAME", 1);
  start(); __tsan_vptr_update(&vptr, &g_buf[8]); end("VPTR_UPDATE", 1);

  for (int i = 0; i < 64; i++) g_buf[i] = (char)i;
  start();
  void* r = __tsan_memcpy(g_dst, g_buf, 64);
  end("MEMCPY", r == g_dst && memcmp(g_dst, g_buf, 64) == 0);
  start();
  r = __tsan_memmove(g_buf + 1, g_buf, 32);
  end("MEMMOVE", r == g_buf + 1 && g_buf[1] == 0 && g_buf[32] == 31);
  start();
  r = __tsan_memset(g_dst, 7, 10);
  end("MEMSET", r == g_dst && g_dst[0] == 7 && g_dst[9] == 7 && g_dst[10] == 10);
  start(); r = __tsan_memset(g_dst, 0, 0); end("MEMSET_EMPTY", r == g_dst);

  /* Atomics: never sampled, whatever the order argument. */
  volatile int a32 = 5;
  volatile long a64 = 9;
  volatile short a16 = 0x70;
  volatile char a8 = 3;
  start();
  int ok = 1;
  ok &= __tsan_atomic32_fetch_add(&a32, 2, 5 | (1 << 15)) == 5;  /* MEMMODEL_SYNC */
  ok &= __tsan_atomic32_load(&a32, 99) == 7;                      /* unknown */
  __tsan_atomic32_store(&a32, 8, 2);                              /* acquire */
  ok &= a32 == 8;
  int expected = 1;
  ok &= __tsan_atomic32_compare_exchange_strong(&a32, &expected, 3, 3, 3) == 0;
  ok &= expected == 8;
  ok &= __tsan_atomic32_compare_exchange_strong(&a32, &expected, 3, 0, 5) == 1;
  ok &= a32 == 3;
  ok &= __tsan_atomic32_compare_exchange_val(&a32, 3, 4, 3, 4) == 3;
  ok &= __tsan_atomic32_compare_exchange_val(&a32, 3, 5, 1, 1) == 4;
  ok &= __tsan_atomic8_compare_exchange_val(&a8, 3, 4, 4, 2) == 3 && a8 == 4;
  ok &= __tsan_atomic16_fetch_nand(&a16, 0x3c, 0) == 0x70 &&
        a16 == (short)~(0x70 & 0x3c);
  ok &= __tsan_atomic64_exchange(&a64, 11, 4) == 9 && a64 == 11;
  long e64 = 11;
  while (!__tsan_atomic64_compare_exchange_weak(&a64, &e64, 12, 3, 0)) {
  }
  ok &= a64 == 12;
  __tsan_atomic_thread_fence(0);
  __tsan_atomic_thread_fence(2);
  __tsan_atomic_thread_fence(3);
  __tsan_atomic_thread_fence(4);
  __tsan_atomic_thread_fence(5);
  __tsan_atomic_signal_fence(5);
  end("ATOMICS", ok);

  static volatile a128 q __attribute__((aligned(16)));
  start();
  ok = 1;
  const a128 big = ((a128)1 << 100) | 5;
  __tsan_atomic128_store(&q, big, 3);
  ok &= __tsan_atomic128_load(&q, 2) == big;
  ok &= __tsan_atomic128_compare_exchange_val(&q, 0, 1, 5, 5) == big;
  ok &= __tsan_atomic128_compare_exchange_val(&q, big, 1, 5, 5) == big;
  ok &= __tsan_atomic128_load(&q, 0) == 1;
  a128 e = 2;
  ok &= __tsan_atomic128_compare_exchange_strong(&q, &e, 6, 4, 2) == 0 && e == 1;
  ok &= __tsan_atomic128_compare_exchange_strong(&q, &e, big, 4, 2) == 1;
  while (!__tsan_atomic128_compare_exchange_weak(&q, &e, 7, 5, 5)) {
  }
  ok &= __tsan_atomic128_fetch_sub(&q, 8, 5) == 7 && q == -1;
  end("ATOMICS128", ok);

  printf("DONE=1\n");
  return 0;
}
