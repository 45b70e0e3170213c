// Behaviour under timer sampling: fork, exec, signals and blocking system
// calls must print the same output and exit status with and without trapsan.
// Every blocking call that returns EINTR says so (a program without signals
// of its own never sees one: trapsan's timer must not make it see any).
//   behaviour            all phases
//   behaviour child N    (exec'd by the exec phase) prints N, exits N
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// User-mode CPU time, which the timer samples (on the stack: no race).
static void Spin(long n) {
  volatile long sink = 0;
  for (long i = 0; i < n; ++i) sink += i;
}

static int eintr_count;
static void Check(const char* what, long rc) {
  if (rc < 0 && errno == EINTR) {
    printf("EINTR in %s\n", what);
    eintr_count++;
  }
}

static int pipe_fds[2];
// Rounds the poker has finished (a futex word the main thread waits on).
static unsigned futex_word;

// Writes a byte to the pipe and wakes the futex after spinning a while, so
// that the main thread blocks in each call with a busy thread beside it.
static void* Poker(void* arg) {
  long rounds = (long)arg;
  for (long r = 0; r < rounds; ++r) {
    Spin(200000);
    char c = 'x';
    if (write(pipe_fds[1], &c, 1) != 1) abort();
    Spin(200000);
    __atomic_add_fetch(&futex_word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  }
  return NULL;
}

static void BlockingCalls(long rounds) {
  if (pipe(pipe_fds) != 0) abort();
  pthread_t poker;
  pthread_create(&poker, NULL, Poker, (void*)rounds);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = pipe_fds[0]};
  epoll_ctl(ep, EPOLL_CTL_ADD, pipe_fds[0], &ev);
  long got = 0;
  for (long r = 0; r < rounds; ++r) {
    // poll, epoll_wait and select until the byte is there, then read it.
    struct pollfd p = {.fd = pipe_fds[0], .events = POLLIN};
    Check("poll", poll(&p, 1, -1));
    struct epoll_event out;
    Check("epoll_wait", epoll_wait(ep, &out, 1, -1));
    fd_set set;
    FD_ZERO(&set);
    FD_SET(pipe_fds[0], &set);
    Check("select", select(pipe_fds[0] + 1, &set, NULL, NULL, NULL));
    char c;
    long n = read(pipe_fds[0], &c, 1);
    Check("read", n);
    if (n == 1) got++;
    // futex: wait until the poker finished this round.
    unsigned seen;
    while ((seen = __atomic_load_n(&futex_word, __ATOMIC_ACQUIRE)) <=
           (unsigned)r) {
      long rc = syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, seen,
                        NULL, NULL, 0);
      if (rc < 0 && errno == EAGAIN) continue;  // it moved on meanwhile
      Check("futex", rc);
    }
    struct timespec ts = {0, 200000};
    Check("nanosleep", nanosleep(&ts, NULL));
    if (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL) == EINTR) {
      printf("EINTR in clock_nanosleep\n");
      eintr_count++;
    }
  }
  pthread_join(poker, NULL);
  close(ep);
  printf("blocking: %ld bytes, %d EINTR\n", got, eintr_count);
}

static volatile sig_atomic_t usr1_seen, alarms_seen;
static void OnUsr1(int sig) { (void)sig; usr1_seen++; }
static void OnAlarm(int sig) { (void)sig; alarms_seen++; }

static void Signals(void) {
  signal(SIGUSR1, OnUsr1);
  for (int i = 0; i < 50; ++i) {
    raise(SIGUSR1);
    Spin(10000);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnAlarm;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 1000}, {0, 1000}};
  setitimer(ITIMER_REAL, &it, NULL);
  while (alarms_seen < 20) Spin(1000);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigprocmask(SIG_BLOCK, &block, &old);
  raise(SIGUSR1);
  sigset_t pending;
  sigpending(&pending);
  int was_pending = sigismember(&pending, SIGUSR1);
  sigprocmask(SIG_SETMASK, &old, NULL);
  printf("signals: usr1 %d, alarms >= 20: %d, pending while blocked %d\n",
         (int)usr1_seen, alarms_seen >= 20, was_pending);
}

static void ForkAndExec(const char* self) {
  for (int i = 0; i < 5; ++i) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      Spin(100000);
      _exit(10 + i);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("fork %d: exit %d\n", i, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    execl(self, self, "child", "7", (char*)NULL);
    _exit(127);
  }
  int status;
  waitpid(pid, &status, 0);
  printf("exec: exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "child") == 0) {
    Spin(100000);
    printf("child %s\n", argv[2]);
    return atoi(argv[2]);
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  BlockingCalls(argc > 1 ? atol(argv[1]) : 100);
  Signals();
  ForkAndExec(argv[0]);
  return 3;
}
