/* Label sites' execution breakpoints are per thread: each thread opens its
 * own when one of its checks first expires, and closes it when it exits;
 * a fork child opens a fresh one (the inherited fd is its parent thread's).
 * 300 short threads each force an expiry and reach the label; then the
 * process's open fds are counted (a leak would leave ~300), and a child
 * samples at a label too. Prints THREADS_SAMPLED, FDS, CHILD_SAMPLED, and
 * the labels_* counters. Run with the hw backend. */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <trapsan/compiler_abi.h>
#include <trapsan/trapsan.h>

void __trapsan_testonly_last_site_sample(uint64_t out[7]);

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

static void* worker(void* arg) {
  int i = (int)(intptr_t)arg;
  /* The first expiry of a thread only draws its countdown. */
  __trapsan_countdown = 1;
  store(i);
  return (void*)(intptr_t)sample_once(i);
}

static int count_fds(void) {
  DIR* d = opendir("/proc/self/fd");
  int n = 0;
  if (d == NULL) return -1;
  while (readdir(d) != NULL) ++n;
  closedir(d);
  return n - 3; /* ".", "..", the DIR's own fd */
}

int main(void) {
  int sampled = 0;
  for (int round = 0; round < 100; ++round) {
    pthread_t t[3];
    for (int k = 0; k < 3; ++k)
      pthread_create(&t[k], NULL, worker, (void*)(intptr_t)(round * 3 + k));
    for (int k = 0; k < 3; ++k) {
      void* r;
      pthread_join(t[k], &r);
      sampled += (int)(intptr_t)r;
    }
  }
  printf("THREADS_SAMPLED=%d\nFDS=%d\n", sampled, count_fds());
  __trapsan_countdown = 1;
  store(0);
  int main_sampled = sample_once(1);
  printf("MAIN_SAMPLED=%d\n", main_sampled);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) _exit(sample_once(2) && sample_once(3) ? 0 : 1);
  int status = 0;
  waitpid(pid, &status, 0);
  printf("CHILD_SAMPLED=%d\n", WIFEXITED(status) && WEXITSTATUS(status) == 0);
  printf("PARENT_AFTER_FORK_SAMPLED=%d\n", sample_once(4));
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("STAT_labels_armed=%lu\nSTAT_labels_reached=%lu\n"
         "STAT_labels_unavailable=%lu\n",
         (unsigned long)s.labels_armed, (unsigned long)s.labels_reached,
         (unsigned long)s.labels_unavailable);
  return 0;
}
