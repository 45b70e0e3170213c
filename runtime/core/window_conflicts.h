// What a window found: the conflicts recorded against it (hardware traps,
// soft checks, overlap checks of other samples), judged and reported.
// Stale traps (a slot re-armed under a preempted trapper), the window
// owner's own accesses, masked windows' writes that changed no masked bit
// and timer samples' pairs that may be two atomics are filtered here.
#ifndef TRAPSAN_RUNTIME_CORE_WINDOW_CONFLICTS_H_
#define TRAPSAN_RUNTIME_CORE_WINDOW_CONFLICTS_H_

#include <cstdint>
#include <vector>

#include "access.h"
#include "conflict_table.h"
#include "slots.h"

namespace trapsan {

// A window is open on bytes this access touches, and one of the two writes:
// records the conflict against that window. True if one was found (a held
// window of this thread's own is closed instead: false).
bool FoundOpenWindow(const AccessInfo& access);

// Appends the conflicts recorded against `cookie` to *out (and removes them
// from the table).
void TakeConflictsOf(uint64_t cookie, std::vector<Conflict>* out);

// Conflicts recorded by the window's own watcher thread (a held window's
// owner touching its bytes again, a trap taken before the handler knew it
// was the owner's): dropped, counted as self traps.
void DropOwnersConflicts(const WindowInfo& window,
                         std::vector<Conflict>* conflicts);

// A masked window's conflicts (TRAPSAN_ASSERT_EXCLUSIVE_BITS): only writes
// that changed masked bits are kept (`exit_changed`: the value change of
// the window's last stall). Dropped ones are counted (conflicts_masked).
void KeepMaskedChanges(const Slot::OpenState& open, bool exit_changed,
                       std::vector<Conflict>* conflicts);

// Reports one conflict of `window` (`watcher_known`: the window's
// description was found; `late`: it came after the window closed), unless
// it is a stale trap or, by options, only a possible race.
void ReportConflict(const WindowInfo& window, bool watcher_known,
                    const Conflict& conflict, bool late);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_WINDOW_CONFLICTS_H_
