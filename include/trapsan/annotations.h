/* Source annotations for trapsan (docs/annotations.md), C and C++.
 *
 *   #include <trapsan/annotations.h>
 *   TRAPSAN_NO_INSTRUMENT void spin_on_flag(void) { ... }
 *   stats_hits = TRAPSAN_DATA_RACE(stats_hits) + 1;    // intentional race
 *   TRAPSAN_ASSERT_EXCLUSIVE_WRITER(queue->tail);      // KCSAN-style check
 *
 * TRAPSAN_NO_INSTRUMENT: the plugin leaves the function's own loads and
 * stores alone (callees are instrumented as usual). It marks the function
 * with annotate("trapsan_no_instrument"), which the plugin reads from
 * llvm.global.annotations, plus disable_sanitizer_instrumentation where the
 * compiler has it (clang 14+: also keeps -fsanitize=thread away) and
 * noinline (an inlined copy would be instrumented in its caller).
 * Harmless for compilers without the plugin. */
#ifndef TRAPSAN_ANNOTATIONS_H_
#define TRAPSAN_ANNOTATIONS_H_

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TRAPSAN_HAS_FEATURE_TSAN_ 1
#endif
#endif
#ifndef TRAPSAN_HAS_FEATURE_TSAN_
#define TRAPSAN_HAS_FEATURE_TSAN_ 0
#endif

#if defined(__has_attribute)
#define TRAPSAN_HAS_ATTRIBUTE_(x) __has_attribute(x)
#else
#define TRAPSAN_HAS_ATTRIBUTE_(x) 0
#endif

#if TRAPSAN_HAS_ATTRIBUTE_(disable_sanitizer_instrumentation)
#define TRAPSAN_DISABLE_SANITIZERS_ \
  __attribute__((disable_sanitizer_instrumentation))
#else
#define TRAPSAN_DISABLE_SANITIZERS_
#endif

#if defined(__clang__)
#define TRAPSAN_NO_INSTRUMENT                                      \
  __attribute__((annotate("trapsan_no_instrument"), noinline)) \
  TRAPSAN_DISABLE_SANITIZERS_
#elif defined(__GNUC__)
#define TRAPSAN_NO_INSTRUMENT \
  __attribute__((noinline, no_sanitize_thread)) TRAPSAN_DISABLE_SANITIZERS_
#else
#define TRAPSAN_NO_INSTRUMENT
#endif

/* ---- Intentional races, ignore regions and exclusivity assertions ----
 *
 * Active when trapsan is in the build: __TRAPSAN__ (trapsan-cc/trapsan-c++,
 * find_package(trapsan)), a -fsanitize=thread build (meant to be linked with
 * libtrapsan; with ThreadSanitizer's own runtime they do nothing), or
 * TRAPSAN_ENABLE_ANNOTATIONS defined by hand (a plain build run with
 * LD_PRELOAD=libtrapsan.so, or one using trapsan_check_read/write). The
 * runtime's entry points are weak references: a program linked without
 * trapsan runs and the annotations do nothing. Elsewhere, or with
 * TRAPSAN_DISABLE_ANNOTATIONS, every macro compiles to nothing (the
 * expression of TRAPSAN_DATA_RACE is still evaluated, once).
 *
 * TRAPSAN_DATA_RACE(expr): evaluates expr (which must have a value, as
 *   KCSAN's data_race()) without its accesses being sampled or checked:
 *   an intentional race on this expression is not reported.
 * TRAPSAN_IGNORE_BEGIN() / TRAPSAN_IGNORE_END(): the calling thread's
 *   accesses in between are neither sampled nor checked (nesting counts).
 * TRAPSAN_ASSERT_EXCLUSIVE_WRITER(var): no other thread writes var now.
 * TRAPSAN_ASSERT_EXCLUSIVE_ACCESS(var): no other thread reads or writes var.
 * TRAPSAN_ASSERT_EXCLUSIVE_BITS(var, mask): no other thread changes the bits
 *   of mask in var (KCSAN's semantics: a write that changes only other bits
 *   is allowed; bit 0 is the value's lowest bit).
 *   Each opens a watch window of its own on var (in mode=ci every time, not
 *   sampled; otherwise at the sample rate) and reports an access of another
 *   thread caught in it with both stacks, the assertion's being the first.
 *   Not an access itself: it reads nothing and changes nothing.
 * TRAPSAN_ASSERT_EXCLUSIVE_{WRITER,ACCESS}_SCOPED(var) (and _BITS_SCOPED):
 *   the assertion for the whole enclosing scope: its window stays open from
 *   the macro to the scope's end (C: __attribute__((cleanup)); C++: a
 *   destructor), where it is checked once more and closed. The asserting
 *   thread's own accesses are allowed. */
#if !defined(TRAPSAN_DISABLE_ANNOTATIONS) &&                          \
    (defined(__TRAPSAN__) || defined(TRAPSAN_ENABLE_ANNOTATIONS) ||   \
     defined(__SANITIZE_THREAD__) || TRAPSAN_HAS_FEATURE_TSAN_)
#define TRAPSAN_ANNOTATIONS_ENABLED 1
#else
#define TRAPSAN_ANNOTATIONS_ENABLED 0
#endif

#if TRAPSAN_ANNOTATIONS_ENABLED
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif
/* Runtime entry points (runtime/abi/annotations.cpp), weak references.
 * flags: 1 = only writes are exclusive (readers allowed). mask: for _BITS,
 * else 0. from: 0, or the return address the reported stack starts at (the
 * scoped forms' helpers give their caller's). */
void __trapsan_ignore_begin(void) __attribute__((weak));
void __trapsan_ignore_end(void) __attribute__((weak));
void __trapsan_assert_exclusive(const volatile void *addr, size_t size,
                                int flags, unsigned long long mask,
                                const void *from) __attribute__((weak));
/* The scoped forms: begin returns the scope's window (0: none), which end
 * closes. */
unsigned long long __trapsan_assert_exclusive_begin(
    const volatile void *addr, size_t size, int flags, unsigned long long mask,
    const void *from) __attribute__((weak));
void __trapsan_assert_exclusive_end(unsigned long long scope)
    __attribute__((weak));
#ifdef __cplusplus
}  /* extern "C" */
#endif

#define TRAPSAN_EXCLUSIVE_WRITER_ 1
#define TRAPSAN_EXCLUSIVE_ACCESS_ 0

/* Expressions, not inline functions: the report's stack starts in the
 * function that wrote the macro, with no inlined helper frame on top. */
#define TRAPSAN_IGNORE_BEGIN() \
  (__trapsan_ignore_begin ? __trapsan_ignore_begin() : (void)0)
#define TRAPSAN_IGNORE_END() \
  (__trapsan_ignore_end ? __trapsan_ignore_end() : (void)0)
#define TRAPSAN_ASSERT_(var, flags, mask)                                   \
  (__trapsan_assert_exclusive                                               \
       ? __trapsan_assert_exclusive(&(var), sizeof(var), (flags),           \
                                    (unsigned long long)(mask), (void *)0) \
       : (void)0)

#define TRAPSAN_CONCAT2_(a, b) a##b
#define TRAPSAN_CONCAT_(a, b) TRAPSAN_CONCAT2_(a, b)

#ifdef __cplusplus
#define TRAPSAN_DATA_RACE(expr)                                         \
  ([&]() {                                                              \
    ::trapsan_annotations_::IgnoreScope trapsan_ignore_scope_;          \
    return (expr);                                                      \
  }())
namespace trapsan_annotations_ {
struct IgnoreScope {
  IgnoreScope() { TRAPSAN_IGNORE_BEGIN(); }
  ~IgnoreScope() { TRAPSAN_IGNORE_END(); }
  IgnoreScope(const IgnoreScope &) = delete;
  IgnoreScope &operator=(const IgnoreScope &) = delete;
};
/* Not inlined: the assertion's stack starts at the caller's return
 * address (the line of the macro). */
struct AssertScope {
  unsigned long long scope;
  __attribute__((noinline)) AssertScope(const volatile void *a, size_t s,
                                        int f, unsigned long long m)
      : scope(__trapsan_assert_exclusive_begin
                  ? __trapsan_assert_exclusive_begin(
                        a, s, f, m, __builtin_return_address(0))
                  : 0) {}
  ~AssertScope() {
    if (scope != 0 && __trapsan_assert_exclusive_end)
      __trapsan_assert_exclusive_end(scope);
  }
  AssertScope(const AssertScope &) = delete;
  AssertScope &operator=(const AssertScope &) = delete;
};
}  // namespace trapsan_annotations_
#define TRAPSAN_SCOPED_ASSERT_(var, flags, mask)                         \
  ::trapsan_annotations_::AssertScope TRAPSAN_CONCAT_(trapsan_assert_,   \
                                                      __LINE__)(         \
      &(var), sizeof(var), (flags), (unsigned long long)(mask))
#else /* C: a GNU statement expression and the cleanup attribute. */
#define TRAPSAN_DATA_RACE(expr)                                         \
  __extension__({                                                       \
    TRAPSAN_IGNORE_BEGIN();                                             \
    __typeof__(expr) trapsan_value_ = (expr);                           \
    TRAPSAN_IGNORE_END();                                               \
    trapsan_value_;                                                     \
  })
struct trapsan_assert_scope_ {
  unsigned long long scope;
};
static __inline__ __attribute__((unused)) void trapsan_assert_scope_end_(
    struct trapsan_assert_scope_ *s) {
  if (s->scope != 0 && __trapsan_assert_exclusive_end)
    __trapsan_assert_exclusive_end(s->scope);
}
/* Not inlined: the stack starts at the caller's return address. */
static __attribute__((noinline, unused)) struct trapsan_assert_scope_
trapsan_assert_scope_begin_(const volatile void *addr, size_t size,
                            int flags, unsigned long long mask) {
  struct trapsan_assert_scope_ s = {0};
  if (__trapsan_assert_exclusive_begin)
    s.scope = __trapsan_assert_exclusive_begin(addr, size, flags, mask,
                                               __builtin_return_address(0));
  return s;
}
#define TRAPSAN_SCOPED_ASSERT_(var, flags, mask)                          \
  struct trapsan_assert_scope_ TRAPSAN_CONCAT_(trapsan_assert_, __LINE__)  \
      __attribute__((cleanup(trapsan_assert_scope_end_), unused)) =       \
          trapsan_assert_scope_begin_(&(var), sizeof(var), (flags),       \
                                      (unsigned long long)(mask))
#endif /* __cplusplus */

#define TRAPSAN_ASSERT_EXCLUSIVE_WRITER(var) \
  TRAPSAN_ASSERT_(var, TRAPSAN_EXCLUSIVE_WRITER_, 0)
#define TRAPSAN_ASSERT_EXCLUSIVE_ACCESS(var) \
  TRAPSAN_ASSERT_(var, TRAPSAN_EXCLUSIVE_ACCESS_, 0)
#define TRAPSAN_ASSERT_EXCLUSIVE_BITS(var, mask) \
  TRAPSAN_ASSERT_(var, TRAPSAN_EXCLUSIVE_WRITER_, mask)
#define TRAPSAN_ASSERT_EXCLUSIVE_WRITER_SCOPED(var) \
  TRAPSAN_SCOPED_ASSERT_(var, TRAPSAN_EXCLUSIVE_WRITER_, 0)
#define TRAPSAN_ASSERT_EXCLUSIVE_ACCESS_SCOPED(var) \
  TRAPSAN_SCOPED_ASSERT_(var, TRAPSAN_EXCLUSIVE_ACCESS_, 0)
#define TRAPSAN_ASSERT_EXCLUSIVE_BITS_SCOPED(var, mask) \
  TRAPSAN_SCOPED_ASSERT_(var, TRAPSAN_EXCLUSIVE_WRITER_, mask)

#else /* !TRAPSAN_ANNOTATIONS_ENABLED: nothing. */
#define TRAPSAN_DATA_RACE(expr) (expr)
#define TRAPSAN_IGNORE_BEGIN() ((void)0)
#define TRAPSAN_IGNORE_END() ((void)0)
#define TRAPSAN_ASSERT_EXCLUSIVE_WRITER(var) ((void)0)
#define TRAPSAN_ASSERT_EXCLUSIVE_ACCESS(var) ((void)0)
#define TRAPSAN_ASSERT_EXCLUSIVE_BITS(var, mask) ((void)0)
#define TRAPSAN_ASSERT_EXCLUSIVE_WRITER_SCOPED(var) ((void)0)
#define TRAPSAN_ASSERT_EXCLUSIVE_ACCESS_SCOPED(var) ((void)0)
#define TRAPSAN_ASSERT_EXCLUSIVE_BITS_SCOPED(var, mask) ((void)0)
#endif /* TRAPSAN_ANNOTATIONS_ENABLED */

#endif /* TRAPSAN_ANNOTATIONS_H_ */
