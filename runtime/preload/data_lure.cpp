#include "data_lure.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "runtime/core/budget.h"
#include "runtime/core/clock.h"
#include "runtime/core/conflict_table.h"
#include "runtime/core/cookie.h"
#include "runtime/core/counters.h"
#include "runtime/core/options.h"
#include "runtime/core/pending_races.h"
#include "runtime/core/race_event.h"
#include "runtime/core/signal_window.h"
#include "runtime/core/slots.h"
#include "runtime/core/window.h"
#include "runtime/core/window_slot.h"
#include "runtime/linux/breakpoints.h"
#include "runtime/linux/unwind.h"
#include "runtime/preload/timer_sampling.h"
#include "runtime/report/sample_decode.h"

namespace trapsan {
namespace {

// The lure's life: kIdle -> kArming (a sampling thread claims a slot and
// arms it) -> kWaiting -> kClaiming (the first thread to write the byte) ->
// kCaught (its window: racers' traps are recorded) -> kClosing -> kIdle;
// or kWaiting -> kClosing (nobody wrote it in time) -> kIdle. Each step is
// taken by the one thread that won the CAS into it.
enum : uint32_t { kIdle, kArming, kWaiting, kClaiming, kCaught, kClosing };
std::atomic<uint32_t> g_state{kIdle};
std::atomic<uint64_t> g_cookie{0};
std::atomic<int> g_slot{-1};
std::atomic<uintptr_t> g_addr{0};
std::atomic<uint64_t> g_armed_at_ns{0};
// Whether the caught lure's owner wrote the byte (decoded: kWrite); else it
// read it, or what it did is not known, and only a racer decoded as a write
// races with it. Set before kCaught.
std::atomic<bool> g_owner_writes{false};
// Whether the armed lure traps reads too: only on a word a lure caught a
// write of before (g_caught). A word not known to be written gets a
// write-only lure, which expires if nobody writes it (a word only read,
// shared read-only data, would be caught by its first reader every time and
// could find nothing). Set before kWaiting.
std::atomic<bool> g_lure_rw{false};

// The cookies of recent lures: a late trap of one (its handler ran after
// the lure closed) is dropped, never recorded against a window.
constexpr int kRecentCookies = 16;
std::atomic<uint64_t> g_recent_cookies[kRecentCookies];
std::atomic<uint32_t> g_recent_next{0};

// The main program's writable data, in 4-byte granules: its writable
// PT_LOAD segments less PT_GNU_RELRO (read-only after relocation) and
// .got.plt (the dynamic linker's lazy binding writes it).
struct Range {
  uintptr_t lo = 0, hi = 0;
};
constexpr int kMaxRanges = 4;
Range g_data[kMaxRanges];
int g_data_count = 0;
uint64_t g_data_granules = 0;

// Addresses recent timer samples decoded (plain, off the stack), with the
// sampled thread.
constexpr int kSampled = 32;
std::atomic<uintptr_t> g_sampled[kSampled];
std::atomic<uint32_t> g_sampled_next{0};

// Words lures caught (a thread wrote them), and whether two different
// threads did. Written only by the thread that owns the lure's window.
constexpr int kCaughtWords = 16;
struct CaughtWord {
  std::atomic<uintptr_t> addr{0};
  std::atomic<int> tid{0};
  std::atomic<bool> two_threads{false};
};
CaughtWord g_caught[kCaughtWords];

// A caught lure's window stalls its owner this many times delay_us: its
// word is known to be written, so a longer window is worth it.
constexpr uint64_t kCatchStallFactor = 5;
// A lure nobody wrote is disarmed after this many times delay_us (at
// least kMinWaitNs) of wall time.
constexpr uint64_t kWaitFactor = 50;
constexpr uint64_t kMinWaitNs = 5000000;

bool Enabled() {
  return GetOptions().preload_lures && ActiveBackend() == Backend::kHw;
}

void Subtract(Range r, uintptr_t lo, uintptr_t hi, Range out[2], int* n) {
  *n = 0;
  if (hi <= r.lo || lo >= r.hi) {
    out[(*n)++] = r;
    return;
  }
  if (r.lo < lo) out[(*n)++] = Range{r.lo, lo};
  if (hi < r.hi) out[(*n)++] = Range{hi, r.hi};
}

void AddRange(Range r, uintptr_t ex_lo, uintptr_t ex_hi, uintptr_t ex2_lo,
              uintptr_t ex2_hi) {
  Range first[2];
  int n1;
  Subtract(r, ex_lo, ex_hi, first, &n1);
  for (int i = 0; i < n1; ++i) {
    Range second[2];
    int n2;
    Subtract(first[i], ex2_lo, ex2_hi, second, &n2);
    for (int j = 0; j < n2 && g_data_count < kMaxRanges; ++j) {
      Range s = second[j];
      s.lo = (s.lo + 3) & ~uintptr_t{3};
      if (s.hi <= s.lo) continue;
      g_data[g_data_count++] = s;
      g_data_granules += (s.hi - s.lo) / 4;
    }
  }
}

int FindProgramData(dl_phdr_info* info, size_t, void*) {
  // The first object is the main program.
  const uintptr_t base = info->dlpi_addr;
  uintptr_t relro_lo = 0, relro_hi = 0, got_lo = 0, got_hi = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_GNU_RELRO) {
      relro_lo = base + ph.p_vaddr;
      relro_hi = relro_lo + ph.p_memsz;
    } else if (ph.p_type == PT_DYNAMIC) {
      uintptr_t pltgot = 0, pltrelsz = 0;
      const ElfW(Dyn)* d =
          reinterpret_cast<const ElfW(Dyn)*>(base + ph.p_vaddr);
      for (; d->d_tag != DT_NULL; ++d) {
        if (d->d_tag == DT_PLTGOT) pltgot = d->d_un.d_ptr;
        if (d->d_tag == DT_PLTRELSZ) pltrelsz = d->d_un.d_val;
      }
      if (pltgot != 0) {
        // (The dynamic linker may have relocated the entry in place.)
        if (pltgot < base) pltgot += base;
        got_lo = pltgot;
        got_hi = pltgot + 8 * (3 + pltrelsz / sizeof(ElfW(Rela)));
      }
    }
  }
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W)) continue;
    const uintptr_t lo = base + ph.p_vaddr;
    AddRange(Range{lo, lo + ph.p_memsz}, relro_lo, relro_hi, got_lo, got_hi);
  }
  return 1;  // the main program only
}

uintptr_t DataGranule(uint64_t r) {
  if (g_data_granules == 0) return 0;
  uint64_t g = r % g_data_granules;
  for (int i = 0; i < g_data_count; ++i) {
    const uint64_t n = (g_data[i].hi - g_data[i].lo) / 4;
    if (g < n) return g_data[i].lo + 4 * g;
    g -= n;
  }
  return 0;
}

uintptr_t PickCaught(uint64_t r, bool two_only) {
  int found = 0;
  uintptr_t chosen = 0;
  for (CaughtWord& w : g_caught) {  // reservoir sampling
    const uintptr_t a = w.addr.load(std::memory_order_relaxed);
    if (a == 0 || (two_only && !w.two_threads.load(std::memory_order_relaxed)))
      continue;
    ++found;
    if (r % static_cast<uint64_t>(found) == 0) chosen = a;
    r = r * 6364136223846793005ull + 1442695040888963407ull;
  }
  return chosen;
}

// Words whose lure expired unwritten: not chosen again while remembered.
constexpr int kExpiredWords = 64;
std::atomic<uintptr_t> g_expired[kExpiredWords];
std::atomic<uint32_t> g_expired_next{0};

bool RecentlyExpired(uintptr_t addr) {
  for (const auto& e : g_expired) {
    if (e.load(std::memory_order_relaxed) == addr) return true;
  }
  return false;
}

uintptr_t ChooseWordOnce(ThreadState& t);

// The byte a new lure watches: a few tries for one not recently unwritten.
uintptr_t ChooseWord(ThreadState& t) {
  uintptr_t a = 0;
  for (int tries = 0; tries < 4; ++tries) {
    a = ChooseWordOnce(t);
    if (a != 0 && !RecentlyExpired(a)) return a;
  }
  return a;
}

uintptr_t ChooseWordOnce(ThreadState& t) {
  uint64_t r = NextRandom(t);
  const unsigned choice = r % 8;
  r >>= 3;
  uintptr_t a = 0;
  if (choice < 4) a = PickCaught(r, /*two_only=*/true);
  if (a == 0 && choice < 5) a = PickCaught(r, /*two_only=*/false);
  if (a != 0) return a;
  if (choice < 7 || g_sampled_next.load(std::memory_order_relaxed) == 0) {
    a = DataGranule(r);
    if (a != 0) return a;
  }
  const uintptr_t near = g_sampled[r % kSampled].load(std::memory_order_relaxed);
  if (near == 0) return DataGranule(r >> 8);
  const int64_t offset = static_cast<int64_t>((r >> 8) % 17) - 8;  // words
  return (near & ~uintptr_t{3}) + static_cast<uintptr_t>(offset * 4);
}

void NoteCaught(uintptr_t addr, int tid, uint64_t r) {
  for (CaughtWord& w : g_caught) {
    if (w.addr.load(std::memory_order_relaxed) == addr) {
      if (w.tid.load(std::memory_order_relaxed) != tid) {
        w.two_threads.store(true, std::memory_order_relaxed);
      }
      w.tid.store(tid, std::memory_order_relaxed);
      return;
    }
  }
  // A new word: a free entry, else one written by one thread only.
  for (int tries = 0; tries < 2 * kCaughtWords; ++tries) {
    CaughtWord& w = g_caught[(r + static_cast<uint64_t>(tries)) % kCaughtWords];
    if (w.addr.load(std::memory_order_relaxed) == 0 ||
        (tries >= kCaughtWords &&
         !w.two_threads.load(std::memory_order_relaxed))) {
      w.two_threads.store(false, std::memory_order_relaxed);
      w.tid.store(tid, std::memory_order_relaxed);
      w.addr.store(addr, std::memory_order_relaxed);
      return;
    }
  }
}

bool IsKnownWritten(uintptr_t addr) {
  for (const CaughtWord& w : g_caught) {
    if (w.addr.load(std::memory_order_relaxed) == addr) return true;
  }
  return false;
}

void ReleaseSlot(Slot& slot) {
  slot.owner_tid.store(0, std::memory_order_relaxed);
  slot.busy.store(0, std::memory_order_release);
}

// clock_nanosleep by the system call itself: glibc's is a cancellation
// point, and this runs in the SIGTRAP handler, which holds no cancellation
// off: a deferred pthread_cancel acted here and unwound out of the lure's
// window, its slot busy for good (issue 10, defect 3). errno kept.
void SleepNoCancel(const timespec& ts) {
  const int saved_errno = errno;
  syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, nullptr);
  errno = saved_errno;
}

void WaitForSlotHandlers(const Slot& slot) {
  const uint64_t until = MonotonicNs() + 2000000;  // 2 ms at most
  while (slot.handlers_in_flight.load(std::memory_order_acquire) != 0 &&
         MonotonicNs() < until) {
    timespec ts{0, 20000};
    SleepNoCancel(ts);
  }
}

uint64_t StallFor(uint64_t ns) {
  const uint64_t start = MonotonicNs();
  const uint64_t until = start + ns;
  for (uint64_t now = start; now < until; now = MonotonicNs()) {
    const uint64_t left = until - now;
    timespec ts{static_cast<time_t>(left / 1000000000),
                static_cast<long>(left % 1000000000)};
    SleepNoCancel(ts);
  }
  const uint64_t away = MonotonicNs() - start;
  return away < 3 * ns ? away : 3 * ns;
}

uint64_t DelayNs() {
  const int64_t d = GetOptions().delay_us;
  return d > 0 ? static_cast<uint64_t>(d) * 1000 : 50000;
}

// kWaiting -> kClosing won by the caller: disarm, free the slot.
void Withdraw(int index) {
  Slot& slot = GetSlot(index);
  DisarmBreakpoint(index);
  ReleaseSlot(slot);
  g_state.store(kIdle, std::memory_order_release);
}

bool IsRecentLure(uint64_t cookie) {
  for (const auto& c : g_recent_cookies) {
    if (c.load(std::memory_order_relaxed) == cookie) return true;
  }
  return false;
}

// The first writer's window: it trapped after its write and stalls here,
// in its handler, with the lure still armed. kClaiming won by the caller.
void RunCaughtWindow(ThreadState& t, int index, uint64_t cookie,
                     uintptr_t addr, const TrapDecode& owner, void* uc) {
  InRuntime guard;
  const uint64_t cpu_start = ClockNs(CLOCK_THREAD_CPUTIME_ID);
  Slot& slot = GetSlot(index);
  WindowInfo window;
  window.cookie = cookie;
  window.access.tid = t.tid;
  window.access.thread_id = t.thread_id;
  window.access.addr = addr;
  window.access.size = 1;
  // What its trapped instruction did (kUnknown: reported as neither).
  const bool writes = owner.kind == AccessKind::kWrite;
  window.access.kind = owner.kind;
  window.access.pc_after_access = true;
  UnwindFromSignalContext(uc, t.stack_lo, t.stack_hi, &window.access.stack);
  window.access.has_registers = true;
  CopyRegisters(uc, window.access.registers);
  window.access.time_ns = MonotonicNs();
  window.watch_addr = addr;
  window.watch_len = 1;
  // Which accesses race with it: any, when it wrote; writes only when it
  // read (or did what is not known). A read-write lure traps both (racers'
  // reads beside a reading owner are dropped in their handlers:
  // RecordRacer); a write-only one writes only.
  window.watch_reads = writes && g_lure_rw.load(std::memory_order_relaxed);
  window.timer_sample = true;  // uninstrumented: the atomics rules apply
  // An instruction no C++ atomic compiles to (decoded: an unlocked
  // read-modify-write, a misaligned access...): its pairs are definite.
  window.known_plain = owner.atomicity == Atomicity::kPlain;
  Cookie c{};
  DecodeCookie(cookie, &c);
  PublishWindow(slot, c.generation, window);
  slot.self_traps.store(0, std::memory_order_relaxed);
  slot.owner_tid.store(t.tid, std::memory_order_relaxed);
  slot.watch_addr.store(addr, std::memory_order_relaxed);
  slot.watch_len.store(1, std::memory_order_relaxed);
  slot.watch_reads.store(window.watch_reads, std::memory_order_relaxed);
  slot.active_cookie.store(cookie, std::memory_order_release);
  const uint64_t saved_watching = t.watching_cookie;
  t.watching_cookie = cookie;
  g_owner_writes.store(writes, std::memory_order_relaxed);
  g_state.store(kCaught, std::memory_order_seq_cst);
  // Preferred later: words written (shared read-only data is read by every
  // thread, and a lure on it finds nothing).
  if (writes) NoteCaught(addr, t.tid, NextRandom(t));
  Count(Stats().lures_caught);

  const uint64_t d = kCatchStallFactor * DelayNs();
  const uint64_t start_ns = MonotonicNs();
  const uint64_t stalled_ns = StallFor(d / 2 + NextRandom(t) % (d + 1));
  // (seq_cst: a racer's handler raises handlers_in_flight before it reads
  // the state, RecordRacer; WaitForSlotHandlers below waits for it.)
  g_state.store(kClosing, std::memory_order_seq_cst);
  const uint64_t disarm_at = MonotonicNs();
  DisarmBreakpoint(index);
  const uint64_t end = MonotonicNs();
  WaitForSlotHandlers(slot);
  constexpr int kMax = 4;
  Conflict found[kMax];
  auto mine = [cookie](const Conflict& f) { return f.cookie == cookie; };
  int n = Conflicts().Take(mine, found, kMax);
  slot.active_cookie.store(0, std::memory_order_seq_cst);
  t.watching_cookie = saved_watching;
  WaitForSlotHandlers(slot);
  n += Conflicts().Take(mine, found + n, kMax - n);
  ReleaseSlot(slot);
  g_state.store(kIdle, std::memory_order_release);
  Count(Stats().windows);
  Count(Stats().window_ns, end - start_ns);
  Count(Stats().arm_ns, end - disarm_at);

  const bool queued = QueueSignalWindowConflicts(window, found, n, t.tid);
  if (queued) SignalPendingRaces();
  const uint64_t cost =
      ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start + stalled_ns;
  Count(Stats().budget_ns, cost);
  WindowBudget().Charge(cost);
}

// What the trapping instruction of this thread did (uc: its registers after
// it). False when it cannot own a window: a vector load (string functions
// load whole aligned vectors past the bytes they need, so its touching the
// byte says nothing), or an access its ignore regions exclude.
bool IsOwnerAccess(const ThreadState& t, uintptr_t pc, uintptr_t watched,
                   void* uc, TrapDecode* out) {
  uint64_t registers[16];
  CopyRegisters(uc, registers);
  *out = DecodeTrapInSignal(pc, registers, watched, 1);
  // A write-only watchpoint traps writes only, whatever the decoding says.
  if (!g_lure_rw.load(std::memory_order_relaxed)) {
    out->kind = AccessKind::kWrite;
    out->maybe_wide = false;
  }
  if (out->maybe_wide) return false;
  if (out->kind == AccessKind::kWrite ? t.ignore_writes != 0
                                      : t.ignore_reads != 0) {
    return false;
  }
  return true;
}

// Another thread's trap on the caught lure (HandleLureTrap, kCaught): a race
// with the owner when either wrote. Recorded against the window with what
// its instruction did; a read beside a reading owner (or one whose access is
// not known to be a write) is no race and not recorded, so nothing judges
// two reads later (a late drain of the conflict table included).
// handlers_in_flight is raised before the state is read again (seq_cst,
// against the owner's kClosing and WaitForSlotHandlers), so no record is
// made after the owner took its conflicts unless it waited in vain (2 ms).
void RecordRacer(uint64_t cookie, uintptr_t watched, void* uc) {
  const int index = g_slot.load(std::memory_order_relaxed);
  if (index < 0 || index >= SlotCount()) return;
  Slot& slot = GetSlot(index);
  slot.handlers_in_flight.fetch_add(1, std::memory_order_seq_cst);
  ThreadState& t = CurrentThread();
  const ucontext_t* context = static_cast<const ucontext_t*>(uc);
  const uintptr_t pc =
      static_cast<uintptr_t>(context->uc_mcontext.gregs[REG_RIP]);
  if (g_state.load(std::memory_order_seq_cst) != kCaught ||
      g_cookie.load(std::memory_order_relaxed) != cookie) {
    Count(Stats().lure_traps_ignored);
  } else if (t.watching_cookie == cookie) {
    // The owner itself (its own signal handler's access).
    slot.self_traps.fetch_add(1, std::memory_order_relaxed);
    Count(Stats().traps_self);
  } else if (t.in_runtime != 0 || InDynamicLinker(pc)) {
    Count(Stats().lure_traps_ignored);
  } else {
    AccessInfo access;
    access.tid = t.tid;
    access.thread_id = t.thread_id;
    access.addr = watched;
    access.pc_after_access = true;
    access.has_registers = true;
    CopyRegisters(uc, access.registers);
    TrapDecode d = DecodeTrapInSignal(pc, access.registers, watched, 1);
    if (!g_lure_rw.load(std::memory_order_relaxed)) {
      d.kind = AccessKind::kWrite;  // a write-only watchpoint's trap
    }
    access.kind = d.kind;
    access.size = d.size;
    // (A vector load that may have read past its data races with nothing.)
    const bool races =
        d.kind == AccessKind::kWrite ||
        (g_owner_writes.load(std::memory_order_relaxed) && !d.maybe_wide);
    const bool ignored = d.kind == AccessKind::kWrite
                             ? t.ignore_writes != 0
                             : t.ignore_reads != 0;
    if (!races || ignored) {
      Count(Stats().lure_traps_ignored);
    } else {
      Count(Stats().traps);
      ++t.traps_received;
      UnwindFromSignalContext(uc, t.stack_lo, t.stack_hi, &access.stack);
      access.time_ns = MonotonicNs();
      if (!Conflicts().Record(cookie, access, false)) {
        Count(Stats().traps_dropped);
      }
    }
  }
  slot.handlers_in_flight.fetch_sub(1, std::memory_order_acq_rel);
}

}  // namespace

void PrepareDataLures() {
  if (g_data_count != 0) return;
  dl_iterate_phdr(FindProgramData, nullptr);
}

void NoteSampledAddress(const ThreadState&, uintptr_t addr) {
  if (CoversOwnErrno(addr, 8)) return;  // (no window may watch it)
  const uint32_t i = g_sampled_next.fetch_add(1, std::memory_order_relaxed);
  g_sampled[i % kSampled].store(addr, std::memory_order_relaxed);
}

void MaybeArmLure(ThreadState& t) {
  if (!Enabled()) return;
  uint32_t state = g_state.load(std::memory_order_acquire);
  if (state == kWaiting) {
    const uint64_t waited =
        MonotonicNs() - g_armed_at_ns.load(std::memory_order_relaxed);
    uint64_t wait = kWaitFactor * DelayNs();
    if (wait < kMinWaitNs) wait = kMinWaitNs;
    if (waited < wait ||
        !g_state.compare_exchange_strong(state, kClosing,
                                         std::memory_order_acq_rel)) {
      return;
    }
    InRuntime guard;
    const uint64_t cpu_start = ClockNs(CLOCK_THREAD_CPUTIME_ID);
    g_expired[g_expired_next.fetch_add(1, std::memory_order_relaxed) %
              kExpiredWords]
        .store(g_addr.load(std::memory_order_relaxed),
               std::memory_order_relaxed);
    Withdraw(g_slot.load(std::memory_order_relaxed));
    WindowBudget().Charge(ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start);
    return;  // (the next sample arms a new one)
  }
  if (state != kIdle) return;
  if (!WindowBudget().WouldFit()) {
    Count(Stats().skipped_budget);
    return;
  }
  if (!g_state.compare_exchange_strong(state, kArming,
                                       std::memory_order_acq_rel)) {
    return;
  }
  InRuntime guard;
  const uint64_t cpu_start = ClockNs(CLOCK_THREAD_CPUTIME_ID);
  const uintptr_t addr = ChooseWord(t);
  const int index = addr != 0 ? ClaimSlot() : -1;
  if (index < 0) {
    if (addr != 0) Count(Stats().skipped_no_slot);
    g_state.store(kIdle, std::memory_order_release);
    return;
  }
  Slot& slot = GetSlot(index);
  const uint64_t generation = ++slot.generation & kGenerationMask;
  const uint64_t cookie = EncodeCookie(index, generation);
  g_recent_cookies[g_recent_next.fetch_add(1, std::memory_order_relaxed) %
                   kRecentCookies]
      .store(cookie, std::memory_order_relaxed);
  g_cookie.store(cookie, std::memory_order_relaxed);
  g_slot.store(index, std::memory_order_relaxed);
  g_addr.store(addr, std::memory_order_relaxed);
  // One byte: any access that traps touched that byte, so two trapped
  // accesses overlap. Reads too on a word known to be written (which of
  // the accesses were writes is decoded); else writes only.
  const bool rw = IsKnownWritten(addr);
  g_lure_rw.store(rw, std::memory_order_relaxed);
  if (!ArmBreakpoint(index, addr, 1, /*watch_reads=*/rw, cookie,
                     /*may_block=*/false)) {
    ReleaseSlot(slot);
    g_state.store(kIdle, std::memory_order_release);
  } else {
    g_armed_at_ns.store(MonotonicNs(), std::memory_order_relaxed);
    g_state.store(kWaiting, std::memory_order_release);
    Count(Stats().lures);
  }
  WindowBudget().Charge(ClockNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start);
}

bool HandleLureTrap(uint64_t* cookie_io, uintptr_t* watched_io, void* uc) {
  const uint64_t cookie = *cookie_io;
  const uintptr_t watched = *watched_io;
  const bool current = cookie == g_cookie.load(std::memory_order_relaxed);
  if (!current && !IsRecentLure(cookie)) return false;
  uint32_t state = g_state.load(std::memory_order_acquire);
  if (current && state == kCaught) {  // a racer
    RecordRacer(cookie, watched, uc);
    return true;
  }
  // One write hitting two watchpoints gets one SIGTRAP, with one cookie:
  // when another window watches the byte too, the trap is that window's.
  uintptr_t other_addr = 0;
  if (const uint64_t other = OtherOpenWindowOn(
          watched, 1, g_lure_rw.load(std::memory_order_relaxed), cookie,
          /*except_tid=*/0, &other_addr)) {
    *cookie_io = other;
    *watched_io = other_addr;
    return false;
  }
  ThreadState& t = CurrentThread();
  const ucontext_t* context = static_cast<const ucontext_t*>(uc);
  const uintptr_t pc =
      static_cast<uintptr_t>(context->uc_mcontext.gregs[REG_RIP]);
  TrapDecode owner;
  if (current && state == kWaiting && t.in_runtime == 0 &&
      watched == g_addr.load(std::memory_order_relaxed) &&
      !InDynamicLinker(pc) && IsOwnerAccess(t, pc, watched, uc, &owner) &&
      g_state.compare_exchange_strong(state, kClaiming,
                                      std::memory_order_acq_rel)) {
    if (!WindowBudget().WouldFit()) {
      g_state.store(kClosing, std::memory_order_release);
      InRuntime guard;
      Withdraw(g_slot.load(std::memory_order_relaxed));
      Count(Stats().skipped_budget);
      return true;
    }
    RunCaughtWindow(t, g_slot.load(std::memory_order_relaxed), cookie,
                    watched, owner, uc);
    return true;
  }
  Count(Stats().lure_traps_ignored);
  return true;
}

void ResetDataLuresInChild() {
  g_state.store(kIdle, std::memory_order_relaxed);
  g_cookie.store(0, std::memory_order_relaxed);
  for (auto& c : g_recent_cookies) c.store(0, std::memory_order_relaxed);
  for (auto& e : g_expired) e.store(0, std::memory_order_relaxed);
}

}  // namespace trapsan
