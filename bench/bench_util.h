// Helpers shared by trapsan's benchmarks (see docs/performance.md).
//
// trapsan reads TRAPSAN_OPTIONS once, when libtrapsan.so loads, before main()
// runs. A benchmark that needs particular options therefore sets them and
// re-executes itself (RunWithOptions); options the user gave in
// TRAPSAN_OPTIONS are appended, so they win (later options override earlier
// ones).
#ifndef TRAPSAN_BENCH_BENCH_UTIL_H_
#define TRAPSAN_BENCH_BENCH_UTIL_H_

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "trapsan/trapsan.h"

namespace trapsan_bench {

// Set in the re-executed process: its options are the ones wanted.
inline constexpr const char* kReexecMarker = "TRAPSAN_BENCH_REEXECUTED";

// Makes sure this process runs with `options` (plus the user's own
// TRAPSAN_OPTIONS appended): if it does not yet, re-executes the binary with
// the same arguments and does not return. Call first thing in main().
inline void RunWithOptions(char** argv, const std::string& options) {
  if (getenv(kReexecMarker) != nullptr) return;
  std::string all = options;
  if (const char* user = getenv("TRAPSAN_OPTIONS"); user && *user) {
    all += ":";
    all += user;
  }
  setenv("TRAPSAN_OPTIONS", all.c_str(), 1);
  setenv(kReexecMarker, "1", 1);
  execv("/proc/self/exe", argv);
  fprintf(stderr, "bench: re-exec of /proc/self/exe failed: %s\n",
          strerror(errno));
  exit(2);
}

inline uint64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<uint64_t>(ts.tv_nsec);
}

inline trapsan_stats Stats() {
  trapsan_stats s;
  trapsan_get_stats(&s);
  return s;
}

// after - before, counter by counter.
inline trapsan_stats StatsDelta(const trapsan_stats& before,
                                const trapsan_stats& after) {
  trapsan_stats d = after;
  d.checks_slow -= before.checks_slow;
  d.windows -= before.windows;
  d.skipped_no_slot -= before.skipped_no_slot;
  d.skipped_budget -= before.skipped_budget;
  d.skipped_reentrant -= before.skipped_reentrant;
  d.traps -= before.traps;
  d.traps_late -= before.traps_late;
  d.traps_self -= before.traps_self;
  d.traps_foreign -= before.traps_foreign;
  d.traps_dropped -= before.traps_dropped;
  d.races_found -= before.races_found;
  d.races_reported -= before.races_reported;
  d.races_unknown_origin -= before.races_unknown_origin;
  d.duplicates -= before.duplicates;
  d.window_ns -= before.window_ns;
  d.arm_ns -= before.arm_ns;
  d.budget_ns -= before.budget_ns;
  d.threads_created -= before.threads_created;
  return d;
}

// A value of /proc/self/status in KiB ("VmRSS", "RssAnon", ...); -1 if absent.
inline long StatusKiB(const char* field) {
  FILE* f = fopen("/proc/self/status", "re");
  if (f == nullptr) return -1;
  char line[256];
  long value = -1;
  size_t n = strlen(field);
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (strncmp(line, field, n) == 0 && line[n] == ':') {
      value = strtol(line + n + 1, nullptr, 10);
      break;
    }
  }
  fclose(f);
  return value;
}

// Restricts the calling thread to `cpu`; returns its previous CPU set in
// *old (if not null). False if that CPU is not available.
inline bool PinCurrentThread(int cpu, cpu_set_t* old = nullptr) {
  if (old != nullptr) {
    CPU_ZERO(old);
    pthread_getaffinity_np(pthread_self(), sizeof(*old), old);
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
    return false;
  }
  sched_yield();  // Let the migration happen now.
  return true;
}

// Background threads, created with pthread_create (so after trapsan's
// initialization they inherit its watchpoint events), with small stacks.
// Idle ones block on a condition variable (a futex wait: they exist, hold
// inherited events, but never run); busy ones spin on `stop_` until the
// destructor, so they are on a CPU when the window's ioctls reach them.
// With cpu >= 0, each thread first moves itself to that CPU, so the kernel
// records it as last run there.
class BackgroundThreads {
 public:
  BackgroundThreads(int count, bool busy, int cpu = -1)
      : busy_(busy), cpu_(cpu) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    threads_.reserve(count);
    for (int i = 0; i < count; ++i) {
      pthread_t t;
      if (pthread_create(&t, &attr, &BackgroundThreads::Main, this) != 0) {
        perror("bench: pthread_create");
        abort();
      }
      threads_.push_back(t);
    }
    pthread_attr_destroy(&attr);
    // Wait until every thread is parked (or spinning).
    std::unique_lock<std::mutex> lock(mu_);
    started_cv_.wait(lock, [&] { return started_ == count; });
  }

  ~BackgroundThreads() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (pthread_t t : threads_) pthread_join(t, nullptr);
  }

  BackgroundThreads(const BackgroundThreads&) = delete;
  BackgroundThreads& operator=(const BackgroundThreads&) = delete;

 private:
  static void* Main(void* p) {
    auto* self = static_cast<BackgroundThreads*>(p);
    if (self->cpu_ >= 0) PinCurrentThread(self->cpu_);
    std::unique_lock<std::mutex> lock(self->mu_);
    ++self->started_;
    self->started_cv_.notify_one();
    if (self->busy_) {
      lock.unlock();
      while (!self->stop_.load(std::memory_order_relaxed)) {
        __builtin_ia32_pause();
      }
    } else {
      self->cv_.wait(lock, [&] { return self->stop_.load(); });
    }
    return nullptr;
  }

  const bool busy_;
  const int cpu_;
  std::vector<pthread_t> threads_;
  std::mutex mu_;
  std::condition_variable cv_, started_cv_;
  int started_ = 0;
  std::atomic<bool> stop_{false};
};

}  // namespace trapsan_bench

#endif  // TRAPSAN_BENCH_BENCH_UTIL_H_
