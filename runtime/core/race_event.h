// A race as the window logic found it, before symbolization and formatting:
// the watcher's side (the sampled access and its window) and the other side
// (a conflicting access caught by a trap or by the software overlap check),
// or a value change with no trap ("unknown origin", KCSAN's term).
#ifndef TRAPSAN_RUNTIME_CORE_RACE_EVENT_H_
#define TRAPSAN_RUNTIME_CORE_RACE_EVENT_H_

#include <cstdint>

#include "conflict_table.h"
#include "slots.h"

namespace trapsan {

struct RaceEvent {
  bool unknown_origin = false;
  bool late = false;            // the trap came after the window closed
  bool watcher_known = true;    // false: the window's history was reused
  WindowInfo window;            // the watcher's side
  Conflict racer{};             // the other side, unless unknown_origin
  bool value_changed = false;
  uint64_t old_value = 0, new_value = 0;
};

// Symbolizes, deduplicates, formats and prints (or counts) a race; may exit
// the process (halt_on_error). Implemented by the report layer. Not for
// signal handlers.
void SubmitRace(const RaceEvent& event);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_RACE_EVENT_H_
