#include "soft_sites.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>

#include "runtime/core/soft_watch.h"
#include "runtime/core/thread_state.h"

namespace trapsan {
namespace {

// A thread whose sites reached the runtime: where its countdown is.
struct SoftSiteThread {
  int32_t* countdown;
  int index;         // in g_threads (valid when registered)
  bool registered;
  bool exiting;      // its key's destructor ran: never again
  bool conflicted;   // recorded a conflict in this generation
  uint64_t generation;  // the soft windows' generation counted below
  uint32_t site_checks, label_checks;
};

thread_local SoftSiteThread t_soft
    __attribute__((tls_model("initial-exec"))) = {nullptr, -1, false, false,
                                                  false,   0,  0,     0};

// The registered threads: a SoftSiteThread*, bit 0 set while the watcher
// writes through it (the thread's exit waits for that to end before its
// TLS goes away).
constexpr int kMaxThreads = 1024;
std::atomic<uintptr_t> g_threads[kMaxThreads];
std::atomic<int> g_high{0};  // entries used so far (scan bound)

void Unregister(void*) {
  SoftSiteThread& t = t_soft;
  t.exiting = true;
  if (!t.registered) return;
  std::atomic<uintptr_t>& entry = g_threads[t.index];
  const uintptr_t self = reinterpret_cast<uintptr_t>(&t);
  for (;;) {
    uintptr_t v = entry.load(std::memory_order_acquire);
    // Ours, or ours held by the watcher (bit 0): a held entry must be
    // waited for, never left behind (the watcher would store it back and
    // later write through this TLS once the thread's stack is gone).
    if ((v & ~uintptr_t{1}) != self) break;  // (reset after fork)
    if (v == self &&
        entry.compare_exchange_weak(v, 0, std::memory_order_acq_rel))
      break;
    sched_yield();  // the watcher is writing our countdown: a moment
  }
  t.registered = false;
}

pthread_key_t ExitKey() {
  static const pthread_key_t key = [] {
    pthread_key_t k;
    if (pthread_key_create(&k, Unregister) != 0) k = pthread_key_t(-1);
    return k;
  }();
  return key;
}

void Register(SoftSiteThread& t) {
  if (t.registered || t.exiting) return;
  const pthread_key_t key = ExitKey();
  if (key == pthread_key_t(-1)) return;
  const uintptr_t self = reinterpret_cast<uintptr_t>(&t);
  for (int i = 0; i < kMaxThreads; ++i) {
    uintptr_t expected = 0;
    if (g_threads[i].load(std::memory_order_relaxed) != 0) continue;
    t.countdown = &Countdown();
    t.index = i;
    if (!g_threads[i].compare_exchange_strong(expected, self,
                                              std::memory_order_acq_rel))
      continue;
    t.registered = true;
    int high = g_high.load(std::memory_order_relaxed);
    while (high < i + 1 &&
           !g_high.compare_exchange_weak(high, i + 1,
                                         std::memory_order_relaxed)) {
    }
    pthread_setspecific(key, &t);  // (non-null: the destructor runs)
    return;
  }
  t.exiting = true;  // no room: this thread is never forced
}

// Whether this thread may make one more check of this kind in the current
// window generation (and counts it).
bool MayCheck(SoftSiteThread& t, bool label_check, bool count) {
  const uint64_t generation = SoftWindowGeneration();
  if (t.generation != generation) {
    t.generation = generation;
    t.site_checks = t.label_checks = 0;
    t.conflicted = false;
  }
  uint32_t& used = label_check ? t.label_checks : t.site_checks;
  const uint32_t limit =
      label_check ? kMaxLabelChecksPerWindow : kMaxSiteChecksPerWindow;
  if (t.conflicted || used >= limit) return false;
  if (count) ++used;
  return true;
}

}  // namespace

SoftSiteAction SoftSiteEntry(bool label_check, int32_t* countdown) {
  SoftSiteThread& t = t_soft;
  Register(t);
  if (*countdown >= kSoftBiased) return SoftSiteAction::kNormal;
  const int32_t real = *countdown + kSoftBias;
  if (!SoftWindowsOpen() || !MayCheck(t, label_check, /*count=*/true)) {
    *countdown = real;
    return real <= 0 ? SoftSiteAction::kNormal : SoftSiteAction::kResume;
  }
  if (real <= 0) {
    *countdown = real;  // the sample refills it; AfterSample biases it
    return SoftSiteAction::kCheckAndSample;
  }
  return SoftSiteAction::kCheck;
}

void SoftSiteAfterSample(int32_t* countdown) {
  if (!SoftWindowsOpen() || !SoftBiasable(*countdown)) return;
  SoftSiteThread& t = t_soft;
  if (!MayCheck(t, false, /*count=*/false)) return;
  *countdown -= kSoftBias;
}

void SoftSiteConflictRecorded() { t_soft.conflicted = true; }

void ForcePluginSiteChecks() {
  const uintptr_t self = reinterpret_cast<uintptr_t>(&t_soft);
  const int high = g_high.load(std::memory_order_relaxed);
  for (int i = 0; i < high; ++i) {
    uintptr_t v = g_threads[i].load(std::memory_order_acquire);
    if (v == 0 || (v & 1) != 0 || v == self) continue;
    if (!g_threads[i].compare_exchange_strong(v, v | 1,
                                              std::memory_order_acquire))
      continue;
    // Biased once: a countdown biased already (this thread is checking)
    // stays as it is, and so does one too large to bias (SoftBiasable).
    // The thread's own `subl` is not atomic: it may undo this (then it is
    // not forced this time).
    int32_t* countdown = reinterpret_cast<SoftSiteThread*>(v)->countdown;
    int32_t c = __atomic_load_n(countdown, __ATOMIC_RELAXED);
    while (SoftBiasable(c) &&
           !__atomic_compare_exchange_n(countdown, &c, c - kSoftBias, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    g_threads[i].store(v, std::memory_order_release);
  }
}

int RegisteredSoftSiteThreads() {
  int n = 0;
  const int high = g_high.load(std::memory_order_acquire);
  for (int i = 0; i < high; ++i)
    n += g_threads[i].load(std::memory_order_acquire) != 0;
  return n;
}

void ResetSoftSitesInChild() {
  for (auto& entry : g_threads) entry.store(0, std::memory_order_relaxed);
  g_high.store(0, std::memory_order_relaxed);
  // The forking thread is the child's only one: registered again (its TLS
  // is the same), the others' entries dropped.
  SoftSiteThread& t = t_soft;
  t.registered = false;
  if (Countdown() < kSoftBiased) Countdown() += kSoftBias;
  if (!t.exiting) Register(t);
}

}  // namespace trapsan
