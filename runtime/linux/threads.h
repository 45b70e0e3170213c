// The thread registry: trapsan's thread numbers (T0, T1, ...), kernel tids,
// names, stack bounds and creation stacks, for reports. Threads enter it
// through the interposed pthread_create, or at init (the initializing thread,
// and threads that existed before init, which are adopted).
//
// Thread-safe. Not for signal handlers (they use ThreadState only).
#ifndef TRAPSAN_RUNTIME_LINUX_THREADS_H_
#define TRAPSAN_RUNTIME_LINUX_THREADS_H_

#include <cstdint>
#include <string>

#include "runtime/core/access.h"

namespace trapsan {

struct ThreadRecord {
  uint32_t id = 0;
  int tid = 0;
  uint32_t parent_id = 0;
  bool running = true;
  bool existed_before_init = false;  // no creation stack
  bool is_initial = false;           // the thread that initialized trapsan
  std::string name;
  StackTrace creation{};  // pthread_create's caller, innermost first
  uintptr_t stack_lo = 0, stack_hi = 0;
};

// At init: registers the calling thread as T0 and every other thread of the
// process as existing before init. When `adopt` is given, calls it for each
// of those (to give them watchpoints); a false return is reported by init.
void RegisterInitialThreads(bool (*adopt)(int tid, std::string* why),
                            int* adopted, int* failed, std::string* why);

bool FindThreadByTid(int tid, ThreadRecord* out);
bool FindThreadById(uint32_t id, ThreadRecord* out);
// The thread whose stack holds `addr`.
bool FindStackOwner(uintptr_t addr, ThreadRecord* out);

// Current name of a running thread (from /proc), else the recorded one.
std::string ThreadName(const ThreadRecord& thread);

// The release point whose frame pointer is `rbp` (the plugin's code keeps
// frame pointers) belongs to the thread function that trapsan's start
// trampoline called, so it is that function's return: `rbp` lies on the
// stack between `sp` (the point's stack) and the trampoline's frame, and
// the frame record there links to the trampoline's frame. Only ever a
// hint: release.cpp uses it to stall longer, never to skip a close.
bool IsThreadFunctionFrame(uintptr_t rbp, uintptr_t sp);

// Whether `pc` lies in trapsan's start trampoline (the frame between a
// thread function and start_thread): reports leave it out.
bool InThreadTrampoline(uintptr_t pc);

// fork(): the registry is locked across fork() so the child copies it whole;
// in the child only the calling thread survives, keeping its number.
void LockThreadsForFork();
void UnlockThreadsAfterFork();  // in the parent
void ResetThreadsInChild();     // in the child; unlocks too

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_THREADS_H_
