#include "watched_value.h"

#include <atomic>

#include "slots.h"
#include "window.h"
#include "runtime/linux/safe_read.h"

namespace trapsan {
namespace {

uint64_t ReadValue(uintptr_t addr, int len) {
  switch (len) {
    case 1: return *reinterpret_cast<const volatile uint8_t*>(addr);
    case 2: return *reinterpret_cast<const volatile uint16_t*>(addr);
    case 4: return *reinterpret_cast<const volatile uint32_t*>(addr);
    default: return *reinterpret_cast<const volatile uint64_t*>(addr);
  }
}

// `mask` (bit i: bit i % 8 of byte i / 8 of the access) as a mask of the
// watched value at `base`.
uint64_t MaskAt(uintptr_t addr, uintptr_t base, int len, uint64_t mask) {
  const uintptr_t shift = 8 * (base - addr);
  return shift >= 64 ? 0 : (mask >> shift) & FullMask(len);
}

}  // namespace

uint64_t FullMask(int len) {
  return len >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * len)) - 1;
}

bool ChooseWatchRange(uintptr_t addr, size_t size, uintptr_t* base,
                      int* len) {
  for (int l = 8; l >= 1; l /= 2) {
    uintptr_t b = (addr + l - 1) & ~static_cast<uintptr_t>(l - 1);
    if (size >= static_cast<size_t>(l) && b + l <= addr + size) {
      *base = b;
      *len = l;
      return true;
    }
  }
  return false;
}

bool ChooseMaskedRange(const AccessInfo& access, uint64_t mask,
                       uintptr_t* base, int* len, uint64_t* value_mask) {
  size_t size = access.size;
  if (mask != 0 && size > 8) size = 8;
  if (mask != 0 && size < 8) mask &= FullMask(static_cast<int>(size));
  if (!ChooseWatchRange(access.addr, size, base, len)) return false;
  if (mask == 0) {
    *value_mask = FullMask(*len);
    return true;
  }
  *value_mask = MaskAt(access.addr, *base, *len, mask);
  if (*value_mask != 0) return true;
  const int first = __builtin_ctzll(mask) / 8;
  const int last = (63 - __builtin_clzll(mask)) / 8;
  if (!ChooseWatchRange(access.addr + first,
                        static_cast<size_t>(last - first + 1), base, len)) {
    return false;
  }
  *value_mask = MaskAt(access.addr, *base, *len, mask);
  return *value_mask != 0;
}

bool ReadValueUnwatched(uintptr_t addr, int len, uint64_t* value) {
  *value = 0;
  return SafeRead(addr, value, static_cast<size_t>(len));
}

bool Snapshot(bool armed, uintptr_t base, int len, uint64_t* value) {
  if (armed) return ReadValueUnwatched(base, len, value);
  *value = ReadValue(base, len);
  return true;
}

bool NoteMaskedTrap(int index, uint64_t cookie) {
  Slot& slot = GetSlot(index);
  // The values are this trap's window's, even after it closed (until the
  // slot's next window): a handler that runs late, after the window's
  // disarm (the trapping thread was descheduled between its trap and its
  // handler), still judges its write.
  if (slot.mask_cookie.load(std::memory_order_acquire) != cookie) return false;
  const uint64_t mask = slot.trap_mask.load(std::memory_order_acquire);
  if (mask == 0) return false;
  uint64_t now = 0;
  // The value cannot be read (a seccomp filter): the write is taken as one
  // that changed the bits.
  if (!ReadValueUnwatched(slot.watch_addr.load(std::memory_order_relaxed),
                          static_cast<int>(slot.watch_len.load(
                              std::memory_order_relaxed)),
                          &now)) {
    return true;
  }
  const uint64_t before =
      slot.last_value.exchange(now, std::memory_order_acq_rel);
  // Replaced meanwhile: `before` may be the next window's.
  if (slot.mask_cookie.load(std::memory_order_acquire) != cookie) return false;
  return ((before ^ now) & mask) != 0;
}

}  // namespace trapsan
