// Clocks in nanoseconds. Async-signal-safe (clock_gettime is).
#ifndef TRAPSAN_RUNTIME_CORE_CLOCK_H_
#define TRAPSAN_RUNTIME_CORE_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace trapsan {

inline uint64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<uint64_t>(ts.tv_nsec);
}

inline uint64_t MonotonicNs() { return ClockNs(CLOCK_MONOTONIC); }

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_CLOCK_H_
