// Runs a command N times, one after another (posix_spawn, stdout and
// stderr to /dev/null), and prints what a run cost on average:
//   wall_ms=... cpu_ms=... maxrss_kb=... minflt=...
// CPU time is the children's user + system time (wait4's rusage); max RSS
// the largest of the runs. Usage: spawn_cost N command [args...]
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

static double Seconds(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: spawn_cost N command [args...]\n");
    return 2;
  }
  const int n = atoi(argv[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  double cpu = 0;
  long maxrss = 0, minflt = 0;
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (int i = 0; i < n; i++) {
    pid_t pid;
    if (posix_spawn(&pid, argv[2], &actions, NULL, argv + 2, environ) != 0) {
      perror("posix_spawn");
      return 1;
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) return 1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "%s failed (status 0x%x)\n", argv[2], status);
      return 1;
    }
    cpu += Seconds(ru.ru_utime) + Seconds(ru.ru_stime);
    if (ru.ru_maxrss > maxrss) maxrss = ru.ru_maxrss;
    minflt += ru.ru_minflt;
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  const double wall = (double)(end.tv_sec - start.tv_sec) +
                      (double)(end.tv_nsec - start.tv_nsec) / 1e9;
  printf("wall_ms=%.3f cpu_ms=%.3f maxrss_kb=%ld minflt=%ld\n", wall / n * 1e3,
         cpu / n * 1e3, maxrss, minflt / n);
  return 0;
}
