/* Instrumented code in a signal handler that interrupts a site's slow path:
 * the main loop forces a site expiry on every iteration (the runtime looks
 * the site up under a lock), an interval timer runs a handler whose own
 * instrumented store expires too. The handler must never wait for the lock
 * its thread holds: the run ends, with DONE=1, instead of hanging.
 * The timer's period is 20 us, or 3 times what the handler was measured to
 * take (its forced expiry samples), whichever is longer: a handler slower
 * than the period would leave the main loop no time at all (a debug
 * register written in a nested virtual machine costs tens of us).
 * Run with TRAPSAN_OPTIONS=backend=off. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <trapsan/compiler_abi.h>

void __trapsan_testonly_last_site_sample(unsigned long out[7]);

volatile long g_data[8];
volatile long g_from_handler;
static volatile sig_atomic_t g_signals;

static void on_alarm(int sig) {
  (void)sig;
  __trapsan_countdown = 1;
  g_from_handler = g_signals; /* an instrumented store: its site expires */
  g_signals = g_signals + 1;
}

__attribute__((noinline)) static void touch(int i) { g_data[i & 7] = i; }

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (int i = 0; i < 50; ++i) raise(SIGALRM);
  clock_gettime(CLOCK_MONOTONIC, &now);
  long period_us = ((now.tv_sec - start.tv_sec) * 1000000000L +
                    (now.tv_nsec - start.tv_nsec)) * 3 / 50 / 1000;
  if (period_us < 20) period_us = 20;
  if (period_us > 999999) period_us = 999999;
  struct itimerval it = {{0, period_us}, {0, period_us}};
  setitimer(ITIMER_REAL, &it, NULL);

  clock_gettime(CLOCK_MONOTONIC, &start);
  long iterations = 0;
  do {
    for (int i = 0; i < 1000; ++i) {
      __trapsan_countdown = 1;
      touch(i);
    }
    iterations += 1000;
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000000000L +
               (now.tv_nsec - start.tv_nsec) <
           1000000000L);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  unsigned long s[7];
  __trapsan_testonly_last_site_sample(s);
  printf("PERIOD_US=%ld\nITERATIONS=%ld\nSIGNALS=%ld\nSITE_EXPIRIES=%lu\nDONE=1\n",
         period_us, iterations, (long)g_signals, s[5]);
  return 0;
}
