/* A program that reaps every child it has, the common way:
 *   while (wait(&status) > 0) ...
 * after trapsan reported a race (so trapsan symbolized its stacks). trapsan
 * must leave no child the program can see (its llvm-symbolizer was one:
 * wait() then blocked for ever). Two threads race on `g_counter` through
 * the manual API until a report was made (or 10 s), then the program forks
 * 3 children that exit 1, 2, 3 and reaps until wait() fails, under a 20 s
 * alarm. Prints
 *   REPORTS=<races reported before the forks>
 *   REAPED=<children reaped> STATUS_SUM=<their exit codes' sum>
 *   WAIT_ERRNO=<ECHILD|other> WAITID_ECHILD=<1: waitid(P_ALL) saw nothing>
 * and exits 0 (66 when trapsan reported, its exitcode). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <trapsan/trapsan.h>

static long g_counter;
static volatile int g_stop;

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long long Races(void) {
  trapsan_stats s;
  trapsan_get_stats(&s);
  return s.races_reported;
}

static void* Writer(void* arg) {
  (void)arg;
  while (!g_stop) {
    trapsan_check_write(&g_counter, sizeof g_counter); /* WAIT_CHILDREN_RACE */
    g_counter++;
  }
  return NULL;
}

int main(void) {
  pthread_t t[2];
  for (int i = 0; i < 2; ++i) pthread_create(&t[i], NULL, Writer, NULL);
  const double start = Now();
  while (Races() == 0 && Now() - start < 10) usleep(1000);
  g_stop = 1;
  for (int i = 0; i < 2; ++i) pthread_join(t[i], NULL);
  printf("REPORTS=%llu\n", Races());
  fflush(stdout);

  alarm(20); /* A hang is a failure, not a stuck test. */
  for (int i = 1; i <= 3; ++i) {
    pid_t pid = fork();
    if (pid == 0) _exit(i);
  }
  int reaped = 0, sum = 0, status;
  while (wait(&status) > 0) {
    ++reaped;
    if (WIFEXITED(status)) sum += WEXITSTATUS(status);
  }
  const int wait_errno = errno;
  siginfo_t info;
  const int waitid_echild =
      waitid(P_ALL, 0, &info, WEXITED | WNOHANG) != 0 && errno == ECHILD;
  printf("REAPED=%d\nSTATUS_SUM=%d\nWAIT_ERRNO=%s\nWAITID_ECHILD=%d\n", reaped,
         sum, wait_errno == ECHILD ? "ECHILD" : "other", waitid_echild);
  return 0;
}
