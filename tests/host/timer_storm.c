/* A timer signal every 200 us (SIGALRM, no SA_RESTART) while the program
 * blocks in calls that return EINTR: read from a pipe, nanosleep, poll,
 * sem_wait, pthread_cond_timedwait, waitpid. It retries as a correct program
 * does; what it prints does not depend on how often it was interrupted, and is
 * the same with and without trapsan. Usage: timer_storm [rounds] (default 200) */
#define _GNU_SOURCE 1
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_long g_ticks;
static int g_pipe[2];
static sem_t g_sem;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_flag;

static void on_alarm(int sig) {
  (void)sig;
  atomic_fetch_add(&g_ticks, 1);
}

static void* producer(void* arg) {
  int rounds = (int)(long)arg;
  for (int i = 0; i < rounds; ++i) {
    struct timespec ts = {0, 300000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    char c = (char)i;
    while (write(g_pipe[1], &c, 1) < 0 && errno == EINTR) {
    }
    sem_post(&g_sem);
    pthread_mutex_lock(&g_mu);
    g_flag = i + 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
  }
  return NULL;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rounds = argc > 1 ? atoi(argv[1]) : 200;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;  /* no SA_RESTART: calls fail with EINTR */
  sigaction(SIGALRM, &sa, NULL);
  if (pipe(g_pipe) != 0) return 1;
  sem_init(&g_sem, 0, 0);
  struct itimerval it = {{0, 200}, {0, 200}};
  setitimer(ITIMER_REAL, &it, NULL);
  pthread_t t;
  pthread_create(&t, NULL, producer, (void*)(long)rounds);
  long bytes = 0, sum = 0, sems = 0, polls = 0, waits = 0;
  for (int i = 0; i < rounds; ++i) {
    struct pollfd p = {g_pipe[0], POLLIN, 0};
    int r;
    while ((r = poll(&p, 1, 10000)) < 0 && errno == EINTR) {
    }
    if (r == 1) ++polls;
    char c;
    ssize_t n;
    while ((n = read(g_pipe[0], &c, 1)) < 0 && errno == EINTR) {
    }
    if (n == 1) {
      ++bytes;
      sum += (unsigned char)c;
    }
    while (sem_wait(&g_sem) != 0 && errno == EINTR) {
    }
    ++sems;
    pthread_mutex_lock(&g_mu);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    while (g_flag < i + 1) {
      if (pthread_cond_timedwait(&g_cv, &g_mu, &deadline) == ETIMEDOUT) break;
    }
    if (g_flag >= i + 1) ++waits;
    pthread_mutex_unlock(&g_mu);
  }
  pthread_join(t, NULL);
  /* A child that sleeps: waitpid under the storm. */
  pid_t child = fork();
  if (child == 0) {
    struct timespec ts = {0, 20000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    _exit(5);
  }
  int status = 0;
  pid_t w;
  while ((w = waitpid(child, &status, 0)) < 0 && errno == EINTR) {
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  printf("BYTES=%ld\nSUM=%ld\nPOLLS=%ld\nSEMS=%ld\nWAITS=%ld\n", bytes, sum,
         polls, sems, waits);
  printf("CHILD=%d\nTICKED=%d\n", w == child && WIFEXITED(status) ? WEXITSTATUS(status) : -1,
         atomic_load(&g_ticks) > 0);
  return 0;
}
