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
//     With a mask (_BITS), only writes that change bits of the mask are
//     (KCSAN's semantics: window.h, WindowRequest::value_mask).
//     In mode=ci every assertion opens its window (not sampled, not refused
//     by the overhead budget, which is charged its cost); in other modes an
//     assertion is a sampled access like any other.
//   __trapsan_assert_exclusive_begin/end: the scoped forms. begin opens the
//     window as above and keeps it open (core/scoped_window.h); end, at the
//     scope's end, checks once more (a stall) and closes it.
#include <cstddef>
#include <cstdint>

#include "trapsan/trapsan.h"

#include "runtime/core/budget.h"
#include "runtime/core/counters.h"
#include "runtime/core/options.h"
#include "runtime/core/sampler.h"
#include "runtime/core/scoped_window.h"
#include "runtime/core/thread_state.h"
#include "runtime/core/window.h"
#include "runtime/linux/cancel.h"

using namespace trapsan;

namespace {

constexpr int kWriterOnly = 1;  // annotations.h: TRAPSAN_EXCLUSIVE_WRITER_

struct Assertion {
  uintptr_t addr;
  size_t size;
  bool as_write;
  unsigned long long mask;
  uintptr_t return_address;
};

// Opens the assertion's window: in mode=ci always (its cost charged to the
// budget, never refused), else when the caller's sample came and the budget
// has room. Returns a scoped window's cookie (0: none). Called with
// cancellation held (linux/cancel.h): its cleanups (InRuntime) stay out of
// the caller.
__attribute__((noinline)) uint64_t OpenAssertionWindow(ThreadState& t,
                                                       const Assertion& a,
                                                       bool scoped,
                                                       bool always) {
  if (t.in_runtime != 0) return 0;  // trapsan's own code or its handler
  if (!RuntimeReady() && !InitializeRuntime()) return 0;
  if (ActiveBackend() == Backend::kOff) return 0;
  InRuntime guard;
  if (!WindowPossible(a.addr, a.size, a.as_write)) return 0;  // slots busy
  uint64_t reserved_ns = 0;
  if (!always && !WindowBudget().TryReserve(&reserved_ns)) {
    Count(Stats().skipped_budget);
    BackOffOverBudget();
    return 0;
  }
  AccessInfo access;
  DescribeAccess(t, a.addr, a.size, a.as_write, a.return_address, 0, 0,
                 &access);
  t.current_access = &access;
  uint64_t cookie = 0, cost = 0;
  if (scoped) {
    cookie = BeginScopedWindow(access, a.mask, &cost);
  } else {
    WindowRequest request;
    request.value_mask = a.mask;
    cost = WatchAccess(access, request, nullptr);
  }
  t.current_access = nullptr;
  if (always) {
    WindowBudget().Charge(cost);
  } else {
    WindowBudget().Settle(reserved_ns, cost);
  }
  DrainLateConflicts();
  return cookie;
}

// Both forms' entry: in mode=ci every assertion, else a sampled one.
uint64_t Assert(const volatile void* var, size_t size, int flags,
                unsigned long long mask, uintptr_t return_address,
                bool scoped) {
  if (var == nullptr || size == 0) return 0;
  const Assertion a{reinterpret_cast<uintptr_t>(var), size,
                    (flags & kWriterOnly) == 0, mask, return_address};
  ThreadState& t = CurrentThread();
  // An assertion inside an ignore region (TRAPSAN_DATA_RACE, IGNORE_BEGIN)
  // is ignored with the rest.
  if (t.ignore_reads != 0 && t.ignore_writes != 0) {
    Count(Stats().skipped_ignored);
    return 0;
  }
  const bool always = RuntimeReady() && GetOptions().mode == "ci";
  if (!always && !CountdownExpired()) return 0;
  const CancelHold hold = HoldCancel();
  uint64_t cookie = 0;
  if (always || BeginSample(t)) {
    cookie = OpenAssertionWindow(t, a, scoped, always);
  }
  ReleaseCancel(hold);
  return cookie;
}

__attribute__((noinline)) void EndAssertionWindow(uint64_t cookie) {
  ThreadState& t = CurrentThread();
  if (t.in_runtime != 0) return;  // closed at the thread's exit instead
  InRuntime guard;
  WindowBudget().Charge(EndScopedWindow(cookie));
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

// The stack starts in the code that asserted: the caller, or the caller of
// the header's helper (`from`, a return address on this stack).
#define TRAPSAN_ASSERTION_FROM_(from)         \
  reinterpret_cast<uintptr_t>((from) != nullptr \
                                  ? (from)      \
                                  : __builtin_return_address(0))

TRAPSAN_API void __trapsan_assert_exclusive(const volatile void* var,
                                            size_t size, int flags,
                                            unsigned long long mask,
                                            const void* from) {
  Assert(var, size, flags, mask, TRAPSAN_ASSERTION_FROM_(from),
         /*scoped=*/false);
}

TRAPSAN_API unsigned long long __trapsan_assert_exclusive_begin(
    const volatile void* var, size_t size, int flags,
    unsigned long long mask, const void* from) {
  return Assert(var, size, flags, mask, TRAPSAN_ASSERTION_FROM_(from),
                /*scoped=*/true);
}

TRAPSAN_API void __trapsan_assert_exclusive_end(unsigned long long scope) {
  if (scope == 0) return;
  const CancelHold hold = HoldCancel();
  EndAssertionWindow(scope);
  ReleaseCancel(hold);
}

}  // extern "C"
