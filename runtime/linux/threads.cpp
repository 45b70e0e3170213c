#include "threads.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <new>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "runtime/preload/timer_sampling.h"
#include "runtime/core/counters.h"
#include "runtime/core/past_release.h"
#include "runtime/core/release.h"
#include "runtime/core/scoped_window.h"
#include "runtime/core/sync_state.h"
#include "runtime/core/thread_state.h"
#include "runtime/linux/breakpoints.h"
#include "runtime/linux/entries.h"
#include "runtime/linux/labels.h"
#include "runtime/linux/unwind.h"

namespace trapsan {

thread_local ThreadState t_thread __attribute__((tls_model("initial-exec")));

ThreadState& CurrentThread() {
  ThreadState& t = t_thread;
  if (t.tid == 0) t.tid = static_cast<int>(syscall(SYS_gettid));
  return t;
}

namespace {

// Finished threads kept for reports; older ones are forgotten.
constexpr size_t kMaxFinished = 1024;

struct Registry {
  std::mutex mu;  // A pthread mutex: it survives fork() (see fork handlers).
  std::map<uint32_t, ThreadRecord> by_id;     // guarded by mu
  std::map<int, uint32_t> running_by_tid;     // guarded by mu
  std::deque<uint32_t> finished;              // guarded by mu
  uint32_t next_id = 0;                       // guarded by mu
};

Registry& Threads() {
  static Registry* r = new Registry;  // Never destroyed: used at exit.
  return *r;
}

void StackBounds(uintptr_t* lo, uintptr_t* hi) {
  pthread_attr_t attr;
  *lo = *hi = 0;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  void* addr = nullptr;
  size_t size = 0;
  if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
    *lo = reinterpret_cast<uintptr_t>(addr);
    *hi = *lo + size;
  }
  pthread_attr_destroy(&attr);
}

std::string ReadComm(int tid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
  FILE* f = fopen(path, "re");
  if (f == nullptr) return "";
  char buf[64] = {};
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  return std::string(absl::StripTrailingAsciiWhitespace(std::string(buf, n)));
}

// A new thread number: T0, T1, ... in the order threads are created.
uint32_t NewThreadId() {
  Registry& r = Threads();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.next_id++;
}

// Adds the calling thread, numbered record.id; fills its ThreadState.
uint32_t RegisterSelf(ThreadRecord record) {
  ThreadState& t = CurrentThread();
  StackBounds(&record.stack_lo, &record.stack_hi);
  record.tid = t.tid;
  Registry& r = Threads();
  std::lock_guard<std::mutex> lock(r.mu);
  const uint32_t id = record.id;
  r.running_by_tid[record.tid] = id;
  r.by_id[id] = std::move(record);
  const ThreadRecord& stored = r.by_id[id];
  t.thread_id = stored.id;
  t.stack_lo = stored.stack_lo;
  t.stack_hi = stored.stack_hi;
  t.registered = true;
  return stored.id;
}

// The calling thread's name, without a file: prctl(PR_GET_NAME) reads the
// same comm as /proc/self/task/TID/comm (whose open, read and close were a
// quarter of the CPU time a short-lived thread cost).
std::string OwnName() {
  char buf[17] = {};
  if (prctl(PR_GET_NAME, buf, 0, 0, 0) != 0) return "";
  return buf;
}

// Called by the finishing thread itself, at its exit.
void MarkFinished(int tid) {
  std::string name = OwnName();
  Registry& r = Threads();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.running_by_tid.find(tid);
  if (it == r.running_by_tid.end()) return;
  uint32_t id = it->second;
  r.running_by_tid.erase(it);
  auto rec = r.by_id.find(id);
  if (rec != r.by_id.end()) {
    rec->second.name = std::move(name);
    rec->second.running = false;
  }
  r.finished.push_back(id);
  while (r.finished.size() > kMaxFinished) {
    r.by_id.erase(r.finished.front());
    r.finished.pop_front();
  }
}

// Marks the thread finished when it exits, however it exits.
pthread_key_t g_exit_key;
pthread_once_t g_exit_key_once = PTHREAD_ONCE_INIT;
void OnThreadExit(void* tid) {
  CloseHeldWindows(CloseReason::kExit);  // exit is a release (join)
  UnregisterSyncWord();  // core/past_release.h
  CloseScopedWindowsOfThread();  // a scope left by pthread_exit
  MarkFinished(static_cast<int>(reinterpret_cast<intptr_t>(tid)));
  CloseThreadLabel();
  StopThreadTimer();  // runtime/preload
}
void MakeExitKey() { pthread_key_create(&g_exit_key, OnThreadExit); }

struct StartArgs {
  void* (*fn)(void*);
  void* arg;
  ThreadRecord record;
};

// The trampoline's frame while it runs the thread function (0 otherwise):
// IsThreadFunctionFrame.
__thread uintptr_t t_thread_fn_caller_frame
    __attribute__((tls_model("initial-exec")));

// In a section of its own, so that its return address in the thread
// function's caller frame can be told apart (InThreadTrampoline): reports
// leave that frame out, as they did when the trampoline tail-called.
__attribute__((section("trapsan_thread_trampoline"), noinline)) void*
ThreadTrampoline(void* p) {
  StartArgs* start = static_cast<StartArgs*>(p);
  void* (*fn)(void*) = start->fn;
  void* arg = start->arg;
  bool instrumented_entry;  // linux/entries.h
  {
    InRuntime guard;
    instrumented_entry = IsInstrumentedEntry(reinterpret_cast<uintptr_t>(fn));
    // A thread can start with SIGTRAP blocked (pthread_attr_setsigmask_np,
    // or a mask set before trapsan started): our traps must get through.
    sigset_t trap;
    sigemptyset(&trap);
    sigaddset(&trap, SIGTRAP);
    pthread_sigmask(SIG_UNBLOCK, &trap, nullptr);
    RegisterSelf(std::move(start->record));
    // Only a thread whose start routine is instrumented (and the initial
    // thread, for main) can ever be outside: no other needs reading at a
    // release (core/past_release.h).
    if (instrumented_entry) RegisterSyncWord();
    delete start;
    pthread_once(&g_exit_key_once, MakeExitKey);
    pthread_setspecific(
        g_exit_key,
        reinterpret_cast<void*>(static_cast<intptr_t>(t_thread.tid)));
    Count(Stats().threads_created);
    StartThreadTimer();  // runtime/preload (preload_timer=tick)
  }
  // Not a tail call: the thread function returns here, and a held window's
  // exit linger (release.h) runs at its return, before glibc's exit path.
  // The sync-state word (core/sync_state.h): an instrumented start routine
  // runs "outside" from its entry; after it the thread is inside again
  // (this code and glibc's exit path are not instrumented).
  t_thread_fn_caller_frame =
      reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  if (instrumented_entry) __trapsan_sync_state |= kSyncOutside;
  void* result = fn(arg);
  __trapsan_sync_state = (__trapsan_sync_state | kSyncOutside) + 1;
  __asm__ __volatile__("" : : "r"(result) : "memory");
  t_thread_fn_caller_frame = 0;
  return result;
}

using PthreadCreateFn = int (*)(pthread_t*, const pthread_attr_t*,
                                void* (*)(void*), void*);

PthreadCreateFn RealPthreadCreate() {
  static PthreadCreateFn fn = reinterpret_cast<PthreadCreateFn>(
      dlsym(RTLD_NEXT, "pthread_create"));
  return fn;
}

}  // namespace

extern "C" const char __start_trapsan_thread_trampoline[]
    __attribute__((visibility("hidden")));
extern "C" const char __stop_trapsan_thread_trampoline[]
    __attribute__((visibility("hidden")));

bool InThreadTrampoline(uintptr_t pc) {
  return pc >= reinterpret_cast<uintptr_t>(__start_trapsan_thread_trampoline) &&
         pc < reinterpret_cast<uintptr_t>(__stop_trapsan_thread_trampoline);
}

bool IsThreadFunctionFrame(uintptr_t rbp, uintptr_t sp) {
  const uintptr_t caller = t_thread_fn_caller_frame;
  if (caller == 0 || rbp % sizeof(uintptr_t) != 0 || rbp < sp ||
      rbp >= caller) {
    return false;
  }
  // Mapped: between the stack pointer and a frame of this thread's stack.
  return *reinterpret_cast<const uintptr_t*>(rbp) == caller;
}

void RegisterInitialThreads(bool (*adopt)(int tid, std::string* why),
                            int* adopted, int* failed, std::string* why) {
  *adopted = *failed = 0;
  RealPthreadCreate();  // Resolve before any thread needs it.
  if (!t_thread.registered) {
    ThreadRecord self;
    self.id = NewThreadId();
    self.is_initial = true;
    self.name = ReadComm(CurrentThread().tid);
    RegisterSelf(std::move(self));
    RegisterSyncWord();  // main's (core/past_release.h)
  }
  // Threads that exist already. Re-scan until no new one shows up: a thread
  // may be creating others while we adopt it.
  for (int round = 0; round < 8; ++round) {
    DIR* dir = opendir("/proc/self/task");
    if (dir == nullptr) return;
    int found = 0;
    while (dirent* e = readdir(dir)) {
      int tid = 0;
      if (!absl::SimpleAtoi(e->d_name, &tid) || tid == t_thread.tid) continue;
      Registry& r = Threads();
      {
        std::lock_guard<std::mutex> lock(r.mu);
        if (r.running_by_tid.count(tid)) continue;
        ThreadRecord rec;
        rec.id = r.next_id++;
        rec.tid = tid;
        rec.existed_before_init = true;
        rec.name = ReadComm(tid);
        r.running_by_tid[tid] = rec.id;
        r.by_id[rec.id] = rec;
      }
      ++found;
      if (adopt != nullptr) {
        if (adopt(tid, why)) {
          ++*adopted;
        } else {
          ++*failed;
        }
      }
    }
    closedir(dir);
    if (found == 0) break;
  }
}

bool FindThreadByTid(int tid, ThreadRecord* out) {
  Registry& r = Threads();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.running_by_tid.find(tid);
  if (it != r.running_by_tid.end()) {
    *out = r.by_id[it->second];
    return true;
  }
  // A finished thread: the most recent one with that tid.
  for (auto rit = r.finished.rbegin(); rit != r.finished.rend(); ++rit) {
    auto rec = r.by_id.find(*rit);
    if (rec != r.by_id.end() && rec->second.tid == tid) {
      *out = rec->second;
      return true;
    }
  }
  return false;
}

bool FindThreadById(uint32_t id, ThreadRecord* out) {
  Registry& r = Threads();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.by_id.find(id);
  if (it == r.by_id.end()) return false;
  *out = it->second;
  return true;
}

bool FindStackOwner(uintptr_t addr, ThreadRecord* out) {
  Registry& r = Threads();
  std::lock_guard<std::mutex> lock(r.mu);
  for (const auto& [tid, id] : r.running_by_tid) {
    const ThreadRecord& rec = r.by_id[id];
    if (rec.stack_hi != 0 && addr >= rec.stack_lo && addr < rec.stack_hi) {
      *out = rec;
      return true;
    }
  }
  return false;
}

std::string ThreadName(const ThreadRecord& thread) {
  if (thread.running) {
    std::string name = ReadComm(thread.tid);
    if (!name.empty()) return name;
  }
  return thread.name;
}

void LockThreadsForFork() { Threads().mu.lock(); }
void UnlockThreadsAfterFork() { Threads().mu.unlock(); }

void ResetThreadsInChild() {
  Registry& r = Threads();
  t_thread.tid = static_cast<int>(syscall(SYS_gettid));
  ThreadRecord self;
  auto it = r.by_id.find(t_thread.thread_id);
  if (it != r.by_id.end()) self = it->second;
  self.tid = t_thread.tid;
  self.running = true;
  r.running_by_tid.clear();
  r.running_by_tid[self.tid] = self.id;
  r.by_id[self.id] = self;
  ResetSyncWordsInChild();
  pthread_setspecific(g_exit_key,
                      reinterpret_cast<void*>(static_cast<intptr_t>(self.tid)));
  // Taken by LockThreadsForFork() in the parent; a fresh one here.
  new (&r.mu) std::mutex();
}

}  // namespace trapsan

// --- pthread_create, interposed. ---

extern "C" __attribute__((visibility("default"))) int pthread_create(
    pthread_t* thread, const pthread_attr_t* attr, void* (*fn)(void*),
    void* arg) {
  using namespace trapsan;
  PthreadCreateFn real = RealPthreadCreate();
  if (real == nullptr) return EAGAIN;
  InRuntime guard;
  StartTimerReporterOnce();  // runtime/preload: windows from now on
  auto* start = new StartArgs{fn, arg, {}};
  ThreadState& t = CurrentThread();
  if (!t.registered) {  // A thread that existed before init.
    ThreadRecord self;
    if (FindThreadByTid(t.tid, &self)) {
      t.thread_id = self.id;
      t.registered = true;
    }
  }
  start->record.parent_id = t.thread_id;
  // Numbered here, not when it starts running: T1 is the first created.
  start->record.id = NewThreadId();
  CaptureStack(reinterpret_cast<uintptr_t>(__builtin_return_address(0)),
               &start->record.creation);
  // No arm or disarm may be in flight while the kernel clones the events.
  LockForThreadCreation();
  int rc = real(thread, attr, ThreadTrampoline, start);
  UnlockForThreadCreation();
  if (rc != 0) delete start;
  return rc;
}
