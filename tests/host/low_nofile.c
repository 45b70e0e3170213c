/* Runs under RLIMIT_NOFILE=16 (soft and hard, as `ulimit -n 16`): sets it
 * and re-executes itself, so that whatever starts with the program starts
 * under it; counts the descriptors it can open, uses them from threads, and
 * counts again. Output is the same with and without trapsan.
 * Usage: low_nofile [limit] (default 16) */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int g_fds[64];
static int g_n;

static void* reader(void* arg) {
  long i = (long)arg;
  char c;
  return (void*)(long)read(g_fds[i], &c, 1);  /* /dev/zero: 1 byte */
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2 || strcmp(argv[1], "run") != 0) {
    rlim_t limit = argc > 1 ? (rlim_t)atol(argv[1]) : 16;
    struct rlimit l = {limit, limit};
    if (setrlimit(RLIMIT_NOFILE, &l) != 0) return 2;
    /* Only 0-2 survive into the run (an inherited extra would make the
     * count depend on the caller, not on trapsan). */
    for (int fd = 3; fd < (int)limit; ++fd) {
      int flags = fcntl(fd, F_GETFD);
      if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    char* args[] = {argv[0], "run", NULL};
    execv("/proc/self/exe", args);
    return 2;
  }
  for (int round = 0; round < 2; ++round) {
    g_n = 0;
    while (g_n < 64) {
      int fd = open("/dev/zero", O_RDONLY);
      if (fd < 0) {
        printf("ROUND%d_ERRNO=%s\n", round, strerror(errno));
        break;
      }
      g_fds[g_n++] = fd;
    }
    printf("ROUND%d_OPENED=%d\n", round, g_n);
    long ok = 0;
    for (long i = 0; i < g_n; ++i) {
      pthread_t t;
      void* r;
      if (pthread_create(&t, NULL, reader, (void*)i) != 0) continue;
      pthread_join(t, &r);
      ok += (long)r;
    }
    printf("ROUND%d_READ=%ld\n", round, ok);
    for (int i = 0; i < g_n; ++i) close(g_fds[i]);
  }
  return 0;
}
