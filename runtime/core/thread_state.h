// Per-thread state of the runtime, in initial-exec TLS so that the sampling
// fast path and the SIGTRAP handler reach it with one %fs-relative access and
// no allocation. All zero is a valid state: a thread trapsan did not create
// (or one that started before init) fills the rest in lazily.
#ifndef TRAPSAN_RUNTIME_CORE_THREAD_STATE_H_
#define TRAPSAN_RUNTIME_CORE_THREAD_STATE_H_

#include <cstdint>

#include "access.h"
#include "trapsan/compiler_abi.h"
#include "clock.h"

namespace trapsan {

struct ThreadState {
  // (The countdown of the sampling fast path is __trapsan_countdown, a
  // thread-local of its own: instrumented code reaches it by name. See
  // include/trapsan/compiler_abi.h.)
  // Non-zero while this thread runs trapsan code: nothing is sampled then,
  // and a trap taken meanwhile is attributed to `current_access`.
  uint32_t in_runtime;
  uint64_t rng;  // xorshift state, seeded lazily
  bool sampling_started;  // the first check has drawn a countdown
  int tid;       // kernel thread id, 0 until known
  uint32_t thread_id;
  bool registered;  // has an entry in the thread registry
  // Bounds of this thread's stack, for unwinding in the handler; 0 if unknown.
  uintptr_t stack_lo, stack_hi;
  // Cookie of the window this thread holds open (its own traps are ignored).
  uint64_t watching_cookie;
  const AccessInfo* current_access;
  uint64_t traps_received;  // our SIGTRAPs handled on this thread
  // AnnotateIgnoreReads/WritesBegin nesting (abi/tsan_annotations.cpp):
  // while non-zero, this thread's reads / writes are not sampled.
  uint32_t ignore_reads, ignore_writes;
  // The soft windows' generation this thread last checked (soft_watch.cpp).
  uint64_t soft_seen_generation;
};

extern thread_local ThreadState t_thread __attribute__((tls_model("initial-exec")));

// Accesses left before the next sample; <= 0 sends the next check to the
// slow path, which refills it. Defined in abi/ (the compiler ABI).
inline int32_t& Countdown() { return __trapsan_countdown; }

// The calling thread's state with tid filled in. Async-signal-safe.
ThreadState& CurrentThread();

// The next number of the thread's xorshift64 stream, seeded on first use
// from the tid and the clock. Async-signal-safe.
inline uint64_t NextRandom(ThreadState& t) {
  if (t.rng == 0) {
    t.rng = (static_cast<uint64_t>(t.tid) << 32) ^ MonotonicNs() ^
            0x9e3779b97f4a7c15ull;
  }
  t.rng ^= t.rng << 13;
  t.rng ^= t.rng >> 7;
  t.rng ^= t.rng << 17;
  return t.rng;
}

// Marks the calling thread as inside trapsan for the guard's lifetime.
class InRuntime {
 public:
  InRuntime() { ++t_thread.in_runtime; }
  ~InRuntime() { --t_thread.in_runtime; }
  InRuntime(const InRuntime&) = delete;
  InRuntime& operator=(const InRuntime&) = delete;
};

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_THREAD_STATE_H_
