// The runtime side of include/trapsan/annotations.h (docs/annotations.md):
// intentional races and ignore regions, and KCSAN-style exclusivity
// assertions.
//
//   __trapsan_ignore_begin/end: the calling thread's accesses are neither
//     sampled nor checked against open soft windows in between (the
//     AnnotateIgnoreReads/Writes counters, both at once; nesting counts).
//   __trapsan_assert_exclusive(addr, size, flags, mask, from): a watch window of
//     the asserting thread on the variable. The assertion is modelled as an
//     access that reads nothing: as a read when only writers must be
//     exclusive (the window watches writes), as a write when every access
//     must be (the window watches reads and writes). Another thread's access
//     caught in the window (a hardware trap, or in the soft backend an
//     instrumented access checking the open window) is reported with both
//     stacks, the assertion's first; an open window of another thread on
//     the same bytes that conflicts is reported at once, as for any sample.
//     In mode=ci every assertion opens its window (not sampled, not refused
//     by the overhead budget, which is charged its cost); in other modes an
//     assertion is a sampled access like any other.
#include <cstddef>
#include <cstdint>

#include "trapsan/trapsan.h"

#include "runtime/core/budget.h"
#include "runtime/core/counters.h"
#include "runtime/core/options.h"
#include "runtime/core/sampler.h"
#include "runtime/core/thread_state.h"
#include "runtime/core/window.h"
#include "runtime/linux/cancel.h"

using namespace trapsan;

namespace {

constexpr int kWriterOnly = 1;  // annotations.h: TRAPSAN_EXCLUSIVE_WRITER_

// The bytes of [addr, addr + size) that hold the bits of `mask` (bit i of
// the little-endian value): only those are watched, so a write to the
// variable's other bytes is allowed. The whole variable for mask 0.
void MaskedBytes(uintptr_t* addr, size_t* size, unsigned long long mask) {
  if (mask == 0 || *size > sizeof(mask)) return;
  if (*size < sizeof(mask)) mask &= (1ull << (8 * *size)) - 1;
  if (mask == 0) return;
  const int first = __builtin_ctzll(mask) / 8;
  const int last = (63 - __builtin_clzll(mask)) / 8;
  *addr += first;
  *size = static_cast<size_t>(last - first + 1);
}

// Called with cancellation held (linux/cancel.h): its cleanups (InRuntime)
// stay out of the caller.
__attribute__((noinline)) void AssertExclusiveAlways(
    ThreadState& t, uintptr_t addr, size_t size, bool as_write,
    uintptr_t return_address) {
  if (t.in_runtime != 0) return;  // trapsan's own code or its handler
  if (!RuntimeReady() && !InitializeRuntime()) return;
  if (ActiveBackend() == Backend::kOff) return;
  InRuntime guard;
  if (!WindowPossible(addr, size, as_write)) return;  // every slot busy
  AccessInfo access;
  DescribeAccess(t, addr, size, as_write, return_address, 0, 0, &access);
  t.current_access = &access;
  const uint64_t cost = WatchAccess(access);
  t.current_access = nullptr;
  WindowBudget().Charge(cost);
  DrainLateConflicts();
}

}  // namespace

extern "C" {

TRAPSAN_API void __trapsan_ignore_begin(void) {
  ThreadState& t = CurrentThread();
  ++t.ignore_reads;
  ++t.ignore_writes;
}

TRAPSAN_API void __trapsan_ignore_end(void) {
  ThreadState& t = CurrentThread();
  if (t.ignore_reads > 0) --t.ignore_reads;
  if (t.ignore_writes > 0) --t.ignore_writes;
}

TRAPSAN_API void __trapsan_assert_exclusive(const volatile void* var,
                                            size_t size, int flags,
                                            unsigned long long mask,
                                            const void* from) {
  // The stack starts in the code that asserted: the caller, or the caller
  // of the header's helper (`from`, a return address on this stack).
  const uintptr_t return_address = reinterpret_cast<uintptr_t>(
      from != nullptr ? from : __builtin_return_address(0));
  uintptr_t addr = reinterpret_cast<uintptr_t>(var);
  if (var == nullptr || size == 0) return;
  MaskedBytes(&addr, &size, mask);
  const bool as_write = (flags & kWriterOnly) == 0;
  ThreadState& t = CurrentThread();
  // An assertion inside an ignore region (TRAPSAN_DATA_RACE, IGNORE_BEGIN)
  // is ignored with the rest.
  if (t.ignore_reads != 0 && t.ignore_writes != 0) {
    Count(Stats().skipped_ignored);
    return;
  }
  if (RuntimeReady() && GetOptions().mode == "ci") {
    const CancelHold hold = HoldCancel();
    AssertExclusiveAlways(t, addr, size, as_write, return_address);
    ReleaseCancel(hold);
    return;
  }
  if (!CountdownExpired()) return;
  SampleAccess(reinterpret_cast<const volatile void*>(addr), size, as_write,
               return_address, 0);
}

}  // extern "C"
