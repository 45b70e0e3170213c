/* Label sites' execution breakpoints are per thread: each thread opens its
 * own when one of its checks first expires, and closes it when it exits;
 * a fork child opens a fresh one (the inherited fd is its parent thread's).
 * 300 short threads each force an expiry and reach the label; then the
 * process's open fds are counted (a leak would leave ~300), and a child
 * forked while 5 more threads hold breakpoints closes theirs and samples at a
 * label too. Prints THREADS_SAMPLED, FDS, CHILD_FDS_CLOSED, CHILD_SAMPLED,
 * and the labels_* counters. Run with the hw backend. */
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

/* Threads that hold a breakpoint until main lets them go. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_holding, g_release;

static void* holder(void* arg) {
  worker(arg);
  pthread_mutex_lock(&g_mu);
  ++g_holding;
  pthread_cond_broadcast(&g_cv);
  while (!g_release) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  return NULL;
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
  pthread_t holders[5];
  for (int k = 0; k < 5; ++k)
    pthread_create(&holders[k], NULL, holder, (void*)(intptr_t)(1000 + k));
  pthread_mutex_lock(&g_mu);
  while (g_holding < 5) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  int pipefd[2];
  if (pipe(pipefd) != 0) return 1;
  const int parent_fds = count_fds();
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    int closed = parent_fds - count_fds();
    int ok = sample_once(2) && sample_once(3);
    if (write(pipefd[1], &closed, sizeof closed) != sizeof closed) _exit(2);
    _exit(ok ? 0 : 1);
  }
  int status = 0, closed = -1;
  if (read(pipefd[0], &closed, sizeof closed) != sizeof closed) closed = -1;
  waitpid(pid, &status, 0);
  printf("CHILD_FDS_CLOSED=%d\n", closed);
  printf("CHILD_SAMPLED=%d\n", WIFEXITED(status) && WEXITSTATUS(status) == 0);
  pthread_mutex_lock(&g_mu);
  g_release = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  for (int k = 0; k < 5; ++k) pthread_join(holders[k], NULL);
  printf("PARENT_AFTER_FORK_SAMPLED=%d\n", sample_once(4));
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("STAT_labels_armed=%lu\nSTAT_labels_reached=%lu\n"
         "STAT_labels_unavailable=%lu\n",
         (unsigned long)s.labels_armed, (unsigned long)s.labels_reached,
         (unsigned long)s.labels_unavailable);
  return 0;
}
