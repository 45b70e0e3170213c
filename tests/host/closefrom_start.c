/* Closes every descriptor from 3 on first thing in main (as daemons and
 * process supervisors do: closefrom/close_range), then uses descriptors as
 * any program would: files, pipes between threads, a forked child, dup2 onto
 * high numbers. Output is the same with and without trapsan (whose own
 * descriptors were closed under it). Usage: closefrom_start */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int g_pipe[2];

static void* writer(void* arg) {
  (void)arg;
  for (int i = 0; i < 1000; ++i) {
    char c = (char)('a' + i % 26);
    if (write(g_pipe[1], &c, 1) != 1) break;
  }
  close(g_pipe[1]);
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* close_range(3, ~0U, 0), or the loop closefrom() falls back to. */
  if (syscall(SYS_close_range, 3, ~0U, 0) != 0) {
    for (int fd = 3; fd < 65536; ++fd) close(fd);
  }
  /* The lowest numbers are the program's again. */
  char path[] = "/tmp/trapsan-host-closefrom-XXXXXX";
  int f = mkstemp(path);
  printf("FIRST_FD=%d\n", f);
  unlink(path);
  for (int i = 0; i < 100; ++i) {
    char line[32];
    int n = snprintf(line, sizeof line, "line %d\n", i);
    if (write(f, line, (size_t)n) != n) printf("WRITE_FAILED\n");
  }
  lseek(f, 0, SEEK_SET);
  char buf[4096];
  ssize_t got = read(f, buf, sizeof buf);
  printf("FILE_BYTES=%zd\n", got);
  if (pipe(g_pipe) != 0) return 1;
  printf("PIPE_FDS=%d,%d\n", g_pipe[0], g_pipe[1]);
  pthread_t t;
  pthread_create(&t, NULL, writer, NULL);
  long sum = 0, count = 0;
  char c;
  ssize_t r;
  while ((r = read(g_pipe[0], &c, 1)) != 0) {
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    sum += c;
    ++count;
  }
  pthread_join(t, NULL);
  printf("PIPE_COUNT=%ld\nPIPE_SUM=%ld\n", count, sum);
  int high = dup2(f, 200);
  printf("DUP2=%d\n", high);
  pid_t p = fork();
  if (p == 0) {
    /* The child sees the same descriptors. */
    _exit(fcntl(200, F_GETFD) >= 0 && fcntl(f, F_GETFD) >= 0 ? 7 : 1);
  }
  int status = 0;
  waitpid(p, &status, 0);
  printf("CHILD=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  int again = open("/dev/null", O_RDONLY);
  printf("NEXT_FD=%d\n", again);
  return 0;
}
