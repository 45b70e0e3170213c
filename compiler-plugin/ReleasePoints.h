// Release points (docs/design.md, "Release-bounded windows"): before each
// place where the thread may perform a release that trapsan does not see
// otherwise, *if a window may be held there*, the pass adds
//
//     call __trapsan_release_check
//
// (5 bytes; clobbers r11 and the flags). __trapsan_release_check is a hidden
// naked function, one per linked object (comdat), that tests the thread's
// __trapsan_windows_open (initial-exec TLS) and, only when set, jumps to the
// runtime's __trapsan_release_all, which saves every register and closes
// the thread's held windows before the release runs.
//
// Possible releases: a call that may synchronize (every call but intrinsics
// without side effects, nosync or memory-free callees and the known
// non-synchronizing library functions: Instrumenter::IsSyncPoint; a direct
// call to an instrumented function of this module is none: its own points
// are marked), inline asm (trapsan's own excepted), atomic stores,
// read-modify-writes, compare-exchanges and fences with release or stronger
// ordering, every `resume`, and every `ret` (the caller may be
// uninstrumented and release next) but those of internal functions that
// only instrumented code calls.
//
// A window may be held at a place (a forward "may" dataflow per function)
// when some path from a sample (one of trapsan's sites), from the function's
// entry or an EH pad, or from a call of an internal function that returns
// with windows held, reaches it with no possible release or call that
// closes on return in between: after a release point no window is held (it
// closed them), nor after a call that returns through an instrumented
// function's `ret` point. Elsewhere no point is needed: none can be held.
//
// Returns to an instrumented caller. A `ret`'s point is
//
//     call __trapsan_return_check      (r10: the function's return address)
//
// whose slow path closes the windows unless the return address holds a
// return marker, `nopl 0x73707274(%rax,%rax,1)` (8 bytes), which the pass
// puts right after each call of an instrumented function of this module
// (defined here, not interposable) that is not in tail position. The code
// after a marker counts on windows being held (the marker opens: points
// follow where they may be held), so a return that lands on one may leave
// them open: an instrumented caller goes on holding its callee's windows
// until its own next release (ThreadSanitizer's simple_stack: the sampled
// read in a callee, the race after the caller's barrier). Every other return
// (to uninstrumented code: a callback's caller, a signal's trampoline, a
// thread's start; to a call not followed by the marker: an indirect call, a
// call of another module) closes them. A call in tail position gets no
// marker (it would not be a tail call any more); as a tail call its
// callee returns to this function's caller, which has a marker or not.
//
// TRAPSAN_PLUGIN_RELEASE_POINTS=0 in the compiler's environment leaves them
// out; the sites of code built so carry no kSiteReleasePoints flag, and the
// runtime never holds their windows (they stall).
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
// points were marked, of how many possible releases.
struct ReleasePointCounts {
  unsigned candidates = 0;  // possible releases
  unsigned marked = 0;      // of them, where a window may be held
  unsigned markers = 0;     // return markers after calls
};
ReleasePointCounts MarkReleasePoints(
    llvm::Function& f,
    const llvm::SmallPtrSetImpl<const llvm::Function*>& instrumented);

// f is internal, its address never escapes and every call of it is a
// direct call from an instrumented function (not musttail): its `ret`s
// return to instrumented code and need no point.
bool ReturnsToInstrumented(
    const llvm::Function& f,
    const llvm::SmallPtrSetImpl<const llvm::Function*>& instrumented);

// The environment allows release points (TRAPSAN_PLUGIN_RELEASE_POINTS).
bool ReleasePointsEnabled();

}  // namespace trapsan_plugin

#endif  // TRAPSAN_COMPILER_PLUGIN_RELEASEPOINTS_H_
