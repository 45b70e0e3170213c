// The bytes a window watches and their value: which naturally aligned range
// of an access is watched (and, for an exclusivity assertion's mask, which
// bits of it matter), and how the value is read while a watchpoint may be
// armed on it. Used by the window paths (window.cpp, signal_window.cpp).
#ifndef TRAPSAN_RUNTIME_CORE_WATCHED_VALUE_H_
#define TRAPSAN_RUNTIME_CORE_WATCHED_VALUE_H_

#include <cstddef>
#include <cstdint>

#include "access.h"

namespace trapsan {

// All the bits of a `len`-byte value.
uint64_t FullMask(int len);

// The watched range and the mask of its value that matters. A masked
// access watches its whole value (at most 8 bytes: a write to other bits
// is judged by value, not by byte), or, where the largest aligned part
// holds none of the mask's bits (an unaligned variable), the bytes that do.
// `mask` 0: every bit (*value_mask is then FullMask(*len)).
bool ChooseMaskedRange(const AccessInfo& access, uint64_t mask,
                       uintptr_t* base, int* len, uint64_t* value_mask);

// Reads the watched bytes through the kernel (process_vm_readv), which the
// watchpoint does not see (exclude_kernel): the watcher can snapshot after
// arming without trapping itself, so no write can slip in unseen between
// the snapshot and the arming.
// False if the kernel refused (a seccomp filter may forbid process_vm_readv):
// the window then has no snapshot and reports no value change.
bool ReadValueUnwatched(uintptr_t addr, int len, uint64_t* value);

// The watched value now: through the kernel while a watchpoint is armed
// (reading it would trap), else directly. False if it cannot be read.
bool Snapshot(bool armed, uintptr_t base, int len, uint64_t* value);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_WATCHED_VALUE_H_
