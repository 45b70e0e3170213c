// The thread's synchronization state word, __trapsan_sync_state
// (runtime/core/sync_state.h; docs/design.md, "Past the release"), as
// plugin-built code keeps it, and the table of instrumented entry points.
// Emitted only when the compiler runs with TRAPSAN_PLUGIN_SYNC_STATE=1 (off
// by default while its cost is measured).
//
// Around each call that may synchronize into code the pass does not
// instrument here (Instrumenter::IsSyncPoint's calls but direct calls of
// this module's instrumented functions and trapsan's own; inline asm with
// side effects or a memory clobber, not trapsan's):
//
//     before:  s = state;  state = (s | 1) + 1   (inside, count advanced)
//     after:   state = state | (s & 1)           (the outside bit back)
//
// as inline asm on %fs:(the word's offset, loaded once per function):
//     movq %fs:(r), s; orq $1, %fs:(r); addq $1, %fs:(r); andl $1, s
//     orq s, %fs:(r)
// (each change one read-modify-write instruction: a signal handler's own
// changes of the word are never lost).
// "after" is the next instruction (after a return marker, if any); for an
// invoke, the normal destination (its edge split when the destination has
// other predecessors); nothing after a `musttail` call (the word stays
// inside: safe). A `tail` call before a `ret` gets its "after" too, so it is
// no longer a tail call in the code generated.
// After each acquire-or-stronger atomic load, read-modify-write, cmpxchg
// (success or failure order) and fence: state += 2 (the count advances).
// At the entry of an instrumented `main`: state |= 1.
//
// Entry notes: every instrumented function that may be called through a
// pointer (not local, or its address taken) gets an ELF note "trapsan" of
// type kEntryNoteType in .note.trapsan whose 8-byte descriptor is the
// function's address relative to the descriptor (`.quad fn - .` through a
// local alias: no dynamic relocation, and it names this object's
// definition). runtime/linux/entries.{h,cpp} reads them.
#ifndef TRAPSAN_COMPILER_PLUGIN_SYNCSTATE_H_
#define TRAPSAN_COMPILER_PLUGIN_SYNCSTATE_H_

#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/Module.h"

namespace trapsan_plugin {

struct SyncStateCounts {
  unsigned calls = 0;     // calls (and asm) with "before" code
  unsigned restores = 0;  // of them, with "after" code
  unsigned acquires = 0;  // acquire atomics and fences counted
  unsigned entries = 0;   // entry notes
};

// TRAPSAN_PLUGIN_SYNC_STATE=1 in the compiler's environment.
bool SyncStateEnabled();

// Keeps the word in each of the module's `instrumented` functions (after
// their sites and release points are in place) and emits the entry notes.
// `verify`: check each function changed (TRAPSAN_PLUGIN_VERIFY). Prints a
// line with TRAPSAN_PLUGIN_VERBOSE=1. Whether it changed the module.
bool EmitSyncState(
    llvm::Module& m,
    const llvm::SmallPtrSetImpl<const llvm::Function*>& instrumented,
    bool verify);

}  // namespace trapsan_plugin

#endif  // TRAPSAN_COMPILER_PLUGIN_SYNCSTATE_H_
