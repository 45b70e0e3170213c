/* A user SIGTRAP handler installed with sigaction() after trapsan started:
 * raise(SIGTRAP) and int3 must reach it (si_code SI_TKILL and SI_KERNEL),
 * sigaction() must show the program its own dispositions (SIG_DFL before,
 * its handler after), trapsan's own traps must not reach it, and races are
 * still detected.
 * Prints OLD_WAS_DFL, CURRENT_IS_USER, RAISE_CALLS, RAISE_SI_CODE_IS_TKILL,
 * INT3_CALLS, INT3_SI_CODE_IS_KERNEL, the race lines, CALLS_AFTER_RACE. */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"
#include "race_kernel.h"

static atomic_int g_calls;
static volatile int g_last_si_code;

static void user_trap_handler(int sig, siginfo_t* si, void* uc) {
  (void)uc;
  if (sig != SIGTRAP) return;
  g_last_si_code = si->si_code;
  atomic_fetch_add(&g_calls, 1);
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  int max_ms = argc > 1 ? atoi(argv[1]) : 3000;
  struct sigaction act, old, current;
  memset(&act, 0, sizeof act);
  act.sa_sigaction = user_trap_handler;
  act.sa_flags = SA_SIGINFO;
  sigemptyset(&act.sa_mask);
  if (sigaction(SIGTRAP, &act, &old) != 0) {
    printf("ERROR=sigaction\n");
    return 2;
  }
  printf("OLD_WAS_DFL=%d\n",
         !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL);
  sigaction(SIGTRAP, NULL, &current);
  printf("CURRENT_IS_USER=%d\n", (current.sa_flags & SA_SIGINFO) &&
                                     current.sa_sigaction == user_trap_handler);

  raise(SIGTRAP);
  printf("RAISE_CALLS=%d\n", atomic_load(&g_calls));
  printf("RAISE_SI_CODE_IS_TKILL=%d\n", g_last_si_code == SI_TKILL);

  __asm__ __volatile__("int3");
  printf("INT3_CALLS=%d\n", atomic_load(&g_calls));
  printf("INT3_SI_CODE_IS_KERNEL=%d\n", g_last_si_code == SI_KERNEL);

  tp_run_race(TP_SAMPLE_WRITER, 0, max_ms, NULL);
  printf("CALLS_AFTER_RACE=%d\n", atomic_load(&g_calls));
  tp_print_stats();
  return 0;
}
