/* The ABI between instrumented code and the trapsan runtime: what the
 * compiler plugin (compiler-plugin/) emits calls to. Not for hand-written
 * code: use trapsan_check_read/write from trapsan.h.
 *
 * The inline fast path, per access or per run of N accesses (the plugin
 * batches the accesses of a block up to its next call, atomic or fence; see
 * docs/compiler-plugin.md), is
 *
 *     if ((__trapsan_countdown -= N) <= 0)
 *       __trapsan_sample(addr_of_one_of_them, size, is_write, pc);
 *
 * __trapsan_countdown is an initial-exec thread-local: one %fs-relative
 * update and a predicted branch. __trapsan_sample refills it
 * (mean: sample_rate) and maybe opens a watch window on the access. Before
 * the runtime is initialized every call lands in __trapsan_sample, which
 * initializes it. */
#ifndef TRAPSAN_COMPILER_ABI_H_
#define TRAPSAN_COMPILER_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Accesses left before the next sample, per thread. */
extern __thread int32_t __trapsan_countdown
    __attribute__((tls_model("initial-exec")));

/* The slow path. `size`: bytes accessed (any size; a range is watched by its
 * first naturally aligned 8/4/2/1 bytes). `is_write`: 0 or 1. `pc`: the
 * address of the instruction making the access, or NULL: the report then
 * names the call's own location (give the call the access's debug
 * location). The stack is unwound from the call. Safe to call from any
 * thread, any time. */
void __trapsan_sample(const volatile void *addr, size_t size, int is_write,
                      const void *pc);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* TRAPSAN_COMPILER_ABI_H_ */
