// The ThreadSanitizer ABI: the __tsan_* entry points that clang 14 and gcc 12
// emit under -fsanitize=thread, so that such objects link against libtrapsan
// instead of TSan's runtime (docs/tsan-abi.md).
//
// Plain accesses check the open soft windows (one load while none is open:
// core/soft_watch.h) and take trapsan's sampling fast path (one initial-exec
// TLS decrement), exactly as trapsan_check_read/write do. Atomic operations are
// executed atomically with their memory order and never sampled. Function
// entry/exit are no-ops.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "trapsan/compiler_abi.h"
#include "trapsan/trapsan.h"

#include "runtime/core/release.h"
#include "runtime/core/sampler.h"
#include "runtime/core/soft_watch.h"

using trapsan::SampleAccess;

namespace {

typedef char a8;
typedef short a16;
typedef int a32;
typedef long a64;
typedef __int128 a128;
typedef unsigned __int128 u128;

// The soft-window check (one load while no soft window is open), then the
// sampling fast path. A macro, not a function: the return address must be
// the one of the exported entry point (into the instrumented code).
#define TRAPSAN_TSAN_ACCESS(addr, size, is_write, pc)                      \
  do {                                                                     \
    if (TRAPSAN_SOFT_WATCH((addr), (size), (is_write), (pc))) return;      \
    if (!trapsan::CountdownExpired()) return;                              \
    SampleAccess((addr), (size), (is_write),                               \
                 reinterpret_cast<uintptr_t>(__builtin_return_address(0)), \
                 (pc));                                                    \
  } while (0)

// TSan's pc arguments are caller pcs (return addresses); SampleAccess wants
// the accessing instruction (it adds 1 back): the call before the pc.
inline uintptr_t AccessPc(const void* pc) {
  uintptr_t p = reinterpret_cast<uintptr_t>(pc);
  return p != 0 ? p - 1 : 0;
}

// TSan's memory orders: 0 relaxed, 1 consume, 2 acquire, 3 release,
// 4 acq_rel, 5 seq_cst. gcc may add flags above bit 15 (MEMMODEL_SYNC,
// HLE); anything unknown is treated as seq_cst (always correct).
enum Order { kRelaxed, kConsume, kAcquire, kRelease, kAcqRel, kSeqCst };
inline Order ToOrder(int mo) {
  mo &= 0x7fff;
  return mo >= kRelaxed && mo <= kSeqCst ? static_cast<Order>(mo) : kSeqCst;
}

// A release (release, acq_rel or seq_cst store, read-modify-write or fence)
// closes the thread's release-bounded windows first (core/release.h): they
// are held only by plugin-built code, but a -fsanitize=thread signal handler
// or callback can run while one is held. One TLS load when none is.
inline void ReleasePoint(int mo) {
  if (__builtin_expect(__trapsan_windows_open != 0, 0) &&
      ToOrder(mo) >= kRelease) {
    __trapsan_release();
  }
}

// Each operation switches on the order so that the builtin gets a constant
// (a variable order is silently treated as seq_cst by the compilers).

template <typename T>
T Load(const volatile T* a, int mo) {
  switch (ToOrder(mo)) {
    case kRelaxed: return __atomic_load_n(a, __ATOMIC_RELAXED);
    case kConsume:
    case kAcquire: return __atomic_load_n(a, __ATOMIC_ACQUIRE);
    default: return __atomic_load_n(a, __ATOMIC_SEQ_CST);
  }
}

template <typename T>
void Store(volatile T* a, T v, int mo) {
  ReleasePoint(mo);
  switch (ToOrder(mo)) {
    case kRelaxed: __atomic_store_n(a, v, __ATOMIC_RELAXED); return;
    case kRelease: __atomic_store_n(a, v, __ATOMIC_RELEASE); return;
    default: __atomic_store_n(a, v, __ATOMIC_SEQ_CST); return;
  }
}

#define TRAPSAN_RMW(Name, builtin)                              \
  template <typename T>                                         \
  T Name(volatile T* a, T v, int mo) {                          \
    ReleasePoint(mo);                                           \
    switch (ToOrder(mo)) {                                      \
      case kRelaxed: return builtin(a, v, __ATOMIC_RELAXED);    \
      case kConsume:                                            \
      case kAcquire: return builtin(a, v, __ATOMIC_ACQUIRE);    \
      case kRelease: return builtin(a, v, __ATOMIC_RELEASE);    \
      case kAcqRel: return builtin(a, v, __ATOMIC_ACQ_REL);     \
      default: return builtin(a, v, __ATOMIC_SEQ_CST);          \
    }                                                           \
  }
TRAPSAN_RMW(Exchange, __atomic_exchange_n)
TRAPSAN_RMW(FetchAdd, __atomic_fetch_add)
TRAPSAN_RMW(FetchSub, __atomic_fetch_sub)
TRAPSAN_RMW(FetchAnd, __atomic_fetch_and)
TRAPSAN_RMW(FetchOr, __atomic_fetch_or)
TRAPSAN_RMW(FetchXor, __atomic_fetch_xor)
TRAPSAN_RMW(FetchNand, __atomic_fetch_nand)
#undef TRAPSAN_RMW

// A compare-exchange's (success, failure) orders made valid: the failure
// order is relaxed, acquire or seq_cst, and the success order at least as
// strong (a stronger order is always correct).
enum CasOrders {
  kCasRelaxedRelaxed, kCasAcquireRelaxed, kCasReleaseRelaxed,
  kCasAcqRelRelaxed, kCasSeqCstRelaxed, kCasAcquireAcquire,
  kCasAcqRelAcquire, kCasSeqCstAcquire, kCasSeqCstSeqCst,
};
inline CasOrders ToCasOrders(int mo, int fail_mo) {
  Order s = ToOrder(mo), f = ToOrder(fail_mo);
  if (s == kConsume) s = kAcquire;
  if (f == kConsume || f == kAcqRel) f = kAcquire;
  if (f == kRelease) f = kRelaxed;
  if (f == kSeqCst || s == kSeqCst) {
    if (f == kSeqCst) return kCasSeqCstSeqCst;
    return f == kAcquire ? kCasSeqCstAcquire : kCasSeqCstRelaxed;
  }
  if (f == kAcquire) {
    return s == kRelease || s == kAcqRel ? kCasAcqRelAcquire
                                         : kCasAcquireAcquire;
  }
  switch (s) {
    case kRelaxed: return kCasRelaxedRelaxed;
    case kAcquire: return kCasAcquireRelaxed;
    case kRelease: return kCasReleaseRelaxed;
    default: return kCasAcqRelRelaxed;
  }
}

// Updates *expected with the current value on failure, like the builtin.
template <typename T>
bool Cas(volatile T* a, T* expected, T desired, bool weak, int mo,
         int fail_mo) {
  ReleasePoint(mo);
#define TRAPSAN_CAS(s, f) \
  __atomic_compare_exchange_n(a, expected, desired, weak, s, f)
  switch (ToCasOrders(mo, fail_mo)) {
    case kCasRelaxedRelaxed: return TRAPSAN_CAS(__ATOMIC_RELAXED, __ATOMIC_RELAXED);
    case kCasAcquireRelaxed: return TRAPSAN_CAS(__ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
    case kCasReleaseRelaxed: return TRAPSAN_CAS(__ATOMIC_RELEASE, __ATOMIC_RELAXED);
    case kCasAcqRelRelaxed: return TRAPSAN_CAS(__ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    case kCasSeqCstRelaxed: return TRAPSAN_CAS(__ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
    case kCasAcquireAcquire: return TRAPSAN_CAS(__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE);
    case kCasAcqRelAcquire: return TRAPSAN_CAS(__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    case kCasSeqCstAcquire: return TRAPSAN_CAS(__ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE);
    default: return TRAPSAN_CAS(__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  }
#undef TRAPSAN_CAS
}

// 128 bits: lock cmpxchg16b (a full barrier, so every order is honoured),
// inline so that neither -mcx16 nor libatomic is needed. `a` must be 16-byte
// aligned, as for TSan. Every other 128-bit operation is a CAS loop.
inline bool Cas128(volatile a128* a, a128* expected, a128 desired) {
  ReleasePoint(kSeqCst);
  u128 e = static_cast<u128>(*expected), d = static_cast<u128>(desired);
  uint64_t lo = static_cast<uint64_t>(e), hi = static_cast<uint64_t>(e >> 64);
  bool ok;
  __asm__ __volatile__("lock cmpxchg16b %1"
                       : "=@ccz"(ok), "+m"(*a), "+a"(lo), "+d"(hi)
                       : "b"(static_cast<uint64_t>(d)),
                         "c"(static_cast<uint64_t>(d >> 64))
                       : "memory");
  if (!ok) *expected = static_cast<a128>((static_cast<u128>(hi) << 64) | lo);
  return ok;
}

// The current value (a CAS that stores back what is there).
inline a128 Load128(const volatile a128* a) {
  a128 v = 0;
  Cas128(const_cast<volatile a128*>(a), &v, 0);
  return v;
}

template <typename F>
a128 Update128(volatile a128* a, F f) {
  a128 old = Load128(a);
  while (!Cas128(a, &old, f(old))) {
  }
  return old;
}

}  // namespace

extern "C" {

// ---- Initialization, function entry and exit -----------------------------

TRAPSAN_API void __tsan_init(void) { trapsan_init(); }
TRAPSAN_API void __tsan_func_entry(void* call_pc) { (void)call_pc; }
TRAPSAN_API void __tsan_func_exit(void) {}

// ---- Plain accesses ------------------------------------------------------
// __tsan_volatile_*: gcc --param tsan-distinguish-volatile=1, clang -mllvm
// -tsan-distinguish-volatile; sampled as plain accesses. __tsan_read_write*:
// clang -mllvm -tsan-compound-read-before-write (a read-modify-write,
// sampled as a write: its window catches both reads and writes).

#define TRAPSAN_TSAN_SIZED(n)                                              \
  TRAPSAN_API void __tsan_read##n(void* addr) {                            \
    TRAPSAN_TSAN_ACCESS(addr, n, false, 0);                                \
  }                                                                        \
  TRAPSAN_API void __tsan_write##n(void* addr) {                           \
    TRAPSAN_TSAN_ACCESS(addr, n, true, 0);                                 \
  }                                                                        \
  TRAPSAN_API void __tsan_read##n##_pc(void* addr, void* pc) {             \
    TRAPSAN_TSAN_ACCESS(addr, n, false, AccessPc(pc));                     \
  }                                                                        \
  TRAPSAN_API void __tsan_write##n##_pc(void* addr, void* pc) {            \
    TRAPSAN_TSAN_ACCESS(addr, n, true, AccessPc(pc));                      \
  }                                                                        \
  TRAPSAN_API void __tsan_volatile_read##n(void* addr) {                   \
    TRAPSAN_TSAN_ACCESS(addr, n, false, 0);                                \
  }                                                                        \
  TRAPSAN_API void __tsan_volatile_write##n(void* addr) {                  \
    TRAPSAN_TSAN_ACCESS(addr, n, true, 0);                                 \
  }                                                                        \
  TRAPSAN_API void __tsan_read_write##n(void* addr) {                      \
    TRAPSAN_TSAN_ACCESS(addr, n, true, 0);                                 \
  }
TRAPSAN_TSAN_SIZED(1)
TRAPSAN_TSAN_SIZED(2)
TRAPSAN_TSAN_SIZED(4)
TRAPSAN_TSAN_SIZED(8)
TRAPSAN_TSAN_SIZED(16)
#undef TRAPSAN_TSAN_SIZED

#define TRAPSAN_TSAN_UNALIGNED(n)                                          \
  TRAPSAN_API void __tsan_unaligned_read##n(const void* addr) {            \
    TRAPSAN_TSAN_ACCESS(addr, n, false, 0);                                \
  }                                                                        \
  TRAPSAN_API void __tsan_unaligned_write##n(void* addr) {                 \
    TRAPSAN_TSAN_ACCESS(addr, n, true, 0);                                 \
  }                                                                        \
  TRAPSAN_API void __tsan_unaligned_volatile_read##n(const void* addr) {   \
    TRAPSAN_TSAN_ACCESS(addr, n, false, 0);                                \
  }                                                                        \
  TRAPSAN_API void __tsan_unaligned_volatile_write##n(void* addr) {        \
    TRAPSAN_TSAN_ACCESS(addr, n, true, 0);                                 \
  }                                                                        \
  TRAPSAN_API void __tsan_unaligned_read_write##n(void* addr) {            \
    TRAPSAN_TSAN_ACCESS(addr, n, true, 0);                                 \
  }
TRAPSAN_TSAN_UNALIGNED(2)
TRAPSAN_TSAN_UNALIGNED(4)
TRAPSAN_TSAN_UNALIGNED(8)
TRAPSAN_TSAN_UNALIGNED(16)
#undef TRAPSAN_TSAN_UNALIGNED

TRAPSAN_API void __tsan_read_range(void* addr, unsigned long size) {
  if (size == 0) return;
  TRAPSAN_TSAN_ACCESS(addr, size, false, 0);
}
TRAPSAN_API void __tsan_write_range(void* addr, unsigned long size) {
  if (size == 0) return;
  TRAPSAN_TSAN_ACCESS(addr, size, true, 0);
}
TRAPSAN_API void __tsan_read_range_pc(void* addr, unsigned long size,
                                      void* pc) {
  if (size == 0) return;
  TRAPSAN_TSAN_ACCESS(addr, size, false, AccessPc(pc));
}
TRAPSAN_API void __tsan_write_range_pc(void* addr, unsigned long size,
                                       void* pc) {
  if (size == 0) return;
  TRAPSAN_TSAN_ACCESS(addr, size, true, AccessPc(pc));
}

// The vtable pointer: read when a virtual call loads it, updated by
// constructors and destructors. TSan ignores an update that stores the
// value already there (a derived class's destructor chain does that), and
// so does trapsan.
TRAPSAN_API void __tsan_vptr_read(void** vptr_p) {
  TRAPSAN_TSAN_ACCESS(vptr_p, sizeof(void*), false, 0);
}
TRAPSAN_API void __tsan_vptr_update(void** vptr_p, void* new_val) {
  if (*vptr_p == new_val) return;
  TRAPSAN_TSAN_ACCESS(vptr_p, sizeof(void*), true, 0);
}

// ---- Memory intrinsics (clang 16 and later; clang 14 calls libc's) -------
// The source range is checked against soft windows and sampled, then the
// destination; then the operation.

TRAPSAN_API void* __tsan_memcpy(void* dst, const void* src, size_t size) {
  if (size != 0) {
    TRAPSAN_SOFT_WATCH(src, size, false, 0);
    TRAPSAN_SOFT_WATCH(dst, size, true, 0);
    if (--__trapsan_countdown <= 0)
      SampleAccess(src, size, false,
                   reinterpret_cast<uintptr_t>(__builtin_return_address(0)), 0);
    if (--__trapsan_countdown <= 0)
      SampleAccess(dst, size, true,
                   reinterpret_cast<uintptr_t>(__builtin_return_address(0)), 0);
  }
  return memcpy(dst, src, size);
}
TRAPSAN_API void* __tsan_memmove(void* dst, const void* src, size_t size) {
  if (size != 0) {
    TRAPSAN_SOFT_WATCH(src, size, false, 0);
    TRAPSAN_SOFT_WATCH(dst, size, true, 0);
    if (--__trapsan_countdown <= 0)
      SampleAccess(src, size, false,
                   reinterpret_cast<uintptr_t>(__builtin_return_address(0)), 0);
    if (--__trapsan_countdown <= 0)
      SampleAccess(dst, size, true,
                   reinterpret_cast<uintptr_t>(__builtin_return_address(0)), 0);
  }
  return memmove(dst, src, size);
}
TRAPSAN_API void* __tsan_memset(void* dst, int c, size_t size) {
  if (size != 0) TRAPSAN_SOFT_WATCH(dst, size, true, 0);
  if (size != 0 && --__trapsan_countdown <= 0)
    SampleAccess(dst, size, true,
                 reinterpret_cast<uintptr_t>(__builtin_return_address(0)), 0);
  return memset(dst, c, size);
}

// ---- Fences -----------------------------------------------------------------

TRAPSAN_API void __tsan_atomic_thread_fence(int mo) {
  ReleasePoint(mo);
  switch (ToOrder(mo)) {
    case kRelaxed: return;
    case kConsume:
    case kAcquire: __atomic_thread_fence(__ATOMIC_ACQUIRE); return;
    case kRelease: __atomic_thread_fence(__ATOMIC_RELEASE); return;
    case kAcqRel: __atomic_thread_fence(__ATOMIC_ACQ_REL); return;
    default: __atomic_thread_fence(__ATOMIC_SEQ_CST); return;
  }
}

TRAPSAN_API void __tsan_atomic_signal_fence(int mo) {
  switch (ToOrder(mo)) {
    case kRelaxed: return;
    case kConsume:
    case kAcquire: __atomic_signal_fence(__ATOMIC_ACQUIRE); return;
    case kRelease: __atomic_signal_fence(__ATOMIC_RELEASE); return;
    case kAcqRel: __atomic_signal_fence(__ATOMIC_ACQ_REL); return;
    default: __atomic_signal_fence(__ATOMIC_SEQ_CST); return;
  }
}

// ---- Atomic operations, 8 to 64 bits -----------------------------------------
// Signatures as in compiler-rt's sanitizer/tsan_interface_atomic.h. Never
// sampled: atomics do not race with each other.

#define TRAPSAN_TSAN_ATOMICS(bits)                                           \
  TRAPSAN_API a##bits __tsan_atomic##bits##_load(const volatile a##bits* a,  \
                                                 int mo) {                   \
    return Load(a, mo);                                                      \
  }                                                                          \
  TRAPSAN_API void __tsan_atomic##bits##_store(volatile a##bits* a,          \
                                               a##bits v, int mo) {          \
    Store(a, v, mo);                                                         \
  }                                                                          \
  TRAPSAN_API a##bits __tsan_atomic##bits##_exchange(volatile a##bits* a,    \
                                                     a##bits v, int mo) {    \
    return Exchange(a, v, mo);                                               \
  }                                                                          \
  TRAPSAN_API a##bits __tsan_atomic##bits##_fetch_add(volatile a##bits* a,   \
                                                      a##bits v, int mo) {   \
    return FetchAdd(a, v, mo);                                               \
  }                                                                          \
  TRAPSAN_API a##bits __tsan_atomic##bits##_fetch_sub(volatile a##bits* a,   \
                                                      a##bits v, int mo) {   \
    return FetchSub(a, v, mo);                                               \
  }                                                                          \
  TRAPSAN_API a##bits __tsan_atomic##bits##_fetch_and(volatile a##bits* a,   \
                                                      a##bits v, int mo) {   \
    return FetchAnd(a, v, mo);                                               \
  }                                                                          \
  TRAPSAN_API a##bits __tsan_atomic##bits##_fetch_or(volatile a##bits* a,    \
                                                     a##bits v, int mo) {    \
    return FetchOr(a, v, mo);                                                \
  }                                                                          \
  TRAPSAN_API a##bits __tsan_atomic##bits##_fetch_xor(volatile a##bits* a,   \
                                                      a##bits v, int mo) {   \
    return FetchXor(a, v, mo);                                               \
  }                                                                          \
  TRAPSAN_API a##bits __tsan_atomic##bits##_fetch_nand(volatile a##bits* a,  \
                                                       a##bits v, int mo) {  \
    return FetchNand(a, v, mo);                                              \
  }                                                                          \
  TRAPSAN_API int __tsan_atomic##bits##_compare_exchange_strong(             \
      volatile a##bits* a, a##bits* c, a##bits v, int mo, int fail_mo) {     \
    return Cas(a, c, v, /*weak=*/false, mo, fail_mo) ? 1 : 0;                \
  }                                                                          \
  TRAPSAN_API int __tsan_atomic##bits##_compare_exchange_weak(               \
      volatile a##bits* a, a##bits* c, a##bits v, int mo, int fail_mo) {     \
    return Cas(a, c, v, /*weak=*/true, mo, fail_mo) ? 1 : 0;                 \
  }                                                                          \
  TRAPSAN_API a##bits __tsan_atomic##bits##_compare_exchange_val(            \
      volatile a##bits* a, a##bits c, a##bits v, int mo, int fail_mo) {      \
    Cas(a, &c, v, /*weak=*/false, mo, fail_mo);                              \
    return c;                                                                \
  }
TRAPSAN_TSAN_ATOMICS(8)
TRAPSAN_TSAN_ATOMICS(16)
TRAPSAN_TSAN_ATOMICS(32)
TRAPSAN_TSAN_ATOMICS(64)
#undef TRAPSAN_TSAN_ATOMICS

// ---- Atomic operations, 128 bits (cmpxchg16b) ------------------------------

TRAPSAN_API a128 __tsan_atomic128_load(const volatile a128* a, int mo) {
  (void)mo;
  return Load128(a);
}
TRAPSAN_API void __tsan_atomic128_store(volatile a128* a, a128 v, int mo) {
  (void)mo;
  Update128(a, [v](a128) { return v; });
}
TRAPSAN_API a128 __tsan_atomic128_exchange(volatile a128* a, a128 v, int mo) {
  (void)mo;
  return Update128(a, [v](a128) { return v; });
}
TRAPSAN_API a128 __tsan_atomic128_fetch_add(volatile a128* a, a128 v,
                                            int mo) {
  (void)mo;
  return Update128(a, [v](a128 o) {
    return static_cast<a128>(static_cast<u128>(o) + static_cast<u128>(v));
  });
}
TRAPSAN_API a128 __tsan_atomic128_fetch_sub(volatile a128* a, a128 v,
                                            int mo) {
  (void)mo;
  return Update128(a, [v](a128 o) {
    return static_cast<a128>(static_cast<u128>(o) - static_cast<u128>(v));
  });
}
TRAPSAN_API a128 __tsan_atomic128_fetch_and(volatile a128* a, a128 v,
                                            int mo) {
  (void)mo;
  return Update128(a, [v](a128 o) { return o & v; });
}
TRAPSAN_API a128 __tsan_atomic128_fetch_or(volatile a128* a, a128 v, int mo) {
  (void)mo;
  return Update128(a, [v](a128 o) { return o | v; });
}
TRAPSAN_API a128 __tsan_atomic128_fetch_xor(volatile a128* a, a128 v,
                                            int mo) {
  (void)mo;
  return Update128(a, [v](a128 o) { return o ^ v; });
}
TRAPSAN_API a128 __tsan_atomic128_fetch_nand(volatile a128* a, a128 v,
                                             int mo) {
  (void)mo;
  return Update128(a, [v](a128 o) { return ~(o & v); });
}
TRAPSAN_API int __tsan_atomic128_compare_exchange_strong(volatile a128* a,
                                                         a128* c, a128 v,
                                                         int mo, int fail_mo) {
  (void)mo;
  (void)fail_mo;
  return Cas128(a, c, v) ? 1 : 0;
}
TRAPSAN_API int __tsan_atomic128_compare_exchange_weak(volatile a128* a,
                                                       a128* c, a128 v, int mo,
                                                       int fail_mo) {
  (void)mo;
  (void)fail_mo;
  return Cas128(a, c, v) ? 1 : 0;
}
TRAPSAN_API a128 __tsan_atomic128_compare_exchange_val(volatile a128* a,
                                                       a128 c, a128 v, int mo,
                                                       int fail_mo) {
  (void)mo;
  (void)fail_mo;
  Cas128(a, &c, v);
  return c;
}

}  // extern "C"
