/* Instrumented code that keeps a distinct value live in every caller-saved
 * register (rax, rcx, rdx, rsi, rdi, r8-r11, xmm0-xmm15) across a site that
 * expires on its first execution: the registers are pinned by an asm before
 * the loop and read back by an asm after it, and the site's own asm names
 * none of them (site_stub.S must preserve them all, and nothing may run
 * before the stub: a lazily bound PLT's resolver clobbered r10/r11).
 * Built into a program, into a shared library linked by one, and into one
 * that is dlopen()ed; registers_main.c runs it. Two kinds of sites that call
 * __trapsan_site: a single-block loop's calling site (countdown in a
 * register) and a multi-block loop's region check. */
#include <stdint.h>
#include <stdio.h>

#include <trapsan/annotations.h>
#include <trapsan/compiler_abi.h>

#define NOINLINE __attribute__((noinline))

int g_values[64];
int volatile g_sink;

enum { kGprs = 9, kXmms = 16 };
static const char* const kGprNames[kGprs] = {"rax", "rcx", "rdx", "rsi", "rdi",
                                             "r8",  "r9",  "r10", "r11"};

static uint64_t Want(int i) { return 0x5a00000000000000ull + 0x0101010101ull * (i + 1); }

/* Compares what came back; prints each register that changed. */
TRAPSAN_NO_INSTRUMENT static int Compare(const char* what, const uint64_t got[kGprs + kXmms]) {
  int bad = 0;
  for (int i = 0; i < kGprs + kXmms; ++i) {
    if (got[i] == Want(i)) continue;
    char name[8];
    if (i < kGprs)
      snprintf(name, sizeof name, "%s", kGprNames[i]);
    else
      snprintf(name, sizeof name, "xmm%d", i - kGprs);
    printf("CLOBBERED %s %s got=0x%llx want=0x%llx\n", what, name,
           (unsigned long long)got[i], (unsigned long long)Want(i));
    ++bad;
  }
  return bad;
}

/* The pinned values: set by SET_ALL, read back by GET_ALL into out[]. */
#define DECLARE_ALL                                                        \
  register uint64_t rax __asm__("rax"), rcx __asm__("rcx"),                \
      rdx __asm__("rdx"), rsi __asm__("rsi"), rdi __asm__("rdi"),          \
      r8 __asm__("r8"), r9 __asm__("r9"), r10 __asm__("r10"),              \
      r11 __asm__("r11");                                                  \
  register double x0 __asm__("xmm0"), x1 __asm__("xmm1"),                  \
      x2 __asm__("xmm2"), x3 __asm__("xmm3"), x4 __asm__("xmm4"),          \
      x5 __asm__("xmm5"), x6 __asm__("xmm6"), x7 __asm__("xmm7"),          \
      x8 __asm__("xmm8"), x9 __asm__("xmm9"), x10 __asm__("xmm10"),        \
      x11 __asm__("xmm11"), x12 __asm__("xmm12"), x13 __asm__("xmm13"),    \
      x14 __asm__("xmm14"), x15 __asm__("xmm15")
#define GPR_OPERANDS(c)                                                    \
  c(rax), c(rcx), c(rdx), c(rsi), c(rdi), c(r8), c(r9), c(r10), c(r11)
#define XMM_OPERANDS(c)                                                    \
  c(x0), c(x1), c(x2), c(x3), c(x4), c(x5), c(x6), c(x7), c(x8), c(x9),   \
      c(x10), c(x11), c(x12), c(x13), c(x14), c(x15)
#define OUT_R(v) "=r"(v)
#define OUT_X(v) "=x"(v)
#define INOUT_R(v) "+r"(v)
#define INOUT_X(v) "+x"(v)
/* Loads Want(i) into each, i = 0..24 in the order rax..r11, xmm0..xmm15
 * (the xmm registers first: their asm uses rax as a scratch register). */
#define SET_ALL                                                            \
  __asm__ volatile(                                                        \
      "movabsq $0x5a00000a0a0a0a0a, %%rax\n movq %%rax, %0\n"              \
      "movabsq $0x5a00000b0b0b0b0b, %%rax\n movq %%rax, %1\n"              \
      "movabsq $0x5a00000c0c0c0c0c, %%rax\n movq %%rax, %2\n"              \
      "movabsq $0x5a00000d0d0d0d0d, %%rax\n movq %%rax, %3\n"              \
      "movabsq $0x5a00000e0e0e0e0e, %%rax\n movq %%rax, %4\n"              \
      "movabsq $0x5a00000f0f0f0f0f, %%rax\n movq %%rax, %5\n"              \
      "movabsq $0x5a00001010101010, %%rax\n movq %%rax, %6\n"              \
      "movabsq $0x5a00001111111111, %%rax\n movq %%rax, %7\n"              \
      "movabsq $0x5a00001212121212, %%rax\n movq %%rax, %8\n"              \
      "movabsq $0x5a00001313131313, %%rax\n movq %%rax, %9\n"              \
      "movabsq $0x5a00001414141414, %%rax\n movq %%rax, %10\n"             \
      "movabsq $0x5a00001515151515, %%rax\n movq %%rax, %11\n"             \
      "movabsq $0x5a00001616161616, %%rax\n movq %%rax, %12\n"             \
      "movabsq $0x5a00001717171717, %%rax\n movq %%rax, %13\n"             \
      "movabsq $0x5a00001818181818, %%rax\n movq %%rax, %14\n"             \
      "movabsq $0x5a00001919191919, %%rax\n movq %%rax, %15\n"             \
      : XMM_OPERANDS(OUT_X)                                                \
      :                                                                    \
      : "rax");                                                            \
  __asm__ volatile(                                                        \
      "movabsq $0x5a00000101010101, %0\n movabsq $0x5a00000202020202, %1\n" \
      "movabsq $0x5a00000303030303, %2\n movabsq $0x5a00000404040404, %3\n" \
      "movabsq $0x5a00000505050505, %4\n movabsq $0x5a00000606060606, %5\n" \
      "movabsq $0x5a00000707070707, %6\n movabsq $0x5a00000808080808, %7\n" \
      "movabsq $0x5a00000909090909, %8\n"                                  \
      : GPR_OPERANDS(OUT_R))
/* Stores each to out[i], in the same order. */
#define GET_ALL(out)                                                       \
  __asm__ volatile(                                                        \
      "movq %1, 0(%0)\n movq %2, 8(%0)\n movq %3, 16(%0)\n"                  \
      "movq %4, 24(%0)\n movq %5, 32(%0)\n movq %6, 40(%0)\n"                \
      "movq %7, 48(%0)\n movq %8, 56(%0)\n movq %9, 64(%0)\n"                \
      "movq %10, 72(%0)\n movq %11, 80(%0)\n movq %12, 88(%0)\n"             \
      "movq %13, 96(%0)\n movq %14, 104(%0)\n movq %15, 112(%0)\n"           \
      "movq %16, 120(%0)\n movq %17, 128(%0)\n movq %18, 136(%0)\n"          \
      "movq %19, 144(%0)\n movq %20, 152(%0)\n movq %21, 160(%0)\n"          \
      "movq %22, 168(%0)\n movq %23, 176(%0)\n movq %24, 184(%0)\n"          \
      "movq %25, 192(%0)\n"                                                \
      :                                                                    \
      : "r"(out), GPR_OPERANDS(IN_R), XMM_OPERANDS(IN_X)                   \
      : "memory")
#define IN_R(v) "r"(v)
#define IN_X(v) "x"(v)

/* A single-block loop: a calling site after its store, the countdown in a
 * register (loaded from __trapsan_countdown = 1 on the way in). */
NOINLINE int RegistersAcrossLoopSite(int n) {
  uint64_t got[kGprs + kXmms];
  DECLARE_ALL;
  __trapsan_countdown = 1;
  SET_ALL;
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
  for (int i = 0; i < n; ++i) g_values[i] = i;
  GET_ALL(got);
  return Compare("loop_site", got);
}

/* A loop of several blocks: a region check at its header (with calling
 * sites, TRAPSAN_PLUGIN_SITES=call, sites in its blocks). */
NOINLINE int RegistersAcrossLoopCheck(int n) {
  uint64_t got[kGprs + kXmms];
  DECLARE_ALL;
  __trapsan_countdown = 1;
  SET_ALL;
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
  for (int i = 0; i < n; ++i) {
    if (g_values[i] & 1)
      g_values[i] += 3;
    else
      g_sink = i;
  }
  GET_ALL(got);
  return Compare("loop_check", got);
}
