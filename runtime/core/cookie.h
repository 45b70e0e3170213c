// The cookie a watchpoint carries in perf's sig_data, returned to the SIGTRAP
// handler in si_perf_data: it names the slot and the window (generation) the
// trap belongs to, and a magic tag tells our traps from anybody else's.
//
//   bits 63..48  kMagic
//   bits 47..2   generation of the slot (wraps after 2^46 windows)
//   bits  1..0   slot index (the x86 debug registers: 4)
#ifndef TRAPSAN_RUNTIME_CORE_COOKIE_H_
#define TRAPSAN_RUNTIME_CORE_COOKIE_H_

#include <cstdint>

namespace trapsan {

inline constexpr int kMaxSlots = 4;
inline constexpr uint64_t kCookieMagic = 0x7a5a;  // "tz": trapsan
inline constexpr uint64_t kGenerationMask = (uint64_t{1} << 46) - 1;

struct Cookie {
  int slot;
  uint64_t generation;
};

constexpr uint64_t EncodeCookie(int slot, uint64_t generation) {
  return (kCookieMagic << 48) | ((generation & kGenerationMask) << 2) |
         static_cast<uint64_t>(slot & 3);
}

// Async-signal-safe. False for anything that is not one of our cookies.
constexpr bool DecodeCookie(uint64_t value, Cookie* out) {
  if ((value >> 48) != kCookieMagic) return false;
  out->slot = static_cast<int>(value & 3);
  out->generation = (value >> 2) & kGenerationMask;
  return true;
}

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_COOKIE_H_
