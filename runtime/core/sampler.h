// The sampler: decides which checked accesses open a watch window.
//
// The fast path (in abi/trapsan_api.cpp, and later in instrumented code) is a
// decrement of __trapsan_countdown; SampleAccess() runs when it reaches zero:
// it refills the countdown from a per-thread random stream (mean
// sample_rate), skips reentrant calls and samples over the overhead budget,
// captures the caller's stack and runs the window.
#ifndef TRAPSAN_RUNTIME_CORE_SAMPLER_H_
#define TRAPSAN_RUNTIME_CORE_SAMPLER_H_

#include <cstddef>
#include <cstdint>

#include "access.h"
#include "trapsan/compiler_abi.h"

namespace trapsan {

// `return_address`: into the code that made the access (the stack starts
// there). `access_pc`: the accessing instruction's address when known (it
// then replaces the top frame), else 0. `line`: the access's source line
// when the top frame's is another, else 0.
void SampleAccess(const volatile void* addr, size_t size, bool is_write,
                  uintptr_t return_address, uintptr_t access_pc,
                  uint32_t line = 0);

struct ThreadState;

// SampleAccess in two steps, for samples picked in two places (a label
// site: runtime/linux/labels.h). BeginSample refills the countdown and says
// whether to sample at all (not reentrant, initialized, not the thread's
// first check, a backend on); RunSample samples the access.
bool BeginSample(ThreadState& t);
void RunSample(ThreadState& t, const volatile void* addr, size_t size,
               bool is_write, uintptr_t return_address, uintptr_t access_pc,
               uint32_t line);
// Fills *out for an access of thread `t` made where `return_address`
// returns to: kind, bytes, the stack from there (`access_pc`, when known,
// replaces its top frame). Ordinary context only (it unwinds).
void DescribeAccess(const ThreadState& t, uintptr_t addr, size_t size,
                    bool is_write, uintptr_t return_address,
                    uintptr_t access_pc, uint32_t line, AccessInfo* out);
// Over budget: the next countdown is longer.
void BackOffOverBudget();

// Cold-site samples (linux/cold_sites.h): while a scope of the calling
// thread says so, the sample being taken is one of its site's first
// executions. Such a sample is taken at a thread's first check too, its
// held window stays open longer (ColdStall) and is not stolen by a sample
// that is not cold (release.h).
bool ColdSample();
// The extra stall of a cold sample's held window (kColdStallFactor - 1 times
// delay_us, randomized), taken by its owner at its next release, before the
// window closes: the other side of a race at a site that runs once often
// comes just after the owner's next possible release (the end of a barrier
// of relaxed atomics; a return). Charged to the budget. Ordinary context.
void ColdStall(ThreadState& t);
class ColdSampleScope {
 public:
  explicit ColdSampleScope(bool cold);
  ~ColdSampleScope();
  ColdSampleScope(const ColdSampleScope&) = delete;
  ColdSampleScope& operator=(const ColdSampleScope&) = delete;

 private:
  bool saved_;
};

// The sampling fast path, shared by every entry point: one initial-exec TLS
// decrement and a predicted branch. True when this access goes to
// SampleAccess (which refills the countdown).
inline bool CountdownExpired() {
  return __builtin_expect(--__trapsan_countdown <= 0, 0);
}

// Declares [addr, addr + size) a benign race (AnnotateBenignRaceSized): no
// window is opened on it. False when the table (kMaxBenignRanges) is full.
inline constexpr int kMaxBenignRanges = 1024;
bool AddBenignRange(uintptr_t addr, size_t size);
bool IsBenign(uintptr_t addr, size_t size);

// True once the runtime is initialized (set by the lifecycle code).
bool RuntimeReady();
void SetRuntimeReady(bool ready);

// Initializes the runtime (idempotent, thread-safe); defined by the
// platform's lifecycle code.
bool InitializeRuntime();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_SAMPLER_H_
