/* Threads blocked in read(), nanosleep() and poll() while two other threads
 * race under trapsan: none of those system calls may fail with EINTR (they
 * would if trapsan signalled threads other than the trapping one).
 * Prints READ_RESULT, READ_ERRNO, NANOSLEEP_RESULT, NANOSLEEP_ERRNO,
 * POLL_RESULT, POLL_ERRNO and the race lines. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"
#include "race_kernel.h"

static int g_read_pipe[2], g_poll_pipe[2];
static ssize_t g_read_result;
static int g_read_errno, g_nanosleep_result, g_nanosleep_errno;
static int g_poll_result, g_poll_errno;
static atomic_int g_blocked;

static void* blocked_reader(void* arg) {
  (void)arg;
  char buf[8];
  atomic_fetch_add(&g_blocked, 1);
  g_read_result = read(g_read_pipe[0], buf, sizeof buf);
  g_read_errno = g_read_result < 0 ? errno : 0;
  return NULL;
}

static void* blocked_sleeper(void* arg) {
  int ms = *(int*)arg;
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  atomic_fetch_add(&g_blocked, 1);
  g_nanosleep_result = nanosleep(&ts, NULL);
  g_nanosleep_errno = g_nanosleep_result < 0 ? errno : 0;
  return NULL;
}

static void* blocked_poller(void* arg) {
  (void)arg;
  struct pollfd p = {g_poll_pipe[0], POLLIN, 0};
  atomic_fetch_add(&g_blocked, 1);
  g_poll_result = poll(&p, 1, -1);
  g_poll_errno = g_poll_result < 0 ? errno : 0;
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  int sleep_ms = argc > 1 ? atoi(argv[1]) : 400;
  if (pipe(g_read_pipe) != 0 || pipe(g_poll_pipe) != 0) return 2;
  pthread_t r, s, p;
  pthread_create(&r, NULL, blocked_reader, NULL);
  pthread_create(&s, NULL, blocked_sleeper, &sleep_ms);
  pthread_create(&p, NULL, blocked_poller, NULL);
  while (atomic_load(&g_blocked) < 3) {
  }
  /* Race for at least as long as the sleeper sleeps, so the windows and
   * traps happen while all three are blocked. */
  tp_run_race(TP_SAMPLE_WRITER, sleep_ms + 50, sleep_ms + 3000, NULL);
  if (write(g_read_pipe[1], "12345678", 8) != 8) return 2;
  if (write(g_poll_pipe[1], "x", 1) != 1) return 2;
  pthread_join(r, NULL);
  pthread_join(s, NULL);
  pthread_join(p, NULL);
  printf("READ_RESULT=%zd\n", g_read_result);
  printf("READ_ERRNO=%d\n", g_read_errno);
  printf("NANOSLEEP_RESULT=%d\n", g_nanosleep_result);
  printf("NANOSLEEP_ERRNO=%d\n", g_nanosleep_errno);
  printf("POLL_RESULT=%d\n", g_poll_result);
  printf("POLL_ERRNO=%d\n", g_poll_errno);
  tp_print_stats();
  return 0;
}
