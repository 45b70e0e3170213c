// Process-wide runtime counters (relaxed atomics; async-signal-safe).
#ifndef TRAPSAN_RUNTIME_CORE_COUNTERS_H_
#define TRAPSAN_RUNTIME_CORE_COUNTERS_H_

#include <atomic>
#include <cstdint>

namespace trapsan {

struct Counters {
#define TRAPSAN_COUNTER(Name, Description) std::atomic<uint64_t> Name{0};
#include "counters.inc"
#undef TRAPSAN_COUNTER
};

Counters& Stats();
void ResetStats();

inline void Count(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_COUNTERS_H_
