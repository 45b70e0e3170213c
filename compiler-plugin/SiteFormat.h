// What the runtime reads of the plugin's output: the countdown's name, how
// a site calls the runtime, and the site note's layout (the ABI with
// runtime/linux/sites.h and runtime/linux/site_stub.S; change both sides
// together and bump kSiteVersion).
#ifndef TRAPSAN_COMPILER_PLUGIN_SITE_FORMAT_H_
#define TRAPSAN_COMPILER_PLUGIN_SITE_FORMAT_H_

#include <cstdint>

namespace trapsan_plugin {

inline constexpr char kCountdownName[] = "__trapsan_countdown";
// How a check or calling site calls the runtime: through the GOT, never
// through a PLT. The site's registers, flags and vector state are all live
// (site_stub.S saves them), and a PLT's first, lazily bound call would run
// the dynamic linker's resolver first, which clobbers r10, r11 and flags
// (the program then loses live values on its first sample). A GOT entry is
// bound when the object is loaded (R_X86_64_GLOB_DAT) whatever the binding
// mode (-z lazy, -z now, dlopen); where the symbol is local (libtrapsan.a
// linked in) the linker relaxes this to a direct call (GOTPCRELX). The note's
// site is the return address, so the call's length (6 bytes) matters not.
inline constexpr char kSiteCall[] = "call *__trapsan_site@GOTPCREL(%rip)";
// The site note's layout: runtime/linux/sites.h.
inline constexpr uint32_t kSiteNoteType = 0x54534e01;
// An instrumented entry point's note (SyncState.h; runtime/linux/entries.h):
// same name and section, an 8-byte desc: the function's address minus the
// desc's.
inline constexpr uint32_t kEntryNoteType = 0x54534e02;
inline constexpr unsigned kSiteVersion = 4;
inline constexpr unsigned kNoOperandIndex = 0xff;
inline constexpr unsigned kSiteCountdownInRegister = 1;
inline constexpr unsigned kSiteLabel = 2;
inline constexpr unsigned kSiteCheck = 4;
// The site's function has its release points marked (ReleasePoints.h): the
// runtime may hold the site's windows until the next one.
inline constexpr unsigned kSiteReleasePoints = 8;
// A label's weight is its expected accesses per pass through its region's
// check, in 1/kWeightUnit.
inline constexpr unsigned kWeightUnit = 1024;
inline constexpr char kNoInstrumentAnnotation[] = "trapsan_no_instrument";
inline constexpr char kInstrumentedFlag[] = "trapsan.instrumented";

}  // namespace trapsan_plugin

#endif  // TRAPSAN_COMPILER_PLUGIN_SITE_FORMAT_H_
