#include "cold_sites.h"

#include <link.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>

#include "absl/strings/str_format.h"
#include "runtime/core/options.h"
#include "runtime/core/thread_state.h"
#include "runtime/core/window.h"
#include "sites.h"
#include "text_patch.h"

namespace trapsan {
namespace {

constexpr uint8_t kJg = 0x7f;
constexpr uint8_t kPastCall = 6;  // jg 1f: over the 6-byte call
constexpr uint8_t kToCall = 0;    // jg +0: to the call, taken or not

// The patched sites: open addressing by the site's pc, inserted under the
// site index's lock, read by any thread without one.
constexpr uint32_t kTableBits = 16;
constexpr uint32_t kTableSize = 1u << kTableBits;
// Each thread's first execution of a site is cold too (LiteRace keeps its
// sampling counters per thread): the first kColdThreads threads to run it,
// while the patch is in place. A worksharing loop's chunks, a section, a
// task run by each thread once: the first `cold_sites` executions all go
// to whichever thread got there first, but the other threads' first passes
// (a chunk's first element, which the neighbour chunk's last iteration
// touches) are what a far-apart race needs watched. The patch stays until
// the site's first `cold_sites` executions are taken and kColdThreads
// threads had theirs, or for kThreadWaitCalls executions more (a site only
// one thread runs: each of those is a call to the runtime that samples
// nothing, ~0.1 us).
constexpr int kColdThreads = 8;
constexpr int32_t kThreadWaitCalls = 4096;
struct Entry {
  std::atomic<uintptr_t> pc{0};
  std::atomic<int32_t> calls{0};     // executions that came through the patch
  std::atomic<bool> restored{true};  // the patch is put back (or never was)
  std::atomic<int32_t> tids[kColdThreads] = {};  // threads that had theirs
  int32_t prot = 0;                  // its text segment's protection
  uintptr_t disp = 0;                // the jg's displacement byte
};
Entry g_table[kTableSize];
uint32_t g_used = 0;  // under the index lock

std::atomic<bool> g_enabled{false};
int32_t g_cold_n = 0;  // cold_sites, set before any site is patched
bool g_writer_chosen = false;  // under the index lock
std::atomic<uint64_t> g_patched{0}, g_cold_calls{0}, g_unpatchable{0};

uint32_t Hash(uintptr_t pc, uint32_t probe) {
  return static_cast<uint32_t>(((pc * 0x9e3779b97f4a7c15ull) >>
                                (64 - kTableBits)) + probe) &
         (kTableSize - 1);
}

Entry* Find(uintptr_t pc) {
  for (uint32_t probe = 0; probe < kTableSize; ++probe) {
    Entry& e = g_table[Hash(pc, probe)];
    const uintptr_t v = e.pc.load(std::memory_order_acquire);
    if (v == pc) return &e;
    if (v == 0) return nullptr;
  }
  return nullptr;
}

// Under the index lock. nullptr when the table is 3/4 full (probes stay
// short) or the site is there already.
Entry* Insert(uintptr_t pc) {
  if (g_used >= kTableSize / 4 * 3) return nullptr;
  for (uint32_t probe = 0; probe < kTableSize; ++probe) {
    Entry& e = g_table[Hash(pc, probe)];
    const uintptr_t v = e.pc.load(std::memory_order_relaxed);
    if (v == pc) return nullptr;
    if (v != 0) continue;
    ++g_used;
    return &e;
  }
  return nullptr;
}

int ProtOf(ElfW(Word) flags) {
  return ((flags & PF_R) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0) |
         ((flags & PF_X) ? PROT_EXEC : 0);
}

// The site's check is `jg +6; call *GOT(%rip)` (ff 15 rel32) or, relaxed by
// the linker to a direct call, `addr32 call rel32` (67 e8 rel32), ending at
// its pc; the jg is 7f 06, or 0f 8f 06 00 00 00 where the assembler did not
// relax it (-O0). The address of its displacement's low byte, or 0 (then
// the site is left alone).
uintptr_t CheckDisplacement(uintptr_t pc, uintptr_t start) {
  if (pc < start + 12) return 0;
  const volatile uint8_t* call =
      reinterpret_cast<const volatile uint8_t*>(pc - 6);
  if (!((call[0] == 0xff && call[1] == 0x15) ||
        (call[0] == 0x67 && call[1] == 0xe8)))
    return 0;
  const volatile uint8_t* b = reinterpret_cast<const volatile uint8_t*>(pc - 12);
  if (b[4] == kJg && b[5] == kPastCall) return pc - 7;
  if (b[0] == 0x0f && b[1] == 0x8f && b[2] == kPastCall && b[3] == 0 &&
      b[4] == 0 && b[5] == 0)
    return pc - 10;
  return 0;
}

struct ScanData {
  const std::vector<Site>* sites;
  int32_t count;
};

// Patches, in each loaded object's executable segments (the dynamic
// linker's lock keeps them mapped meanwhile), the sites not patched yet.
int PatchObject(dl_phdr_info* info, size_t, void* p) {
  ScanData& d = *static_cast<ScanData*>(p);
  const std::vector<Site>& sites = *d.sites;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) || !(ph.p_flags & PF_R))
      continue;
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    const uintptr_t end = start + ph.p_memsz;
    const int prot = ProtOf(ph.p_flags);
    auto it = std::lower_bound(
        sites.begin(), sites.end(), start,
        [](const Site& s, uintptr_t v) { return s.pc < v; });
    for (; it != sites.end() && it->pc < end; ++it) {
      if (it->flags & kSiteLabel) continue;  // a nop, no call
      const uintptr_t pc = it->pc;
      if (Find(pc) != nullptr) continue;
      const uintptr_t disp = CheckDisplacement(pc, start);
      if (disp == 0) continue;
      if (!g_writer_chosen) {
        std::string why;
        g_writer_chosen = true;
        if (ChooseTextWriter(disp, prot, &why) == TextWriter::kNone) {
          g_enabled.store(false, std::memory_order_relaxed);
          return 1;
        }
      }
      Entry* e = Insert(pc);
      if (e == nullptr) {
        g_unpatchable.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      e->calls.store(0, std::memory_order_relaxed);
      e->restored.store(false, std::memory_order_relaxed);
      e->prot = prot;
      e->disp = disp;
      e->pc.store(pc, std::memory_order_release);
      if (PatchTextByte(disp, kPastCall, kToCall, prot)) {
        g_patched.fetch_add(1, std::memory_order_relaxed);
      } else {
        e->restored.store(true, std::memory_order_relaxed);  // as if used up
        g_unpatchable.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  return 0;
}

}  // namespace

void StartColdSites() {
  const Options& o = GetOptions();
  if (o.cold_sites <= 0 || ActiveBackend() == Backend::kOff) return;
  g_enabled.store(true, std::memory_order_relaxed);
  RescanColdSites();  // sites.h: ColdSitesScanned under the index's lock
}

void ColdSitesScanned(const std::vector<Site>& sites) {
  if (!g_enabled.load(std::memory_order_relaxed)) return;
  const int64_t n = GetOptions().cold_sites;
  ScanData data{&sites, static_cast<int32_t>(std::min<int64_t>(n, 1 << 30))};
  g_cold_n = data.count;
  dl_iterate_phdr(PatchObject, &data);
}

// Whether this is the calling thread's first execution of the site among
// the first kColdThreads threads' (it takes a free place); *full: every
// place is taken.
bool FirstOfThread(Entry& e, bool* full) {
  const int32_t me = CurrentThread().tid;
  *full = true;
  if (me == 0) return false;
  for (auto& t : e.tids) {
    int32_t v = t.load(std::memory_order_relaxed);
    if (v == me) {
      *full = false;  // (not known: only that this thread had its turn)
      return false;
    }
    if (v == 0 && t.compare_exchange_strong(v, me, std::memory_order_relaxed)) {
      *full = &t == &e.tids[kColdThreads - 1];
      return true;
    }
  }
  return false;
}

ColdCall TakeColdCall(uintptr_t pc) {
  if (g_patched.load(std::memory_order_relaxed) == 0) return ColdCall::kNotCold;
  Entry* e = Find(pc);
  if (e == nullptr) return ColdCall::kNotCold;
  if (e->restored.load(std::memory_order_relaxed)) return ColdCall::kStray;
  const int32_t n = e->calls.fetch_add(1, std::memory_order_relaxed);
  bool full = false;
  const bool first = FirstOfThread(*e, &full);
  const bool cold = n < g_cold_n || first;
  // Put back once: the site's cold executions used up and every thread
  // place taken, or no new thread came for long enough. The site's code is
  // running (this call came from it): mapped.
  if (n + 1 >= g_cold_n && (full || n + 1 >= g_cold_n + kThreadWaitCalls) &&
      !e->restored.exchange(true, std::memory_order_relaxed))
    PatchTextByte(e->disp, kToCall, kPastCall, e->prot);
  if (!cold) return ColdCall::kStray;
  g_cold_calls.fetch_add(1, std::memory_order_relaxed);
  return ColdCall::kCold;
}

std::string ColdSiteSummary() {
  const uint64_t patched = g_patched.load();
  if (patched == 0 && g_unpatchable.load() == 0) return "";
  return absl::StrFormat(
      "cold sites: %d patched (%d not patchable), %d cold executions taken",
      patched, g_unpatchable.load(), g_cold_calls.load());
}

}  // namespace trapsan
