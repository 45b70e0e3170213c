/* A program that closes every fd above 2 (as daemons and processes about to
 * exec do) and opens its own files, then runs instrumented code that samples
 * (label sites, windows). trapsan must not touch the program's files: this
 * program defines ioctl() (trapsan's calls bind to it) and counts the calls
 * on its own fds (FOREIGN_IOCTLS). Built by trapsan-cc -O2.
 * Prints PERF_FDS_AT_START (perf event fds open before the close),
 * FOREIGN_IOCTLS, PERF_FDS_AT_END, OWN_FILES_OK, SAMPLED, STAT_*. */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <trapsan/compiler_abi.h>
#include <trapsan/trapsan.h>

void __trapsan_testonly_last_site_sample(uint64_t out[7]);

enum { kOwnFiles = 24, kMaxFd = 1024 };
static volatile int g_own[kMaxFd];
static volatile int g_foreign_ioctls;

int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (fd >= 0 && fd < kMaxFd && g_own[fd])
    __atomic_fetch_add(&g_foreign_ioctls, 1, __ATOMIC_RELAXED);
  return (int)syscall(SYS_ioctl, fd, request, arg);
}

static int count_perf_fds(void) {
  DIR* d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  int n = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    char path[64], target[64];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len <= 0) continue;
    target[len] = '\0';
    n += strcmp(target, "anon_inode:[perf_event]") == 0;
  }
  closedir(d);
  return n;
}

/* Main's cells are 0-63, worker k's 64(k+1) to 64(k+1)+63: no race. */
long g_cells[192];
__attribute__((noinline)) void store(int i) { g_cells[i] = i; }

static int sample_once(int i) {
  uint64_t before[7], after[7];
  __trapsan_testonly_last_site_sample(before);
  __trapsan_countdown = 1;
  store(i);
  __trapsan_testonly_last_site_sample(after);
  return after[4] != before[4];
}

static void* worker(void* arg) {
  int sampled = 0;
  const int base = 64 * ((int)(intptr_t)arg + 1);
  for (int i = 0; i < 200; ++i) sampled += sample_once(base + i % 64);
  return (void*)(intptr_t)sampled;
}

int main(void) {
  printf("PERF_FDS_AT_START=%d\n", count_perf_fds());
  fflush(stdout);
  for (int fd = 3; fd < kMaxFd; ++fd) close(fd);
  int own[kOwnFiles];
  for (int k = 0; k < kOwnFiles; ++k) {
    own[k] = memfd_create("own", 0);
    if (own[k] < 0 || own[k] >= kMaxFd) return 1;
    g_own[own[k]] = 1;
    char c = (char)('a' + k);
    if (write(own[k], &c, 1) != 1) return 1;
  }
  __trapsan_countdown = 1; /* the first expiry only draws a countdown */
  store(0);
  int sampled = 0;
  for (int i = 0; i < 200; ++i) sampled += sample_once(i % 64);
  pthread_t t[2];
  for (int k = 0; k < 2; ++k)
    pthread_create(&t[k], NULL, worker, (void*)(intptr_t)k);
  for (int k = 0; k < 2; ++k) {
    void* r;
    pthread_join(t[k], &r);
    sampled += (int)(intptr_t)r;
  }
  int ok = 1;
  for (int k = 0; k < kOwnFiles; ++k) {
    char c = 0;
    ok &= pread(own[k], &c, 1, 0) == 1 && c == (char)('a' + k);
  }
  printf("FOREIGN_IOCTLS=%d\nPERF_FDS_AT_END=%d\nOWN_FILES_OK=%d\nSAMPLED=%d\n",
         g_foreign_ioctls, count_perf_fds(), ok, sampled);
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("STAT_windows=%lu\nSTAT_labels_reached=%lu\nSTAT_backend=%d\n",
         (unsigned long)s.windows, (unsigned long)s.labels_reached, s.backend);
  return 0;
}
