/* fork, vfork, posix_spawn and fork+exec in a storm, while two threads keep
 * running (and taking a lock): every child runs and is reaped, with the
 * status it exited with. Output is the same with and without trapsan.
 * Usage: spawn_storm [rounds] (default 100; each round starts 4 children). */
#define _GNU_SOURCE 1
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

static atomic_int g_stop;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static long g_shared;

static void* busy(void* arg) {
  (void)arg;
  while (!atomic_load(&g_stop)) {
    pthread_mutex_lock(&g_mu);
    g_shared++;
    pthread_mutex_unlock(&g_mu);
  }
  return NULL;
}

static int reap(pid_t pid) {
  int status;
  pid_t r;
  while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (r != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rounds = argc > 1 ? atoi(argv[1]) : 100;
  pthread_t t[2];
  for (int i = 0; i < 2; ++i) pthread_create(&t[i], NULL, busy, NULL);
  long sum_fork = 0, sum_vfork = 0, sum_spawn = 0, sum_exec = 0;
  int bad = 0;
  for (int i = 0; i < rounds; ++i) {
    int code = i % 50;
    pid_t p = fork();
    if (p == 0) {
      /* (Not g_mu: a busy thread of the parent's may hold it at the fork.) */
      char c = (char)code;
      if (write(1, &c, 0) != 0) _exit(99);
      _exit(code);
    }
    int s = reap(p);
    if (s != code) ++bad;
    sum_fork += s;

    char arg[32];
    snprintf(arg, sizeof arg, "exit %d", code + 1);
    char* sh_argv[] = {"sh", "-c", arg, NULL};
    p = vfork();
    if (p == 0) {
      execve("/bin/sh", sh_argv, environ);
      _exit(127);
    }
    s = reap(p);
    if (s != code + 1) ++bad;
    sum_vfork += s;

    snprintf(arg, sizeof arg, "exit %d", code + 2);
    if (posix_spawn(&p, "/bin/sh", NULL, NULL, sh_argv, environ) != 0) {
      ++bad;
    } else {
      s = reap(p);
      if (s != code + 2) ++bad;
      sum_spawn += s;
    }

    snprintf(arg, sizeof arg, "exit %d", code + 3);
    p = fork();
    if (p == 0) {
      execv("/bin/sh", sh_argv);
      _exit(127);
    }
    s = reap(p);
    if (s != code + 3) ++bad;
    sum_exec += s;
  }
  atomic_store(&g_stop, 1);
  for (int i = 0; i < 2; ++i) pthread_join(t[i], NULL);
  /* Nothing left to reap: no child of trapsan's is visible. */
  int left = 0;
  while (wait(NULL) > 0) ++left;
  printf("ROUNDS=%d\nFORK_SUM=%ld\nVFORK_SUM=%ld\nSPAWN_SUM=%ld\nEXEC_SUM=%ld\n",
         rounds, sum_fork, sum_vfork, sum_spawn, sum_exec);
  printf("BAD=%d\nLEFT=%d\nECHILD=%d\n", bad, left, errno == ECHILD);
  return bad == 0 ? 0 : 1;
}
