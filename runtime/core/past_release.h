// Windows past the release (docs/design.md, "Past the release").
//
// A held hardware window (release.h) normally closes at its watcher A's next
// possible release. With past_release=1 it may instead be *released* there:
// it stays armed, and the runtime first reads every other thread's
// synchronization word (sync_state.h) that shows the thread running
// instrumented code ("outside", odd). A later access of such a thread B
// that meets the window is a race when B's word is still what it was: B
// performed no acquire since A's release (every acquire advances the word)
// and was not inside code the plugin does not see, so nothing orders B's
// access after A's. Any other thread's access, and any access of B's once
// its word moved, is dropped (counter traps_ordered): no happens-before is
// tracked, only whether anything could have made one.
//
// The window ends as a held one does (stolen, expired, the owner's own
// access, exit); its owner's later releases leave it as it is.
#ifndef TRAPSAN_RUNTIME_CORE_PAST_RELEASE_H_
#define TRAPSAN_RUNTIME_CORE_PAST_RELEASE_H_

#include <cstdint>

namespace trapsan {

struct Slot;

// The calling thread's synchronization word may be read by other threads'
// releases from now until UnregisterSyncWord (at its exit). Ordinary
// context.
void RegisterSyncWord();
void UnregisterSyncWord();

// At the owner's release: whether its held window `cookie` on slot `index`
// stays open past the release (it was released now or before). False: close
// it as before (past_release=0, a soft or scoped window, or no other thread
// is outside). Ordinary context, the owner, inside the runtime.
bool KeepPastRelease(int index, uint64_t cookie);

// A trap or checked access of the calling thread (trapsan's thread number
// `thread_id`: ThreadState::thread_id, AccessInfo::thread_id) that met the
// window `cookie` on `slot`: true when the window is a released one and the
// access may be ordered after the watcher's (not a race: drop it).
// Async-signal-safe.
bool OrderedAfterRelease(const Slot& slot, uint64_t cookie,
                         uint32_t thread_id);

// After fork, in the child (its tid known): only the calling thread's.
void ResetSyncWordsInChild();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_PAST_RELEASE_H_
