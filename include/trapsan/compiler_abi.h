/* The ABI between instrumented code and the trapsan runtime. Not for
 * hand-written code: use trapsan_check_read/write from trapsan.h.
 *
 * The compiler plugin (compiler-plugin/, docs/compiler-plugin.md) cuts a
 * function's accesses into segments (a block's accesses up to the next call
 * that may synchronize, atomic or fence) and marks the end of each with a
 * label site: a 1-byte nop and an ELF note "trapsan" naming, per access, the
 * register or frame slot holding its base, offset, size, kind and line.
 * The countdown is updated once per region (a function's code outside
 * loops, or one loop's body) by a check at its head (the function's entry,
 * the loop's header), by the number of accesses a pass through the region
 * is expected to make (N):
 *
 *     subl $N, %fs:<__trapsan_countdown>   # initial-exec TLS (a register
 *     jg   1f                              #   in a call-free inner loop)
 *     call *__trapsan_site@GOTPCREL(%rip)  # saves every register
 *   2:                                     # + a note: a check, its region
 *   1:
 *
 * When a check expires the runtime sets an execution breakpoint on one of
 * the region's labels; the thread traps there and the access is read out of
 * its registers. Single-block loops keep calling sites instead: the same asm
 * with the countdown in a register, after the accesses, whose note names
 * them (as every site does with TRAPSAN_PLUGIN_SITES=call).
 *
 * __trapsan_site (runtime/linux/site_stub.S) is not a C function: it is
 * called through the GOT (bound at load; a lazily bound PLT entry's
 * resolver would clobber live registers before the stub runs), preserves
 * everything, finds the site's note by its return address, reads
 * the access at which the countdown crossed zero out of the saved registers
 * (or, for a check, arms a label) and samples it like __trapsan_sample. The
 * note layout is in runtime/linux/sites.h; labels in runtime/linux/labels.h.
 *
 * __trapsan_sample is the same slow path as a C call, for instrumenters
 * that pass the access explicitly:
 *
 *     if ((__trapsan_countdown -= N) <= 0)
 *       __trapsan_sample(addr_of_one_of_them, size, is_write, pc);
 *
 * Both refill the countdown (mean: sample_rate) and maybe open a watch
 * window on the access. Before the runtime is initialized every expiry
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
