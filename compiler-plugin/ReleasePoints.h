// Release points (docs/design.md, "Release-bounded windows"): before every
// place where the thread may perform a release that trapsan does not see
// otherwise, the pass adds
//
//     if (__trapsan_windows_open != 0) __trapsan_release();
//
// (an initial-exec TLS load, a compare and a branch predicted not taken), so
// that a watch window held open by the thread since a sampled access is
// closed before the release runs. Release points: a call that may
// synchronize (every call but intrinsics without side effects, nosync or
// memory-free callees and the known non-synchronizing library functions:
// Instrumenter::IsSyncPoint), inline asm (trapsan's own sites excepted),
// atomic stores, read-modify-writes, compare-exchanges and fences with
// release or stronger ordering, and every `ret` and `resume` (the caller may
// be uninstrumented and release next) but those of internal functions that
// only instrumented code calls.
//
// TRAPSAN_PLUGIN_RELEASE_POINTS=0 in the compiler's environment leaves them
// out (code built so must not run with release_windows=1).
#ifndef TRAPSAN_COMPILER_PLUGIN_RELEASEPOINTS_H_
#define TRAPSAN_COMPILER_PLUGIN_RELEASEPOINTS_H_

#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/IR/Function.h"

namespace trapsan_plugin {

// Marks f's release points, after f was instrumented (the sites' own inline
// asm is recognized and skipped). `instrumented`: the module's functions the
// pass instruments (their own release points are marked): a direct call to
// one of them, defined here and not interposable, is no release point, nor
// is a return from an internal function only they call. Returns how many
// points were marked.
unsigned MarkReleasePoints(
    llvm::Function& f,
    const llvm::SmallPtrSetImpl<const llvm::Function*>& instrumented);

// The environment allows release points (TRAPSAN_PLUGIN_RELEASE_POINTS).
bool ReleasePointsEnabled();

}  // namespace trapsan_plugin

#endif  // TRAPSAN_COMPILER_PLUGIN_RELEASEPOINTS_H_
