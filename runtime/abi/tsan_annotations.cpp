// ThreadSanitizer's annotation interfaces: compiler-rt's
// <sanitizer/tsan_interface.h> and the dynamic annotations (Annotate*, as
// Abseil, Chromium and Valgrind's headers declare them), so that code which
// calls them under -fsanitize=thread links against libtrapsan and runs.
//
// trapsan detects races by watching accesses that really overlap in time,
// without a happens-before model: the synchronization annotations (acquire,
// release, mutexes, condition variables, fibers) have nothing to add and are
// no-ops. What does change behavior (docs/tsan-abi.md):
//   - AnnotateBenignRace[Sized]: no window is opened on the range;
//   - AnnotateIgnoreReads/WritesBegin/End: the calling thread's reads /
//     writes are not sampled in between (nesting counts);
//   - __tsan_external_read/write: a sampled 1-byte access to the object.
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "trapsan/trapsan.h"

#include "runtime/core/sampler.h"
#include "runtime/core/soft_watch.h"
#include "runtime/core/thread_state.h"

using namespace trapsan;

namespace {

// Tags and fibers only need to be distinct non-null pointers.
std::atomic<uintptr_t> g_next_handle{1};
void* NewHandle() {
  return reinterpret_cast<void*>(
      g_next_handle.fetch_add(1, std::memory_order_relaxed) << 4);
}
thread_local void* t_fiber = nullptr;

void IgnoreReads(int delta) {
  uint32_t& n = CurrentThread().ignore_reads;
  if (delta > 0 || n > 0) n += delta;
}
void IgnoreWrites(int delta) {
  uint32_t& n = CurrentThread().ignore_writes;
  if (delta > 0 || n > 0) n += delta;
}

// A 1-byte sampled access to an "external" object; `caller_pc` (a return
// address, or null) names the access in the report.
// Checked against open soft windows first, as every other access.
void ExternalAccess(void* addr, void* caller_pc, bool is_write,
                    uintptr_t return_address) {
  const uintptr_t pc =
      caller_pc != nullptr ? reinterpret_cast<uintptr_t>(caller_pc) - 1 : 0;
  if (SoftWindowsOpen() &&
      SoftWatchAccess(addr, 1, is_write, return_address, pc)) {
    return;
  }
  if (!CountdownExpired()) return;
  SampleAccess(addr, 1, is_write, return_address, pc);
}

}  // namespace

extern "C" {

// --- <sanitizer/tsan_interface.h> ---
TRAPSAN_API void __tsan_acquire(void*) {}
TRAPSAN_API void __tsan_release(void*) {}
TRAPSAN_API void __tsan_mutex_create(void*, unsigned) {}
TRAPSAN_API void __tsan_mutex_destroy(void*, unsigned) {}
TRAPSAN_API void __tsan_mutex_pre_lock(void*, unsigned) {}
TRAPSAN_API void __tsan_mutex_post_lock(void*, unsigned, int) {}
TRAPSAN_API int __tsan_mutex_pre_unlock(void*, unsigned) { return 0; }
TRAPSAN_API void __tsan_mutex_post_unlock(void*, unsigned) {}
TRAPSAN_API void __tsan_mutex_pre_signal(void*, unsigned) {}
TRAPSAN_API void __tsan_mutex_post_signal(void*, unsigned) {}
TRAPSAN_API void __tsan_mutex_pre_divert(void*, unsigned) {}
TRAPSAN_API void __tsan_mutex_post_divert(void*, unsigned) {}
TRAPSAN_API void* __tsan_external_register_tag(const char*) {
  return NewHandle();
}
TRAPSAN_API void __tsan_external_register_header(void*, const char*) {}
TRAPSAN_API void __tsan_external_assign_tag(void*, void*) {}
TRAPSAN_API void __tsan_external_read(void* addr, void* caller_pc, void*) {
  ExternalAccess(addr, caller_pc, /*is_write=*/false,
                 reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}
TRAPSAN_API void __tsan_external_write(void* addr, void* caller_pc, void*) {
  ExternalAccess(addr, caller_pc, /*is_write=*/true,
                 reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}
TRAPSAN_API void* __tsan_get_current_fiber(void) {
  if (t_fiber == nullptr) t_fiber = NewHandle();
  return t_fiber;
}
TRAPSAN_API void* __tsan_create_fiber(unsigned) { return NewHandle(); }
TRAPSAN_API void __tsan_destroy_fiber(void*) {}
TRAPSAN_API void __tsan_switch_to_fiber(void* fiber, unsigned) {
  t_fiber = fiber;
}
TRAPSAN_API void __tsan_set_fiber_name(void*, const char*) {}
TRAPSAN_API void __tsan_flush_memory(void) {}
TRAPSAN_API void __tsan_ignore_thread_begin(void) {
  IgnoreReads(1);
  IgnoreWrites(1);
}
TRAPSAN_API void __tsan_ignore_thread_end(void) {
  IgnoreReads(-1);
  IgnoreWrites(-1);
}

// --- Dynamic annotations ---
TRAPSAN_API void AnnotateHappensBefore(const char*, int, const volatile void*) {}
TRAPSAN_API void AnnotateHappensAfter(const char*, int, const volatile void*) {}
TRAPSAN_API void AnnotateCondVarSignal(const char*, int, const volatile void*) {}
TRAPSAN_API void AnnotateCondVarSignalAll(const char*, int,
                                          const volatile void*) {}
TRAPSAN_API void AnnotateCondVarWait(const char*, int, const volatile void*,
                                     const volatile void*) {}
TRAPSAN_API void AnnotateMutexIsNotPHB(const char*, int, const volatile void*) {}
TRAPSAN_API void AnnotateMutexIsUsedAsCondVar(const char*, int,
                                              const volatile void*) {}
TRAPSAN_API void AnnotateRWLockCreate(const char*, int, const volatile void*) {}
TRAPSAN_API void AnnotateRWLockCreateStatic(const char*, int,
                                            const volatile void*) {}
TRAPSAN_API void AnnotateRWLockDestroy(const char*, int, const volatile void*) {}
TRAPSAN_API void AnnotateRWLockAcquired(const char*, int, const volatile void*,
                                        long) {}
TRAPSAN_API void AnnotateRWLockReleased(const char*, int, const volatile void*,
                                        long) {}
TRAPSAN_API void AnnotateBenignRaceSized(const char*, int,
                                         const volatile void* addr,
                                         size_t size, const char*) {
  AddBenignRange(reinterpret_cast<uintptr_t>(addr), size);
}
TRAPSAN_API void AnnotateBenignRace(const char* file, int line,
                                    const volatile void* addr,
                                    const char* description) {
  AnnotateBenignRaceSized(file, line, addr, 1, description);
}
TRAPSAN_API void AnnotateIgnoreReadsBegin(const char*, int) { IgnoreReads(1); }
TRAPSAN_API void AnnotateIgnoreReadsEnd(const char*, int) { IgnoreReads(-1); }
TRAPSAN_API void AnnotateIgnoreWritesBegin(const char*, int) {
  IgnoreWrites(1);
}
TRAPSAN_API void AnnotateIgnoreWritesEnd(const char*, int) { IgnoreWrites(-1); }
TRAPSAN_API void AnnotateIgnoreSyncBegin(const char*, int) {}
TRAPSAN_API void AnnotateIgnoreSyncEnd(const char*, int) {}
TRAPSAN_API void AnnotateEnableRaceDetection(const char*, int, int) {}
TRAPSAN_API void AnnotateThreadName(const char*, int, const char*) {}
TRAPSAN_API void AnnotateNewMemory(const char*, int, const volatile void*,
                                   size_t) {}
TRAPSAN_API void AnnotateMemoryIsInitialized(const char*, int,
                                             const volatile void*, size_t) {}
TRAPSAN_API void AnnotateMemoryIsUninitialized(const char*, int,
                                               const volatile void*, size_t) {}
TRAPSAN_API void AnnotatePublishMemoryRange(const char*, int,
                                            const volatile void*, size_t) {}
TRAPSAN_API void AnnotateUnpublishMemoryRange(const char*, int,
                                              const volatile void*, size_t) {}
TRAPSAN_API void AnnotateExpectRace(const char*, int, const volatile void*,
                                    const char*) {}
TRAPSAN_API void AnnotateFlushExpectedRaces(const char*, int) {}
TRAPSAN_API void AnnotateFlushState(const char*, int) {}
TRAPSAN_API void AnnotateNoOp(const char*, int, const volatile void*) {}
TRAPSAN_API void AnnotateTraceMemory(const char*, int, const volatile void*) {}
TRAPSAN_API int RunningOnValgrind(void) { return 0; }
TRAPSAN_API double ValgrindSlowdown(void) { return 1.0; }

}  // extern "C"
