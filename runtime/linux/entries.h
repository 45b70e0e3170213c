// The table of instrumented entry points: functions of plugin-built objects
// that may be called through a pointer (compiler-plugin/SyncState.h emits an
// ELF note "trapsan" of type kEntryNoteType for each, when built with
// TRAPSAN_PLUGIN_SYNC_STATE=1). The thread trampoline asks it whether a
// thread's start routine is instrumented: such a thread starts "outside"
// (runtime/core/sync_state.h).
#ifndef TRAPSAN_RUNTIME_LINUX_ENTRIES_H_
#define TRAPSAN_RUNTIME_LINUX_ENTRIES_H_

#include <cstdint>

namespace trapsan {

// Note: name "trapsan", type kEntryNoteType, desc: int64 (the function's
// address minus the desc's). Must match compiler-plugin/SiteFormat.h.
inline constexpr uint32_t kEntryNoteType = 0x54534e02;

// Whether `fn` is the address of an instrumented entry point of a loaded
// object. Scans the objects' notes again when one was loaded since the last
// scan (dl_iterate_phdr's count). Ordinary context only: it locks and may
// allocate.
bool IsInstrumentedEntry(uintptr_t fn);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_ENTRIES_H_
