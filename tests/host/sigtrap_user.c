/* The program's own SIGTRAP handling, with trapsan's handler underneath:
 *   - a handler installed before trapsan starts (.preinit_array runs before
 *     any shared library's constructor) is kept, is what sigaction reports,
 *     and gets raise(SIGTRAP) (si_code SI_TKILL) and an int3 in the program
 *     (SI_KERNEL, resumed past it);
 *   - a handler installed after, from 4 threads that trap 2,000 times each
 *     while they run checked loops (sampling active), gets every trap;
 *   - SA_RESETHAND (one call, then SIG_DFL), SIG_IGN (a raise is ignored),
 *     signal()'s old value, a fork child's handler, a raise inside the
 *     handler (held until it returns), a raise while the program blocks
 *     SIGTRAP (pending until unblocked: before the fix, trapsan, which keeps
 *     SIGTRAP unblocked for its own traps, let it kill the process);
 *   - at the end an int3 with SIG_DFL: killed by SIGTRAP.
 * Built with the compiler plugin, the handlers' own code has label sites:
 * before the fix, trapsan ran the program's handler with SIGTRAP blocked and
 * a label's int3 in it killed the process.
 * Output is the same with and without trapsan. */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "trapsan/trapsan.h"

#pragma weak trapsan_check_read
#pragma weak trapsan_check_write

enum { kThreads = 4, kTraps = 2000 };

static atomic_long g_early, g_late, g_reset;
static atomic_int g_early_code, g_int3_ok;
static __thread volatile int g_after_int3;  /* per thread: no race */

static void early_handler(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)uc;
  atomic_fetch_add(&g_early, 1);
  atomic_store(&g_early_code, si->si_code);
}

static void late_handler(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)uc;
  if (si->si_code == SI_KERNEL) atomic_fetch_add(&g_late, 1);
}

static void reset_handler(int sig) {
  (void)sig;
  atomic_fetch_add(&g_reset, 1);
}

/* Raises SIGTRAP again inside itself: the kernel holds it until the handler
 * returns (SIGTRAP blocked in its own handler), then delivers it. */
static atomic_int g_depth, g_max_depth, g_nested;
static void raising_handler(int sig) {
  (void)sig;
  int depth = atomic_fetch_add(&g_depth, 1) + 1;
  if (depth > atomic_load(&g_max_depth)) atomic_store(&g_max_depth, depth);
  if (atomic_fetch_add(&g_nested, 1) == 0) raise(SIGTRAP);
  atomic_fetch_sub(&g_depth, 1);
}

static void install(int flags, void (*action)(int, siginfo_t*, void*)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = action;
  sa.sa_flags = SA_SIGINFO | flags;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGTRAP, &sa, NULL) != 0) abort();
}

static void install_early(int argc, char** argv, char** envp) {
  (void)argc;
  (void)argv;
  (void)envp;
  install(0, early_handler);
}
__attribute__((section(".preinit_array"), used)) static void (*g_preinit)(
    int, char**, char**) = install_early;

static void int3(void) {
  __asm__ volatile("int3" ::: "memory");
  g_after_int3 = 1;
}

static void touch(unsigned long* p, unsigned long v) {
  if (trapsan_check_read) trapsan_check_read(p, sizeof *p);
  unsigned long old = *p;
  if (trapsan_check_write) trapsan_check_write(p, sizeof *p);
  *p = old + v;
}

static void* trapper(void* arg) {
  unsigned long buf[64] = {0};
  (void)arg;
  for (int i = 0; i < kTraps; ++i) {
    for (int j = 0; j < 200; ++j) touch(&buf[j % 64], (unsigned long)j);
    int3();
  }
  return (void*)buf[3];
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sigaction now;
  sigaction(SIGTRAP, NULL, &now);
  printf("EARLY_HANDLER_REPORTED=%d\n",
         (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == early_handler);

  raise(SIGTRAP);
  printf("EARLY_RAISE=%ld code=%s\n", atomic_load(&g_early),
         atomic_load(&g_early_code) == SI_TKILL ? "SI_TKILL" : "other");
  g_after_int3 = 0;
  int3();
  printf("EARLY_INT3=%ld code=%s resumed=%d\n", atomic_load(&g_early),
         atomic_load(&g_early_code) == SI_KERNEL ? "SI_KERNEL" : "other",
         g_after_int3);

  install(0, late_handler);
  pthread_t threads[kThreads];
  for (int i = 0; i < kThreads; ++i) pthread_create(&threads[i], NULL, trapper, NULL);
  for (int i = 0; i < kThreads; ++i) pthread_join(threads[i], NULL);
  printf("LATE_INT3=%ld of %d\n", atomic_load(&g_late), kThreads * kTraps);

  /* A fork child keeps the handler. */
  pid_t child = fork();
  if (child == 0) {
    int3();
    _exit(atomic_load(&g_late) == kThreads * kTraps + 1 ? 7 : 8);
  }
  int status = 0;
  waitpid(child, &status, 0);
  printf("CHILD=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = reset_handler;
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGTRAP, &sa, NULL);
  raise(SIGTRAP);
  sigaction(SIGTRAP, NULL, &now);
  printf("RESETHAND=%ld then %s\n", atomic_load(&g_reset),
         now.sa_handler == SIG_DFL ? "SIG_DFL" : "other");

  signal(SIGTRAP, SIG_IGN);
  raise(SIGTRAP);
  void (*old)(int) = signal(SIGTRAP, reset_handler);
  printf("IGNORED_RAISE=survived old=%s\n", old == SIG_IGN ? "SIG_IGN" : "other");
  raise(SIGTRAP);
  printf("SIGNAL_HANDLER=%ld\n", atomic_load(&g_reset));

  signal(SIGTRAP, raising_handler);
  raise(SIGTRAP);
  printf("NESTED_RAISE=%d max_depth=%d\n", atomic_load(&g_nested),
         atomic_load(&g_max_depth));

  /* Blocked by the program: a raise waits (pending, the mask says blocked)
   * and is delivered when unblocked. */
  atomic_store(&g_reset, 0);
  signal(SIGTRAP, reset_handler);
  sigset_t trap, saved, pending, current;
  sigemptyset(&trap);
  sigaddset(&trap, SIGTRAP);
  pthread_sigmask(SIG_BLOCK, &trap, &saved);
  raise(SIGTRAP);
  const long while_blocked = atomic_load(&g_reset);
  sigpending(&pending);
  pthread_sigmask(SIG_BLOCK, NULL, &current);
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  printf("BLOCKED_RAISE=%ld pending=%d masked=%d unblocked=%ld\n",
         while_blocked, sigismember(&pending, SIGTRAP),
         sigismember(&current, SIGTRAP), atomic_load(&g_reset));

  /* The default action at the end: killed by SIGTRAP, as without trapsan. */
  signal(SIGTRAP, SIG_DFL);
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  fflush(stdout);
  int3();
  printf("NOT_REACHED\n");
  return 0;
}
