// Memory cost of trapsan: resident memory of the same small program without
// and with libtrapsan.so (LD_PRELOAD, default options), at start-up, after a
// few sampled windows, and as idle threads are added (1 to 256).
//
//   mem_bench            runs both probes and prints the comparison
//   mem_bench --probe    one probe: prints "stage rss anon file perf_events"
//
// RSS figures come from /proc/self/status (VmRSS = RssAnon + RssFile +
// RssShmem, in KiB). RssFile is mostly shared library code (libtrapsan.so and
// the Abseil libraries it loads), shared with other processes. The kernel
// side, not in RSS, is estimated from /proc/slabinfo: the perf_event objects
// (one per watchpoint slot and thread) alive system-wide.
// Target: <= 1 MiB plus a few KiB per thread.
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "bench_util.h"

#ifndef TRAPSAN_LIBRARY_PATH
#error "TRAPSAN_LIBRARY_PATH must name libtrapsan.so"
#endif

namespace {

using trapsan_bench::StatusKiB;

// perf_event objects alive system-wide and their size; -1 if unreadable.
void PerfEventSlab(long* active, long* objsize) {
  *active = *objsize = -1;
  FILE* f = fopen("/proc/slabinfo", "re");
  if (f == nullptr) return;
  char line[512];
  while (fgets(line, sizeof(line), f) != nullptr) {
    char name[64];
    long a, total, size;
    if (sscanf(line, "%63s %ld %ld %ld", name, &a, &total, &size) == 4 &&
        strcmp(name, "perf_event") == 0) {
      *active = a;
      *objsize = size;
      break;
    }
  }
  fclose(f);
}

void PrintStage(const char* stage) {
  long active, objsize;
  PerfEventSlab(&active, &objsize);
  printf("%s %ld %ld %ld %ld %ld\n", stage, StatusKiB("VmRSS"),
         StatusKiB("RssAnon"), StatusKiB("RssFile"), active, objsize);
  fflush(stdout);
}

int Probe() {
  PrintStage("start");
  // A million checks, if trapsan is loaded (about 50 windows at the default
  // sample_rate of 20000); the same loop without checks otherwise.
  using CheckFn = void (*)(const volatile void*, size_t);
  auto check = reinterpret_cast<CheckFn>(dlsym(RTLD_DEFAULT, "trapsan_check_write"));
  alignas(8) volatile uint64_t x = 0;
  for (int i = 0; i < 1000000; ++i) {
    if (check != nullptr) check(&x, sizeof(x));
    x = x + 1;
  }
  PrintStage("checks");
  std::vector<trapsan_bench::BackgroundThreads*> groups;
  int have = 0;
  for (int want : {1, 16, 64, 256}) {
    groups.push_back(new trapsan_bench::BackgroundThreads(want - have, false));
    have = want;
    PrintStage(("threads_" + std::to_string(want)).c_str());
  }
  for (auto* g : groups) delete g;
  return 0;
}

struct Row {
  long rss, anon, file, events, objsize;
};

std::map<std::string, Row> RunProbe(const std::string& self, bool trapsan) {
  std::string cmd = trapsan ? "env LD_PRELOAD=" TRAPSAN_LIBRARY_PATH " "
                            : "env -u LD_PRELOAD ";
  cmd += "'" + self + "' --probe";
  std::map<std::string, Row> rows;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return rows;
  char stage[64];
  Row r;
  while (fscanf(p, "%63s %ld %ld %ld %ld %ld", stage, &r.rss, &r.anon, &r.file,
                &r.events, &r.objsize) == 6) {
    rows[stage] = r;
  }
  int status = pclose(p);
  if (status != 0) {
    fprintf(stderr, "mem_bench: probe (%s) exited with status %d\n",
            trapsan ? "trapsan" : "plain", status);
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "--probe") == 0) return Probe();

  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len <= 0) {
    perror("mem_bench: readlink /proc/self/exe");
    return 2;
  }
  self[len] = '\0';
  auto plain = RunProbe(self, false);
  auto traps = RunProbe(self, true);
  const char* stages[] = {"start", "checks", "threads_1", "threads_16",
                          "threads_64", "threads_256"};
  for (const char* s : stages) {
    if (!plain.count(s) || !traps.count(s)) {
      fprintf(stderr, "mem_bench: a probe did not report stage %s\n", s);
      return 1;
    }
  }

  printf("Resident memory (KiB), same program without / with libtrapsan.so "
         "(default options)\n");
  printf("%-12s %9s %9s %9s | %9s %9s %9s | %9s %9s | %12s\n", "stage",
         "rss", "anon", "file", "rss+t", "anon+t", "file+t", "d_anon",
         "d_file", "perf_events");
  for (const char* s : stages) {
    const Row& a = plain[s];
    const Row& b = traps[s];
    printf("%-12s %9ld %9ld %9ld | %9ld %9ld %9ld | %9ld %9ld | %12ld\n", s,
           a.rss, a.anon, a.file, b.rss, b.anon, b.file, b.anon - a.anon,
           b.file - a.file, b.events - a.events);
  }
  const Row& p0 = plain["checks"];
  const Row& t0 = traps["checks"];
  const Row& p1 = plain["threads_256"];
  const Row& t1 = traps["threads_256"];
  const double per_thread_anon =
      static_cast<double>((t1.anon - t0.anon) - (p1.anon - p0.anon)) / 255.0;
  const double per_thread_rss =
      static_cast<double>((t1.rss - t0.rss) - (p1.rss - p0.rss)) / 255.0;
  printf("\nSummary (target: <= 1024 KiB + a few KiB per thread)\n");
  printf("  init, anonymous (heap, data, TLS):  %6ld KiB\n", t0.anon - p0.anon);
  printf("  init, file-backed (library code):   %6ld KiB  (shared pages)\n",
         t0.file - p0.file);
  printf("  per thread, anonymous:              %6.2f KiB\n", per_thread_anon);
  printf("  per thread, all RSS:                %6.2f KiB\n", per_thread_rss);
  if (t1.events >= 0 && t1.objsize > 0) {
    // System-wide count: other processes' events add noise.
    const double events_per_thread =
        static_cast<double>((t1.events - t0.events) - (p1.events - p0.events)) /
        255.0;
    printf("  per thread, kernel perf_event objects: %.2f x %ld B = %.2f KiB "
           "(system-wide slab count, not in RSS)\n",
           events_per_thread, t1.objsize,
           events_per_thread * static_cast<double>(t1.objsize) / 1024.0);
  }
  return 0;
}
