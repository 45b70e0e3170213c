// The thread's synchronization state word (docs/design.md, "Past the
// release"): what lets a window outlive its watcher's release.
//
// __trapsan_sync_state, one 64-bit thread-local word that plugin-built code
// keeps up to date (compiler-plugin/SyncState.cpp; emitted when the plugin
// runs with TRAPSAN_PLUGIN_SYNC_STATE=1, off by default while its cost is
// measured):
//   bit 0 ("outside"): the thread runs instrumented code that it reached,
//     from a start trapsan saw (an instrumented thread start routine or
//     main), through calls of instrumented code only. Cleared before every
//     call that may synchronize (a call into code the plugin does not see)
//     and restored after it to what it was before, so a callback entered
//     from uninstrumented code runs with it clear, and so does anything
//     after an unwind or a longjmp out of such a call.
//   bits 1-63 (the count): advanced by one (the word by 2) at every possible
//     acquire: each such call (before it), every acquire-or-stronger atomic,
//     fence and inline asm that may touch memory (after it).
// A thread whose word is odd and unchanged between two moments T and t
// performed no acquire in [T, t] and was not inside unseen code at T: no
// access of its at t can be ordered after a release made after T.
// (x86-TSO: the watcher reads the word at T, before its release; the thread
// writes it after any acquire that reads that release, and a load is never
// ordered after a later store, so the read sees the old word.)
#ifndef TRAPSAN_RUNTIME_CORE_SYNC_STATE_H_
#define TRAPSAN_RUNTIME_CORE_SYNC_STATE_H_

#include <cstdint>

extern "C" {
extern __thread uint64_t __trapsan_sync_state
    __attribute__((tls_model("initial-exec")));
}

namespace trapsan {

inline constexpr uint64_t kSyncOutside = 1;

inline bool SyncOutside(uint64_t word) { return (word & kSyncOutside) != 0; }

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_SYNC_STATE_H_
