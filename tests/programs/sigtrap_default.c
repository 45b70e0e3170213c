/* SIGTRAPs that are not trapsan's, with no user handler, after trapsan opened
 * some windows. Usage: sigtrap_default MODE
 *   raise       raise(SIGTRAP) with SIG_DFL: the process dies by SIGTRAP
 *   int3        an int3 instruction with SIG_DFL: dies by SIGTRAP
 *   ignore      signal(SIGTRAP, SIG_IGN), then raise(): ignored, exits 0
 *   int3_ignored  signal(SIGTRAP, SIG_IGN), then int3: the kernel forces
 *               the default action for a trap it raises: dies by SIGTRAP
 *   resethand   a SA_RESETHAND handler: the first raise() reaches it, the
 *               second one kills the process by SIGTRAP
 * Prints WINDOWS, BEFORE_RAISE, HANDLER_CALLS, AFTER_RAISE. */
#include <signal.h>
#include <string.h>

#include "common.h"

static volatile int g_calls;
static long g_var;

static void once_handler(int sig) {
  (void)sig;
  g_calls++;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  const char* mode = argc > 1 ? argv[1] : "raise";
  for (int i = 0; i < 20; ++i) {
    trapsan_check_write(&g_var, sizeof g_var);
    g_var++;
  }
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("WINDOWS=%llu\n", (unsigned long long)s.windows);
  if (strcmp(mode, "ignore") == 0 || strcmp(mode, "int3_ignored") == 0) {
    signal(SIGTRAP, SIG_IGN);
  } else if (strcmp(mode, "resethand") == 0) {
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = once_handler;
    act.sa_flags = SA_RESETHAND;
    sigemptyset(&act.sa_mask);
    sigaction(SIGTRAP, &act, NULL);
    raise(SIGTRAP);
    printf("HANDLER_CALLS=%d\n", g_calls);
  }
  printf("BEFORE_RAISE=1\n");
  fflush(stdout);
  if (strcmp(mode, "int3") == 0 || strcmp(mode, "int3_ignored") == 0) {
    __asm__ __volatile__("int3");
  } else {
    raise(SIGTRAP);
  }
  printf("AFTER_RAISE=1\n");
  return 0;
}
