/* Source annotations for code built with trapsan's compiler plugin
 * (trapsan-cc, -fpass-plugin=TrapsanPlugin.so; docs/compiler-plugin.md).
 *
 *   #include <trapsan/annotations.h>
 *   TRAPSAN_NO_INSTRUMENT void spin_on_flag(void) { ... }
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

#endif /* TRAPSAN_ANNOTATIONS_H_ */
