/* dlopen/dlclose of a library, 30 times, with 4 threads running its code
 * (a fixed number of calls each) until just before every dlclose, while
 * sampling is active. The library is libhost_dlib_plain.so for the program
 * built _plain and libhost_dlib_plugin.so (built with the compiler plugin:
 * its sites, labels and notes come and go with it) for every other build,
 * host_dlopen_storm_late among them: a plain program for which trapsan
 * arrives with the library (a dependency of it) and must survive its
 * dlclose. Output is the same with and without trapsan.
 * Usage: dlopen_storm [rounds] (default 30) */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kThreads = 4, kCalls = 300, kWords = 256 };

typedef unsigned long (*work_fn)(unsigned long*, int, unsigned long);

struct worker {
  work_fn work;
  unsigned long seed, result;
  unsigned long buf[kWords];
};

static void* run(void* arg) {
  struct worker* w = arg;
  unsigned long r = 0;
  for (int i = 0; i < kCalls; ++i) r += w->work(w->buf, kWords, w->seed + (unsigned long)i);
  w->result = r;
  return NULL;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const int rounds = argc > 1 ? atoi(argv[1]) : 30;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return 2;
  exe[n] = 0;
  char* slash = strrchr(exe, '/');
  const size_t len = strlen(slash + 1);
  const int plain = len > 6 && strcmp(slash + 1 + len - 6, "_plain") == 0;
  *slash = 0;
  char lib[PATH_MAX + 64];
  snprintf(lib, sizeof lib, "%s/libhost_dlib_%s.so", exe, plain ? "plain" : "plugin");
  /* (No compiler plugin in this build: the plain library.) */
  if (access(lib, R_OK) != 0) snprintf(lib, sizeof lib, "%s/libhost_dlib_plain.so", exe);
  unsigned long total = 0;
  int closed = 0;
  for (int round = 0; round < rounds; ++round) {
    void* h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
      fprintf(stderr, "dlopen_storm: %s\n", dlerror());
      return 3;
    }
    work_fn work = (work_fn)dlsym(h, "host_dlib_work");
    if (work == NULL) return 4;
    static struct worker workers[kThreads];
    pthread_t threads[kThreads];
    for (int i = 0; i < kThreads; ++i) {
      memset(&workers[i], 0, sizeof workers[i]);
      workers[i].work = work;
      workers[i].seed = (unsigned long)(round * kThreads + i);
      pthread_create(&threads[i], NULL, run, &workers[i]);
    }
    for (int i = 0; i < kThreads; ++i) {
      pthread_join(threads[i], NULL);
      total += workers[i].result;
    }
    if (dlclose(h) == 0) ++closed;
  }
  printf("ROUNDS=%d\nCLOSED=%d\nTOTAL=%lu\n", rounds, closed, total);
  return 0;
}
