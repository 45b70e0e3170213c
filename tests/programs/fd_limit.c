/* trapsan's descriptors under a low RLIMIT_NOFILE (issue 10, defect 5): the
 * program must get every number it would get without trapsan, and a report
 * made while the program holds every descriptor must still be clear (trapsan
 * prefixed messages, no raw absl line) and, where the limits leave trapsan a
 * reserve, name its functions.
 *
 * Usage: fd_limit <soft> <hard> [max_ms] [free]
 *   sets RLIMIT_NOFILE and re-executes itself, so that trapsan starts under
 *   the limit (as under `ulimit -n` or prlimit). Then:
 *   1. opens /dev/null until EMFILE: OPENED_START (and EXPECTED: the numbers
 *      free below the limit when it exec'd, that no trapsan held), closes them;
 *   2. opens until EMFILE again and, holding them all (not with `free`), runs
 *      a race (both sides checked: reported by every backend) until its first
 *      report;
 *   3. closes them: OPENED_AFTER, the numbers free after the report. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>

#include "common.h"
#include "race_kernel.h"

static int open_all(int* fds, int max) {
  int n = 0;
  while (n < max) {
    int fd = open("/dev/null", O_RDONLY);
    if (fd < 0) break;
    fds[n++] = fd;
  }
  return n;
}

static void close_all(const int* fds, int n) {
  for (int i = 0; i < n; ++i) close(fds[i]);
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  if (argc < 3) {
    fprintf(stderr, "usage: %s <soft> <hard> [max_ms]\n", argv[0]);
    return 2;
  }
  if (strcmp(argv[1], "run") != 0) {
    struct rlimit l = {(rlim_t)atol(argv[1]), (rlim_t)atol(argv[2])};
    if (setrlimit(RLIMIT_NOFILE, &l) != 0) {
      perror("setrlimit");
      return 2;
    }
    /* The numbers that stay taken across exec: 0-2 and any descriptor of
     * ours without close-on-exec. */
    int taken = 0;
    for (int fd = 0; fd < (int)l.rlim_cur; ++fd) {
      int flags = fcntl(fd, F_GETFD);
      if (flags >= 0 && !(flags & FD_CLOEXEC)) ++taken;
    }
    char expected[32];
    snprintf(expected, sizeof expected, "%d", (int)l.rlim_cur - taken);
    char* args[] = {argv[0], "run", expected, argc > 3 ? argv[3] : "5000",
                    argc > 4 ? argv[4] : "hold", NULL};
    execv("/proc/self/exe", args);
    perror("execv");
    return 2;
  }
  int max_ms = argc > 3 ? atoi(argv[3]) : 5000;
  printf("EXPECTED=%s\n", argv[2]);
  printf("BACKEND=%s\n", trapsan_backend());
  static int fds[1 << 16];
  int n = open_all(fds, 1 << 16);
  printf("OPENED_START=%d\n", n);
  close_all(fds, n);
  n = 0;
  if (argc <= 4 || strcmp(argv[4], "free") != 0) {
    n = open_all(fds, 1 << 16);
    printf("HELD_DURING_REPORT=%d ERRNO=%s\n", n, strerror(errno));
  }
  fflush(stdout);
  tp_run_race(TP_SAMPLE_BOTH, 0, max_ms, NULL);
  close_all(fds, n);
  n = open_all(fds, 1 << 16);
  printf("OPENED_AFTER=%d\n", n);
  close_all(fds, n);
  printf("DONE=1\n");
  return 0;
}
