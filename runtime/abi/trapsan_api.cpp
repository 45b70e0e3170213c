// The public C API (include/trapsan/trapsan.h) and the load-time constructor.
#include "trapsan/trapsan.h"
#include "trapsan/compiler_abi.h"

#include <atomic>
#include <cstring>

#include "runtime/core/counters.h"
#include "runtime/core/sampler.h"
#include "runtime/core/slots.h"
#include "runtime/core/soft_watch.h"
#include "runtime/core/thread_state.h"
#include "runtime/core/window.h"
#include "runtime/linux/cancel.h"
#include "runtime/report/reporter.h"

using namespace trapsan;

// Initialize as early as possible: threads created before this point do not
// inherit the watchpoints (they are adopted, at a cost).
__attribute__((constructor(101))) static void TrapsanConstructor() {
  InitializeRuntime();
}

extern "C" {

// The compiler ABI (include/trapsan/compiler_abi.h).
__attribute__((visibility("default"), tls_model("initial-exec")))
__thread int32_t __trapsan_countdown;

__attribute__((visibility("default"))) void __trapsan_sample(
    const volatile void* addr, size_t size, int is_write, const void* pc) {
  // The stack is taken from our caller; a given pc replaces its top frame.
  SampleAccess(addr, size, is_write != 0,
               reinterpret_cast<uintptr_t>(__builtin_return_address(0)),
               reinterpret_cast<uintptr_t>(pc));
}

TRAPSAN_API int trapsan_init(void) {
  return InitializeRuntime() && ActiveBackend() != Backend::kOff ? 1 : 0;
}

// The fast path: one load (no soft window open: soft_watch.h), one
// initial-exec TLS decrement and two predicted branches.
TRAPSAN_API void trapsan_check_read(const volatile void* addr, size_t size) {
  if (TRAPSAN_SOFT_WATCH(addr, size, /*is_write=*/false, 0)) return;
  if (!CountdownExpired()) return;
  SampleAccess(addr, size, /*is_write=*/false,
               reinterpret_cast<uintptr_t>(__builtin_return_address(0)), 0);
}

TRAPSAN_API void trapsan_check_write(const volatile void* addr, size_t size) {
  if (TRAPSAN_SOFT_WATCH(addr, size, /*is_write=*/true, 0)) return;
  if (!CountdownExpired()) return;
  SampleAccess(addr, size, /*is_write=*/true,
               reinterpret_cast<uintptr_t>(__builtin_return_address(0)), 0);
}

TRAPSAN_API void trapsan_set_report_callback(trapsan_report_callback callback,
                                             void* user_data) {
  SetReportCallback(callback, user_data);
}

TRAPSAN_API void trapsan_get_stats_size(trapsan_stats* stats, size_t size) {
  if (stats == nullptr) return;
  trapsan_stats all;
  memset(&all, 0, sizeof(all));
#define TRAPSAN_COUNTER(Name, Description) \
  all.Name = Stats().Name.load(std::memory_order_relaxed);
#include "runtime/core/counters.inc"
#undef TRAPSAN_COUNTER
  all.hw_slots = ActiveBackend() == Backend::kHw ? SlotCount() : 0;
  all.backend = static_cast<int>(ActiveBackend());
  memcpy(stats, &all, size < sizeof(all) ? size : sizeof(all));
}

// The entry point of programs built before the header's macro: the layout
// they knew ends with `backend` (trapsan.h).
TRAPSAN_API void (trapsan_get_stats)(trapsan_stats* stats) {
  trapsan_get_stats_size(stats, offsetof(trapsan_stats, labels_passed));
}

TRAPSAN_API const char* trapsan_backend(void) {
  return BackendName(ActiveBackend());
}

__attribute__((noinline)) static void FlushHeld() {
  if (t_thread.in_runtime != 0) return;
  InRuntime guard;
  DrainLateConflicts();
}

// Reports are written with cancellation held off (runtime/linux/cancel.h).
TRAPSAN_API void trapsan_flush(void) {
  const CancelHold hold = HoldCancel();
  FlushHeld();
  ReleaseCancel(hold);
}

}  // extern "C"
