/* Label sites armed by int3 patching (run with backend=soft, or where
 * execution breakpoints do not deliver). Built by trapsan-cc -O2.
 *
 * - Contention: 4 threads force expiries at the same label (store() of
 *   their own cell) 2000 times each: the label is patched and put back
 *   thousands of times while the others run through it. Whichever thread
 *   samples must sample its own access: WRONG counts samples whose address
 *   is not the sampling thread's cell.
 * - An armed label that its thread does not reach (the other branch of
 *   branchy()) stays patched; a fork child gets its text back (the child's
 *   copy of branchy() equals the original bytes) and samples; the parent
 *   then reaches the armed label and samples it.
 * - A library with label sites is dlopen()ed, sampled, dlclose()d, opened
 *   again and sampled again (argument: its path).
 * - The program's own int3 goes to its own SIGTRAP handler.
 * - In the end no label is left patched: store()'s and branchy()'s bytes
 *   equal what they were before any sample.
 * Prints WRONG, SAMPLED, PASSED, ARMED_UNREACHED, CHILD_TEXT_RESTORED,
 * CHILD_SAMPLED, PARENT_REACHED_ARMED, DLOPEN_SAMPLED, OWN_INT3_HANDLED,
 * TEXT_RESTORED and STAT_labels_*. */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <trapsan/compiler_abi.h>
#include <trapsan/trapsan.h>

void __trapsan_testonly_last_site_sample(uint64_t out[7]);

enum { kThreads = 4, kRounds = 2000, kCodeBytes = 48 };

long g_cells[kThreads + 1];
long g_a, g_b;

__attribute__((noinline)) void store(int i) { g_cells[i] = i; }

/* Two label sites, one per branch, in one region. */
__attribute__((noinline)) void branchy(int c) {
  if (c)
    g_a = c;
  else
    g_b = c + 2;
  __asm__ volatile("" ::: "memory");
}

static unsigned char g_store_code[kCodeBytes], g_branchy_code[kCodeBytes];

static void save_code(void) {
  memcpy(g_store_code, (const void*)store, kCodeBytes);
  memcpy(g_branchy_code, (const void*)branchy, kCodeBytes);
}

static int code_restored(void) {
  return memcmp(g_store_code, (const void*)store, kCodeBytes) == 0 &&
         memcmp(g_branchy_code, (const void*)branchy, kCodeBytes) == 0;
}

static uint64_t picked(void) {
  uint64_t s[7];
  __trapsan_testonly_last_site_sample(s);
  return s[4];
}

static uintptr_t last_addr(void) {
  uint64_t s[7];
  __trapsan_testonly_last_site_sample(s);
  return (uintptr_t)s[0];
}

/* After a forced expiry: no other check of this thread expires before the
 * next forced one (the test's own bookkeeping is instrumented too). */
#define QUIET() (*(volatile int32_t*)&__trapsan_countdown = 1 << 30)
/* The next check expires (volatile: the optimizer knows the calls between
 * do not read the countdown, and would drop a store QUIET() overwrites). */
#define EXPIRE() (*(volatile int32_t*)&__trapsan_countdown = 1)

static int g_wrong, g_sampled;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static void* worker(void* arg) {
  const int i = (int)(intptr_t)arg;
  int wrong = 0, sampled = 0;
  for (int r = 0; r < kRounds; ++r) {
    const uint64_t before = picked();
    EXPIRE();
    store(i);
    QUIET();
    if (picked() != before) {
      ++sampled;
      wrong += last_addr() != (uintptr_t)&g_cells[i];
    }
  }
  pthread_mutex_lock(&g_mu);
  g_wrong += wrong;
  g_sampled += sampled;
  pthread_mutex_unlock(&g_mu);
  return NULL;
}

/* Forces an expiry and says whether this thread sampled `want`. */
static int sample_store(int i) {
  const uint64_t before = picked();
  EXPIRE();
  store(i);
  QUIET();
  return picked() != before && last_addr() == (uintptr_t)&g_cells[i];
}

static volatile sig_atomic_t g_own_traps;
static void on_trap(int sig) {
  (void)sig;
  ++g_own_traps;
}

int main(int argc, char** argv) {
  save_code();
  EXPIRE(); /* the first expiry only draws a countdown */
  store(kThreads);
  QUIET();

  pthread_t t[kThreads];
  for (int i = 0; i < kThreads; ++i)
    pthread_create(&t[i], NULL, worker, (void*)(intptr_t)i);
  for (int i = 0; i < kThreads; ++i) pthread_join(t[i], NULL);
  printf("WRONG=%d\nSAMPLED=%d\n", g_wrong, g_sampled);

  /* Arm branchy()'s labels until one stays armed: the g_a label, armed
   * while the g_b branch runs (each expiry picks one of the two). */
  trapsan_stats s;
  int armed_unreached = 0;
  for (int k = 0; k < 200 && !armed_unreached; ++k) {
    trapsan_get_stats(&s);
    const uint64_t reached = s.labels_reached;
    const uint64_t before = picked();
    EXPIRE();
    branchy(0);
    QUIET();
    trapsan_get_stats(&s);
    armed_unreached = picked() == before && s.labels_reached == reached;
  }
  printf("ARMED_UNREACHED=%d\n", armed_unreached);
  fflush(stdout);
  int pipefd[2];
  if (pipe(pipefd) != 0) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    int result[2] = {code_restored(), sample_store(1) || sample_store(2)};
    if (write(pipefd[1], result, sizeof result) != sizeof result) _exit(2);
    _exit(0);
  }
  int result[2] = {-1, -1}, status = 0;
  if (read(pipefd[0], result, sizeof result) != sizeof result) result[0] = -1;
  waitpid(pid, &status, 0);
  printf("CHILD_TEXT_RESTORED=%d\nCHILD_SAMPLED=%d\n", result[0], result[1]);
  {
    const uint64_t before = picked();
    branchy(5); /* reaches the armed label: sampled here */
    printf("PARENT_REACHED_ARMED=%d\n",
           picked() != before && last_addr() == (uintptr_t)&g_a);
  }

  int dlopen_sampled = 0;
  for (int round = 0; argc > 1 && round < 2; ++round) {
    void* lib = dlopen(argv[1], RTLD_NOW);
    if (lib == NULL) {
      printf("DLOPEN_FAILED=%s\n", dlerror());
      return 1;
    }
    void (*lib_store)(int) = (void (*)(int))dlsym(lib, "lib_store");
    long* (*cells)(void) = (long* (*)(void))dlsym(lib, "lib_cells");
    int ok = 0;
    for (int i = 0; i < 3 && !ok; ++i) {
      const uint64_t before = picked();
      EXPIRE();
      lib_store(i);
      QUIET();
      ok = picked() != before && last_addr() == (uintptr_t)&cells()[i];
    }
    dlopen_sampled += ok;
    dlclose(lib);
  }
  printf("DLOPEN_SAMPLED=%d\n", dlopen_sampled);

  signal(SIGTRAP, on_trap);
  __asm__ volatile("int3");
  printf("OWN_INT3_HANDLED=%d\n", (int)g_own_traps);

  printf("TEXT_RESTORED=%d\n", code_restored());
  trapsan_get_stats(&s);
  printf("STAT_labels_armed=%lu\nSTAT_labels_reached=%lu\n"
         "STAT_labels_passed=%lu\nSTAT_labels_unavailable=%lu\n"
         "STAT_traps_foreign=%lu\n",
         (unsigned long)s.labels_armed, (unsigned long)s.labels_reached,
         (unsigned long)s.labels_passed, (unsigned long)s.labels_unavailable,
         (unsigned long)s.traps_foreign);
  return 0;
}
