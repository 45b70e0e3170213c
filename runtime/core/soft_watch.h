// Soft watchpoints (KCSAN-style): while a window is open without a hardware
// watchpoint (backend=soft, or an arming that failed), the instrumented
// accesses of other threads check it themselves.
//
// Every instrumented entry point (the __tsan_* ABI, trapsan_check_read/write)
// loads one process-wide word, g_soft_windows_open, before its sampling
// countdown. It is 0 unless a soft window is open, so the check costs one
// load and a predicted branch (docs/performance.md). When it is set, the
// access goes to SoftWatchAccess(): compare its bytes and kind with the open
// windows (the slots' published ranges, read lock-free); on a conflict with
// another thread's window (one side writing), capture this thread's stack in
// ordinary context and record it in the conflict table against that window,
// whose watcher then reports the race once, with both stacks.
//
// Accesses the sampler would not sample are not checked either: inside
// trapsan, AnnotateIgnoreReads/Writes regions, benign ranges. Atomic
// operations never reach an entry point that checks.
//
// With a hardware watchpoint armed, the window is not soft: the watchpoint
// catches every access (instrumented or not) with its exact instruction, and
// no soft check runs against it, so a race is never recorded twice.
#ifndef TRAPSAN_RUNTIME_CORE_SOFT_WATCH_H_
#define TRAPSAN_RUNTIME_CORE_SOFT_WATCH_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace trapsan {

// Soft windows open right now. Hidden (the runtime's visibility preset): a
// PC-relative load from every entry point of the shared library.
extern std::atomic<uint32_t> g_soft_windows_open;

// The check at every instrumented entry point: one relaxed load.
inline bool SoftWindowsOpen() {
  return __builtin_expect(
      g_soft_windows_open.load(std::memory_order_relaxed) != 0, 0);
}

// The slow path, in ordinary context. `return_address`, `access_pc` and
// `line` as for SampleAccess (sampler.h): a plugin site's check passes the
// access's line, so that the report names it, not the site's (a calling
// site's return address is the first instruction of its segment). True when the access conflicted with an open
// window and was recorded there (the caller then need not sample it: its
// window would find the same conflict).
bool SoftWatchAccess(const volatile void* addr, size_t size, bool is_write,
                     uintptr_t return_address, uintptr_t access_pc,
                     uint32_t line = 0);

// The entry points' form: check only while a soft window is open. A macro so
// that __builtin_return_address(0) is the entry point's own.
#define TRAPSAN_SOFT_WATCH(addr, size, is_write, pc)                       \
  (::trapsan::SoftWindowsOpen() &&                                         \
   ::trapsan::SoftWatchAccess(                                             \
       (addr), (size), (is_write),                                         \
       reinterpret_cast<uintptr_t>(__builtin_return_address(0)), (pc)))

// The window's side (window.cpp): a window without a hardware watchpoint is
// soft from SoftWindowOpened() (after its range and active_cookie are
// published) to SoftWindowClosed() (before its conflicts are taken).
// `force_plugin_sites`: make plugin sites check it (linux/soft_sites.h); a
// signal handler's window does not (that locks the sites' thread table).
void SoftWindowOpened(bool force_plugin_sites = true);
void SoftWindowClosed();
void ResetSoftWindows();  // after fork, in the single-threaded child

// Bumped each time a soft window opens: a thread's checks are bounded per
// (thread, generation) (linux/soft_sites.h).
uint64_t SoftWindowGeneration();

// The cookie of an open window on bytes [addr, addr + size) when one of the
// two accesses writes, skipping `exclude` (the caller's own window); 0 if
// none. Also the sampler's software overlap check.
uint64_t ConflictingWindow(uintptr_t addr, size_t size, bool is_write,
                           uint64_t exclude = 0);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_SOFT_WATCH_H_
