// Instrumented sites: the compiler plugin's inline fast path calls
// __trapsan_site (site_stub.S) when a countdown runs out; the site's metadata,
// an ELF note ("trapsan", in a PT_NOTE segment), says where the accesses'
// addresses are: which saved register holds each base, plus a constant
// offset. The note layout is the ABI between compiler-plugin/SiteFormat.h
// and this file; docs/compiler-plugin.md describes it.
#ifndef TRAPSAN_RUNTIME_LINUX_SITES_H_
#define TRAPSAN_RUNTIME_LINUX_SITES_H_

#include <cstdint>

namespace trapsan {

// Note: name "trapsan", type kSiteNoteType, desc:
//   int32  site - &this field    (the return address of the call; a label's
//                                 nop)
//   uint8  version (kSiteVersion), flags (kSite*), variants, operands,
//          selector operand (kNoOperand: one variant), 0
//   uint16 accesses
//   uint32 weight  (a label: expected accesses per pass through its region's
//                   check, in 1/kLabelWeightUnit; a check: its step)
//   uint64 region  (labels and checks: the region's id; else 0)
//   variants x { uint32 n (the countdown step); uint16 first, count }
//   accesses x { int32 offset; uint32 size; uint32 line;
//                uint8 base_operand, size_operand (kNoOperand: `size` holds),
//                is_write, 0 }
//   operands x either 'r' + the asm operand as printed, NUL-terminated: a
//              register ("%rax", "%r12d") or a frame slot ("-40(%rbp)",
//              "16(%rsp)"); or 'g' + int32 (a global's address - &this field)
// A site has one variant, or (a join) one per way in; the selector operand
// then holds the step taken, which tells the variant. A variant's accesses
// are `count` from `first`; steps past `count` are phantoms (padding that
// keeps the variants' steps distinct) and sample nothing.
//
// Three kinds of sites. A calling site (flags 0 or kSiteCountdownInRegister)
// decrements the countdown and calls __trapsan_site when it runs out. A
// check (kSiteCheck, no accesses) does the same for a whole region (a
// function's code outside loops, or one loop's body): when it runs out, the
// runtime picks one of the region's label sites (kSiteLabel: a 1-byte nop,
// no call) and sets an execution breakpoint on it (labels.h).
inline constexpr uint32_t kSiteNoteType = 0x54534e01;
inline constexpr uint8_t kSiteVersion = 4;
inline constexpr uint8_t kSiteCountdownInRegister = 1;  // operand 0
inline constexpr uint8_t kSiteLabel = 2;
inline constexpr uint8_t kSiteCheck = 4;
// The site's function has its release points marked (compiler-plugin/
// ReleasePoints.h): its windows may be held (core/release.h). Sites without
// it (code built with TRAPSAN_PLUGIN_RELEASE_POINTS=0 or by an older plugin)
// always stall.
inline constexpr uint8_t kSiteReleasePoints = 8;
inline constexpr uint32_t kLabelWeightUnit = 1024;
inline constexpr uint8_t kNoOperand = 0xff;
inline constexpr int kMaxSiteOperands = 16;

struct SiteVariant {
  uint32_t n;
  uint16_t first, count;
};
static_assert(sizeof(SiteVariant) == 8, "note layout");

struct SiteAccess {
  int32_t offset;
  uint32_t size;
  uint32_t line;
  uint8_t base_operand, size_operand, is_write, reserved;
};
static_assert(sizeof(SiteAccess) == 16, "note layout");

// The slots of __trapsan_site's saved block; kSlotRsp is not saved (the
// site's stack pointer is just above the block).
enum SavedSlot : int {
  kSlotR15, kSlotR14, kSlotR13, kSlotR12, kSlotR11, kSlotR10, kSlotR9,
  kSlotR8, kSlotRdi, kSlotRsi, kSlotRbx, kSlotRdx, kSlotRcx, kSlotRax,
  kSlotFlags, kSlotRbp, kSlotReturn, kSavedSlots, kSlotRsp = kSavedSlots
};
// The slot of an AT&T register name ("%rax", "%eax", "%r9d"); -1 if none.
int SavedSlotOfRegister(const char* name);

// An operand's value: the register in `slot` (kNoSlot: none) plus `add`.
struct SiteOperand {
  static constexpr int8_t kNoSlot = -1;
  int8_t slot = kNoSlot;
  intptr_t add = 0;
  bool register_only = false;  // a bare register (may be rewritten)
};
// Parses a printed operand: "%reg" or "[disp](%reg)".
bool ParseSiteOperand(const char* text, SiteOperand* out);

// A site as parsed from its note.
struct Site {
  uintptr_t pc = 0;  // the return address of its call
  uint8_t flags = 0;
  uint8_t variants = 0;
  uint8_t selector = kNoOperand;
  uint32_t weight = 0;
  uint64_t region = 0;
  const SiteVariant* variant = nullptr;  // in the note (mapped read-only)
  const SiteAccess* access = nullptr;
  SiteOperand operand[kMaxSiteOperands];
};

// Parses one note's desc; false if malformed or of another version.
bool ParseSiteNote(const uint8_t* desc, uint32_t size, Site* out);

// The site whose call returns to `pc`, from the notes of every loaded
// object (rescanned when objects were loaded since the last scan).
bool FindSite(uintptr_t pc, Site* out);

// Picks one of `region`'s label sites, each with the chance of its weight,
// by `random`. False if the region has none.
bool PickLabel(uint64_t region, uint64_t random, Site* out);

// The label site of `region` with the lowest pc above `after_pc` (in a
// region's straight-line code, the next one reached). False if none.
bool NextLabel(uint64_t region, uintptr_t after_pc, Site* out);

// Whether any loaded object has label sites (scans the notes).
bool HaveLabelSites();

// Gives the index's sites to ColdSitesScanned (cold_sites.h), under its
// lock, scanning first if objects were loaded since.
void RescanColdSites();

// What the calling thread's last sampled site picked (for tests): the
// access's address, size, kind and line; `picked` counts the accesses
// picked (at calling sites and labels reached), `sites` the expiries of
// calling sites and checks, `phantoms` those that picked no access.
struct SiteSample {
  uintptr_t addr;
  uint64_t size;
  uint32_t line;
  bool is_write;
  uint64_t picked, sites, phantoms;
};
const SiteSample& LastSiteSample();
// Records the access a site picked (a calling site's, or a label's:
// labels.cpp) as the calling thread's last sample; `releases_marked`: the
// site has kSiteReleasePoints.
void RecordSiteSample(uintptr_t addr, uint64_t size, uint32_t line,
                      bool is_write, bool releases_marked);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_SITES_H_
