/* Label breakpoints under a low RLIMIT_NOFILE (issue 10, defect 5): each
 * thread's execution breakpoint is a perf event fd, kept in trapsan's
 * descriptor reserve, above the program's soft limit. Sets the soft limit
 * to 32 (the hard one kept) and re-executes itself; then 64 threads, started
 * together, each force an expiry and reach a label (so 64 label events are
 * opened at once) and hold their breakpoints while main counts how many
 * numbers it can still open. Prints SOFT, THREADS_SAMPLED, OPENED, EXPECTED
 * (every number but 0-2), LIMIT_AFTER (the soft limit, read again) and the
 * labels_* counters; SKIP=1 when the hard limit leaves no room above the
 * soft one. Run with the hw backend. */
#define _GNU_SOURCE 1
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <trapsan/compiler_abi.h>
#include <trapsan/trapsan.h>

void __trapsan_testonly_last_site_sample(uint64_t out[7]);

enum { kSoft = 32, kThreads = 64 };

long g_cells[512];

__attribute__((noinline)) void store(int i) { g_cells[i & 511] = i; }

/* Forces this thread's next check to expire and reports whether the label
 * it armed was reached (an access picked). */
static int sample_once(int i) {
  uint64_t before[7], after[7];
  __trapsan_testonly_last_site_sample(before);
  __trapsan_countdown = 1;
  store(i);
  __trapsan_testonly_last_site_sample(after);
  return after[4] != before[4] && after[0] == (uintptr_t)&g_cells[i & 511];
}

static pthread_barrier_t g_start, g_sampled, g_counted;

static void* worker(void* arg) {
  int i = (int)(intptr_t)arg;
  pthread_barrier_wait(&g_start);
  /* The first expiry of a thread only draws its countdown. */
  __trapsan_countdown = 1;
  store(i);
  intptr_t ok = sample_once(i);
  pthread_barrier_wait(&g_sampled); /* every breakpoint open now */
  pthread_barrier_wait(&g_counted);
  return (void*)ok;
}

int main(int argc, char** argv) {
  if (argc < 2 || strcmp(argv[1], "run") != 0) {
    struct rlimit l;
    if (getrlimit(RLIMIT_NOFILE, &l) != 0) return 2;
    if (l.rlim_max != RLIM_INFINITY && l.rlim_max < kSoft + 256) {
      printf("SKIP=1\n");
      return 0;
    }
    l.rlim_cur = kSoft;
    if (setrlimit(RLIMIT_NOFILE, &l) != 0) return 2;
    for (int fd = 3; fd < 1024; ++fd) {
      int flags = fcntl(fd, F_GETFD);
      if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    char* args[] = {argv[0], "run", NULL};
    execv("/proc/self/exe", args);
    return 2;
  }
  pthread_barrier_init(&g_start, NULL, kThreads);
  pthread_barrier_init(&g_sampled, NULL, kThreads + 1);
  pthread_barrier_init(&g_counted, NULL, kThreads + 1);
  pthread_t t[kThreads];
  for (int k = 0; k < kThreads; ++k)
    if (pthread_create(&t[k], NULL, worker, (void*)(intptr_t)k) != 0) return 3;
  pthread_barrier_wait(&g_sampled);
  int fds[kSoft];
  int opened = 0;
  while (opened < kSoft) {
    int fd = open("/dev/zero", O_RDONLY);
    if (fd < 0) break;
    fds[opened++] = fd;
  }
  for (int k = 0; k < opened; ++k) close(fds[k]);
  struct rlimit after;
  getrlimit(RLIMIT_NOFILE, &after);
  pthread_barrier_wait(&g_counted);
  int sampled = 0;
  for (int k = 0; k < kThreads; ++k) {
    void* r;
    pthread_join(t[k], &r);
    sampled += (int)(intptr_t)r;
  }
  printf("SOFT=%d\nTHREADS_SAMPLED=%d\nOPENED=%d\nEXPECTED=%d\n"
         "LIMIT_AFTER=%lu\n", kSoft, sampled, opened, kSoft - 3,
         (unsigned long)after.rlim_cur);
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("STAT_labels_reached=%lu\nSTAT_labels_unavailable=%lu\n",
         (unsigned long)s.labels_reached,
         (unsigned long)s.labels_unavailable);
  return 0;
}
