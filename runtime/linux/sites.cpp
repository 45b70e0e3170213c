#include "sites.h"

#include <cpuid.h>
#include <cstdlib>
#include <elf.h>
#include <link.h>
#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "runtime/core/release.h"
#include "runtime/core/sampler.h"
#include "runtime/core/thread_state.h"
#include "cancel.h"
#include "cold_sites.h"
#include "notes.h"
#include "labels.h"
#include "soft_sites.h"
#include "runtime/core/soft_watch.h"

namespace trapsan {
namespace {

struct SiteIndex {
  std::mutex mu;
  std::vector<Site> sites;  // sorted by pc
  // The label sites: (region, index in `sites`), sorted.
  std::vector<std::pair<uint64_t, uint32_t>> labels;
  unsigned long long adds = ~0ull;  // dl_iterate_phdr's load count at the scan
};

SiteIndex* g_index = nullptr;

// A fork child starts with the lock free: the thread that may have held it
// in the parent does not exist there.
void ResetIndexLockInChild() {
  if (g_index != nullptr) new (&g_index->mu) std::mutex;
}

SiteIndex& Index() {
  static SiteIndex* index = [] {
    g_index = new SiteIndex;  // never destroyed: used at exit
    pthread_atfork(nullptr, nullptr, ResetIndexLockInChild);
    return g_index;
  }();
  return *index;
}

// Every site note of one loaded object.
void ScanObject(const dl_phdr_info* info, std::vector<Site>* out) {
  ForEachTrapsanNote(info, kSiteNoteType,
                     [out](const uint8_t* desc, uint32_t descsz) {
                       Site site;
                       if (ParseSiteNote(desc, descsz, &site)) {
                         out->push_back(site);
                       }
                     });
}

void Rescan(SiteIndex& index, unsigned long long adds) {
  std::vector<Site> sites;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        ScanObject(info, static_cast<std::vector<Site>*>(data));
        return 0;
      },
      &sites);
  std::sort(sites.begin(), sites.end(),
            [](const Site& a, const Site& b) { return a.pc < b.pc; });
  index.sites = std::move(sites);
  index.labels.clear();
  for (size_t i = 0; i < index.sites.size(); ++i) {
    if (index.sites[i].flags & kSiteLabel)
      index.labels.push_back({index.sites[i].region, static_cast<uint32_t>(i)});
  }
  std::sort(index.labels.begin(), index.labels.end());
  index.adds = adds;
  ColdSitesScanned(index.sites);  // cold_sites.h: patch the new sites
}

// dl_iterate_phdr's count of objects loaded so far.
unsigned long long LoadCount() {
  unsigned long long adds = 0;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        *static_cast<unsigned long long*>(data) = info->dlpi_adds;
        return 1;
      },
      &adds);
  return adds;
}

thread_local SiteSample t_last_sample;

}  // namespace

const SiteSample& LastSiteSample() { return t_last_sample; }

void RecordSiteSample(uintptr_t addr, uint64_t size, uint32_t line,
                      bool is_write, bool releases_marked) {
  t_last_sample.addr = addr;
  t_last_sample.size = size;
  t_last_sample.line = line;
  t_last_sample.is_write = is_write;
  ++t_last_sample.picked;
  // Its function marks its release points: the window may be held
  // (core/release.h).
  if (releases_marked) NoteSiteSample();
}

int SavedSlotOfRegister(const char* name) {
  if (name[0] == '%') ++name;
  if (name[0] == 'r' && name[1] >= '0' && name[1] <= '9') {
    int n = name[1] - '0';
    if (name[2] >= '0' && name[2] <= '9') n = n * 10 + (name[2] - '0');
    return n >= 8 && n <= 15 ? kSlotR8 - (n - 8) : -1;
  }
  if (name[0] == 'r' || name[0] == 'e') ++name;
  static constexpr struct {
    const char name[3];
    int slot;
  } kLegacy[] = {{"ax", kSlotRax}, {"cx", kSlotRcx}, {"dx", kSlotRdx},
                 {"bx", kSlotRbx}, {"si", kSlotRsi}, {"di", kSlotRdi},
                 {"bp", kSlotRbp}};
  for (const auto& r : kLegacy) {
    if (name[0] == r.name[0] && name[1] == r.name[1] && name[2] == '\0')
      return r.slot;
  }
  return -1;
}

bool ParseSiteOperand(const char* text, SiteOperand* out) {
  *out = SiteOperand();
  if (text[0] == '%') {
    out->slot = static_cast<int8_t>(SavedSlotOfRegister(text));
    out->register_only = true;
    return out->slot >= 0;
  }
  // [-]digits(%reg)
  char* end = nullptr;
  long disp = 0;
  if (text[0] != '(') {
    disp = std::strtol(text, &end, 10);
    if (end == text) return false;
    text = end;
  }
  if (text[0] != '(') return false;
  const char* close = std::strchr(text, ')');
  if (close == nullptr || close[1] != '\0') return false;
  char reg[8] = {};
  size_t len = static_cast<size_t>(close - text - 1);
  if (len == 0 || len >= sizeof reg) return false;
  std::memcpy(reg, text + 1, len);
  int slot = std::strcmp(reg, "%rsp") == 0 ? kSlotRsp : SavedSlotOfRegister(reg);
  if (slot < 0) return false;
  out->slot = static_cast<int8_t>(slot);
  out->add = disp;
  return true;
}

bool ParseSiteNote(const uint8_t* desc, uint32_t size, Site* out) {
  constexpr size_t kHeader = 24;
  if (size < kHeader) return false;
  int32_t rel;
  std::memcpy(&rel, desc, sizeof rel);
  Site site;
  site.pc = reinterpret_cast<uintptr_t>(desc) + static_cast<intptr_t>(rel);
  if (desc[4] != kSiteVersion) return false;
  site.flags = desc[5];
  site.variants = desc[6];
  const unsigned operands = desc[7];
  site.selector = desc[8];
  uint16_t accesses;
  std::memcpy(&accesses, desc + 10, sizeof accesses);
  std::memcpy(&site.weight, desc + 12, sizeof site.weight);
  std::memcpy(&site.region, desc + 16, sizeof site.region);
  if (site.variants == 0 || operands > kMaxSiteOperands) return false;
  const uint8_t kind = site.flags & (kSiteCountdownInRegister | kSiteLabel |
                                     kSiteCheck);
  if ((kind | (site.flags & kSiteReleasePoints)) != site.flags)
    return false;  // unknown flags
  if (kind & (kSiteLabel | kSiteCheck)) {
    // A label, or a check (whose countdown may be in a register: a loop's).
    if (kind != kSiteLabel && kind != kSiteCheck &&
        kind != (kSiteCheck | kSiteCountdownInRegister))
      return false;
    if (site.region == 0 || site.weight == 0 || site.variants != 1) return false;
    if ((kind & kSiteCheck) && accesses != 0) return false;
  }
  if ((site.variants > 1) != (site.selector != kNoOperand)) return false;
  const size_t table = kHeader + size_t{site.variants} * sizeof(SiteVariant) +
                       size_t{accesses} * sizeof(SiteAccess);
  if (table > size) return false;
  site.variant = reinterpret_cast<const SiteVariant*>(desc + kHeader);
  site.access = reinterpret_cast<const SiteAccess*>(
      desc + kHeader + size_t{site.variants} * sizeof(SiteVariant));
  for (unsigned v = 0; v < site.variants; ++v) {
    const SiteVariant& var = site.variant[v];
    if (size_t{var.first} + var.count > accesses || var.count > var.n)
      return false;
  }
  const uint8_t* p = desc + table;
  const uint8_t* end = desc + size;
  bool valid[kMaxSiteOperands] = {};
  for (unsigned i = 0; i < operands; ++i) {
    if (p >= end) return false;
    const uint8_t kind = *p++;
    if (kind == 'g') {
      if (end - p < 4) return false;
      std::memcpy(&rel, p, sizeof rel);
      site.operand[i].add = static_cast<intptr_t>(
          reinterpret_cast<uintptr_t>(p) + static_cast<intptr_t>(rel));
      valid[i] = true;
      p += 4;
    } else if (kind == 'r') {
      const uint8_t* nul = static_cast<const uint8_t*>(
          std::memchr(p, '\0', static_cast<size_t>(end - p)));
      if (nul == nullptr) return false;
      valid[i] = ParseSiteOperand(reinterpret_cast<const char*>(p),
                                  &site.operand[i]);
      p = nul + 1;
    } else {
      return false;
    }
  }
  // Every operand an access names must be understood.
  if (site.selector != kNoOperand &&
      (site.selector >= operands || !valid[site.selector]))
    return false;
  for (unsigned i = 0; i < accesses; ++i) {
    const SiteAccess& a = site.access[i];
    if (a.base_operand >= operands || !valid[a.base_operand]) return false;
    if (a.size_operand != kNoOperand &&
        (a.size_operand >= operands || !valid[a.size_operand]))
      return false;
  }
  if ((site.flags & kSiteCountdownInRegister) &&
      (operands == 0 || !site.operand[0].register_only))
    return false;
  *out = site;
  return true;
}

bool FindSite(uintptr_t pc, Site* out) {
  SiteIndex& index = Index();
  std::lock_guard<std::mutex> lock(index.mu);
  auto find = [&] {
    auto it = std::lower_bound(
        index.sites.begin(), index.sites.end(), pc,
        [](const Site& s, uintptr_t v) { return s.pc < v; });
    if (it == index.sites.end() || it->pc != pc) return false;
    *out = *it;
    return true;
  };
  if (find()) return true;
  // Unknown: maybe in an object loaded since the last scan.
  const unsigned long long adds = LoadCount();
  if (adds == index.adds) return false;
  Rescan(index, adds);
  return find();
}

bool PickLabel(uint64_t region, uint64_t random, Site* out) {
  SiteIndex& index = Index();
  std::lock_guard<std::mutex> lock(index.mu);
  auto begin = std::lower_bound(index.labels.begin(), index.labels.end(),
                                std::make_pair(region, uint32_t{0}));
  auto end = begin;
  uint64_t total = 0;
  for (; end != index.labels.end() && end->first == region; ++end)
    total += index.sites[end->second].weight;
  if (total == 0) return false;
  uint64_t pick = random % total;
  for (auto it = begin; it != end; ++it) {
    const Site& site = index.sites[it->second];
    if (pick < site.weight) {
      *out = site;
      return true;
    }
    pick -= site.weight;
  }
  return false;
}

bool NextLabel(uint64_t region, uintptr_t after_pc, Site* out) {
  SiteIndex& index = Index();
  std::lock_guard<std::mutex> lock(index.mu);
  // A region's labels are sorted by their index in `sites`, which is sorted
  // by pc.
  auto it = std::lower_bound(index.labels.begin(), index.labels.end(),
                             std::make_pair(region, uint32_t{0}));
  for (; it != index.labels.end() && it->first == region; ++it) {
    const Site& site = index.sites[it->second];
    if (site.pc > after_pc) {
      *out = site;
      return true;
    }
  }
  return false;
}

void RescanColdSites() {
  SiteIndex& index = Index();
  std::lock_guard<std::mutex> lock(index.mu);
  const unsigned long long adds = LoadCount();
  if (adds != index.adds) {
    Rescan(index, adds);  // calls ColdSitesScanned
  } else {
    ColdSitesScanned(index.sites);
  }
}

bool HaveLabelSites() {
  SiteIndex& index = Index();
  std::lock_guard<std::mutex> lock(index.mu);
  const unsigned long long adds = LoadCount();
  if (adds != index.adds) Rescan(index, adds);
  return !index.labels.empty();
}

}  // namespace trapsan

using namespace trapsan;

extern "C" {

// Bytes of the XSAVE area __trapsan_site saves the vector state in (rounded
// up to 64); 1: use FXSAVE (no XSAVE, or not enabled by the OS); 0: not
// known yet (the stub then calls __trapsan_size_xsave first).
__attribute__((visibility("hidden"))) uint32_t __trapsan_xsave_size;

// Called by the stub before it has saved any vector register: must not
// touch one (general-regs-only), and returns the size it stored.
__attribute__((visibility("hidden"), target("general-regs-only"))) uint32_t
__trapsan_size_xsave() {
  unsigned a, b, c, d;
  uint32_t size = 1;
  if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) &&
      __get_cpuid_max(0, nullptr) >= 0xd) {
    __cpuid_count(0xd, 0, a, b, c, d);
    if (b >= 576) size = (b + 63) & ~63u;
  }
  __atomic_store_n(&__trapsan_xsave_size, size, __ATOMIC_RELAXED);
  return size;
}

static void SiteSlowHeld(uint64_t* saved);

// Called by __trapsan_site with its saved block (sites.h's SavedSlot order).
// With cancellation held off (cancel.h); no cleanups in this frame.
__attribute__((visibility("hidden"))) void __trapsan_site_slow(
    uint64_t* saved) {
  const trapsan::CancelHold hold = trapsan::HoldCancel();
  SiteSlowHeld(saved);
  trapsan::ReleaseCancel(hold);
}

__attribute__((noinline)) static void SiteSlowHeld(uint64_t* saved) {
  const uintptr_t pc = saved[kSlotReturn];
  Site site;
  bool found = false;
  // Not from inside trapsan (a signal handler running instrumented code
  // while this thread was here would wait for its own lock): SampleAccess
  // then only counts the reentry and sets the countdown to 1.
  if (CurrentThread().in_runtime == 0) {
    InRuntime guard;
    found = FindSite(pc, &site);
  }
  if (found) ++t_last_sample.sites;
  // One of the site's first executions (cold_sites.h), or a call through a
  // cold patch being put back, which is no sample unless its countdown ran
  // out as well.
  const ColdCall cold = found ? TakeColdCall(pc) : ColdCall::kNotCold;
  ColdSampleScope cold_scope(cold == ColdCall::kCold);
  if (found && (site.flags & kSiteCheck)) {
    // A loop's check keeps the countdown in a register.
    const bool in_register = (site.flags & kSiteCountdownInRegister) != 0;
    uint64_t* reg = in_register ? &saved[site.operand[0].slot] : nullptr;
    // Biased for the open soft windows, or not (soft_sites.h).
    int32_t countdown = in_register ? static_cast<int32_t>(*reg) : Countdown();
    const SoftSiteAction soft = SoftSiteEntry(/*label_check=*/true, &countdown);
    if (in_register) {
      *reg = static_cast<uint32_t>(countdown);
    } else {
      Countdown() = countdown;
    }
    if (soft == SoftSiteAction::kCheck) ArmLabelForSoftCheck(site.region);
    if (soft != SoftSiteAction::kNormal &&
        soft != SoftSiteAction::kCheckAndSample)
      return;
    if (cold == ColdCall::kStray && countdown > 0) return;
    CheckExpired(site.region);  // labels.cpp: may arm a label
    if (in_register) {  // refill the register
      countdown = Countdown();
      SoftSiteAfterSample(&countdown);
      *reg = static_cast<uint32_t>(countdown);
    } else {
      SoftSiteAfterSample(&Countdown());
    }
    return;
  }
  if (!found || (site.flags & kSiteLabel)) {
    // Reentered, or no metadata: refill the countdown, sample nothing.
    // (A register-held countdown stays as it is: the loop's next site call
    // comes back here, until the site can be read.)
    SampleAccess(nullptr, 0, false, pc, 0);
    return;
  }
  auto value = [&](const SiteOperand& op) {
    uintptr_t reg = 0;
    if (op.slot == kSlotRsp) {
      reg = reinterpret_cast<uintptr_t>(saved + kSavedSlots);
    } else if (op.slot != SiteOperand::kNoSlot) {
      reg = static_cast<uintptr_t>(saved[op.slot]);
    }
    return reg + static_cast<uintptr_t>(op.add);
  };
  const bool in_register = (site.flags & kSiteCountdownInRegister) != 0;
  uint64_t* countdown_reg =
      in_register ? &saved[site.operand[0].slot] : nullptr;
  // Biased for the open soft windows, or not (soft_sites.h).
  SoftSiteAction soft;
  {
    int32_t countdown = in_register ? static_cast<int32_t>(*countdown_reg)
                                    : Countdown();
    soft = SoftSiteEntry(/*label_check=*/false, &countdown);
    if (in_register) {
      *countdown_reg = static_cast<uint32_t>(countdown);
    } else {
      Countdown() = countdown;
    }
  }
  // After a sample: biased again while windows stay open.
  auto after_sample = [&] {
    if (!in_register) {
      SoftSiteAfterSample(&Countdown());
      return;
    }
    int32_t countdown = static_cast<int32_t>(*countdown_reg);
    SoftSiteAfterSample(&countdown);
    *countdown_reg = static_cast<uint32_t>(countdown);
  };
  const int32_t left = in_register ? static_cast<int32_t>(*countdown_reg)
                                   : Countdown();
  // The way in (a join's variant): by the step it took.
  const SiteVariant* variant = &site.variant[0];
  if (site.selector != kNoOperand) {
    const uint32_t step = static_cast<uint32_t>(value(site.operand[site.selector]));
    variant = nullptr;
    for (unsigned v = 0; v < site.variants; ++v) {
      if (site.variant[v].n == step) variant = &site.variant[v];
    }
  }
  // While soft windows are open, every access of the way taken meets them
  // (their addresses are in the saved registers, as for a sample).
  if (variant != nullptr && soft != SoftSiteAction::kResume &&
      (soft != SoftSiteAction::kNormal || SoftWindowsOpen())) {
    for (unsigned i = 0; i < variant->count; ++i) {
      const SiteAccess& a = site.access[variant->first + i];
      const uintptr_t addr =
          value(site.operand[a.base_operand]) +
          static_cast<uintptr_t>(static_cast<intptr_t>(a.offset));
      const size_t size = a.size_operand == kNoOperand
                              ? a.size
                              : static_cast<size_t>(
                                    value(site.operand[a.size_operand]));
      if (SoftWatchAccess(reinterpret_cast<const volatile void*>(addr), size,
                          a.is_write != 0, pc, 0, a.line)) {
        SoftSiteConflictRecorded();
        break;
      }
    }
  }
  // Still biased (the next site comes back), or unbiased with time left.
  if (soft == SoftSiteAction::kCheck || soft == SoftSiteAction::kResume)
    return;
  if (cold == ColdCall::kStray && left > 0) return;
  // The access at which the countdown crossed zero (a cold execution whose
  // countdown did not run out: any of the way's accesses).
  const unsigned n = variant != nullptr ? variant->n : 0;
  unsigned index = n - 1;
  if (n != 0 && left <= 0) {
    index = n - 1 - static_cast<unsigned>(
                        (0u - static_cast<uint32_t>(left)) % n);
  } else if (n != 0 && cold == ColdCall::kCold && variant->count != 0) {
    // One of the way's writes when it has any, as a cold label picks (a
    // write's window meets the other threads' reads and writes; a read's
    // only their writes).
    unsigned writes = 0;
    for (unsigned i = 0; i < variant->count; ++i)
      writes += site.access[variant->first + i].is_write != 0;
    const uint64_t r = NextRandom(CurrentThread());
    index = static_cast<unsigned>(r % variant->count);
    if (writes != 0) {
      unsigned k = static_cast<unsigned>(r % writes);
      for (unsigned i = 0; i < variant->count; ++i) {
        if (site.access[variant->first + i].is_write == 0) continue;
        if (k-- == 0) {
          index = i;
          break;
        }
      }
    }
  }
  if (n == 0 || index >= variant->count) {
    ++t_last_sample.phantoms;
    // A phantom step (or an unknown way in): refill, sample nothing.
    SampleAccess(nullptr, 0, false, pc, 0);
    if (in_register) *countdown_reg = static_cast<uint32_t>(Countdown());
    after_sample();
    return;
  }
  index += variant->first;
  const SiteAccess& a = site.access[index];
  const uintptr_t addr = value(site.operand[a.base_operand]) +
                         static_cast<uintptr_t>(static_cast<intptr_t>(a.offset));
  const size_t size = a.size_operand == kNoOperand
                          ? a.size
                          : static_cast<size_t>(
                                value(site.operand[a.size_operand]));
  RecordSiteSample(addr, size, a.line, a.is_write != 0,
                   (site.flags & kSiteReleasePoints) != 0);
  SampleAccess(reinterpret_cast<const volatile void*>(addr), size,
               a.is_write != 0, pc, 0, a.line);
  if (in_register) *countdown_reg = static_cast<uint32_t>(Countdown());
  after_sample();
}

}  // extern "C"
