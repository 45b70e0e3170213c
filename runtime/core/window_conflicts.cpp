#include "window_conflicts.h"

#include <atomic>

#include "cookie.h"
#include "counters.h"
#include "options.h"
#include "pending_races.h"
#include "race_event.h"
#include "release.h"
#include "window.h"
#include "window_slot.h"
#include "soft_watch.h"
#include "runtime/linux/probe.h"
#include "runtime/report/decode.h"
#include "runtime/report/sample_decode.h"

namespace trapsan {
namespace {

// What a hardware trap says of its window's bytes.
enum class TrapJudgement { kRace, kStale, kUnsure };

// A hardware trap names, in si_addr, the bp_addr its event had when it fired;
// its sig_data (the cookie) is read when the signal is sent, on the way back
// to user mode. A thread that traps on window A's bytes and is preempted
// before that return can get window B's cookie if B re-armed the slot
// meanwhile (MODIFY_ATTRIBUTES): seen in the lab guest as a false report of
// two threads writing disjoint chunks of an array. Its si_addr is still A's
// address: a trap whose si_addr is not the window's watched address did not
// touch the window's bytes (kStale).
// Nor does a trap on the watched address prove that its instruction touched
// the watched bytes (in the lab guest, qemu's TCG checks an unaligned access
// as the aligned ones around it: a 16-byte load 4 bytes past a watched word
// traps; report/decode.h). The instruction, decoded with the trap's
// registers, must not have missed them: when it surely did, the trap is
// stale. When that cannot be established (its address register overwritten
// by the load itself, no instruction decoded, code unreadable) the trap is
// taken at its word where the start-up probe found watchpoints precise
// (linux/probe.h: hardware traps only accesses of the watched bytes), and is
// only a possible race where it found them imprecise (kUnsure: not reported
// by default). An asynchronous trap (delivered away from its instruction)
// cannot be decoded and is kept as before, its report says so; so is every
// trap when the decoder cannot be loaded.
TrapJudgement JudgeTrap(const WindowInfo& window, bool watcher_known,
                        const Conflict& conflict) {
  const AccessInfo& racer = conflict.access;
  if (!racer.pc_after_access) return TrapJudgement::kRace;  // instrumented
  if (watcher_known && racer.addr != window.watch_addr) {
    return TrapJudgement::kStale;
  }
  if (conflict.async) return TrapJudgement::kRace;
  // A forgotten window's length is not known: its watched address is a
  // watched byte, and it watched at most the aligned 8 bytes from there.
  uint32_t sure_len = window.watch_len, maybe_len = window.watch_len;
  const uintptr_t watch_addr = watcher_known ? window.watch_addr : racer.addr;
  if (!watcher_known || sure_len == 0) {
    sure_len = 1;
    maybe_len = 8;
    while (maybe_len > 1 && (watch_addr & (maybe_len - 1)) != 0) maybe_len /= 2;
  }
  uint32_t widest = 0;
  const bool writes_only = watcher_known && !window.watch_reads;
  switch (JudgeTrappedAccess(racer, watch_addr, sure_len, maybe_len, &widest,
                             writes_only)) {
    case TrapOverlap::kTouched:
    case TrapOverlap::kNoDecoder:
      return TrapJudgement::kRace;
    case TrapOverlap::kMissed:
      return TrapJudgement::kStale;
    case TrapOverlap::kUnknown:
      break;
  }
  if (!WatchpointsImprecise()) return TrapJudgement::kRace;
  // Imprecise, but only within aligned blocks of the access's size that
  // hold a byte of it (probe.h): an access no wider than the watched block,
  // which is aligned to its length, trapped on a block inside the watched
  // bytes, so one of its bytes was watched (a load into its own index
  // register, the commonest kUnknown, is no longer only possible there).
  const bool aligned_block = watcher_known && sure_len != 0 &&
                             (sure_len & (sure_len - 1)) == 0 &&
                             (watch_addr & (sure_len - 1)) == 0;
  if (aligned_block && widest != 0 && widest <= sure_len &&
      ImprecisionWithinAccessSize()) {
    return TrapJudgement::kRace;
  }
  return TrapJudgement::kUnsure;
}

// Timer samples of uninstrumented code (runtime/preload): on x86, relaxed,
// acquire and release atomic loads and stores are plain moves, so a pair
// of a sampled move and a trapped one may be two atomics, no race. Such a
// pair is only "possible" (counted, reported with report_possible=1) unless
// one side is known plain: an access of instrumented code (the plugin and
// the TSan ABI check plain accesses only), or an instruction no atomic
// compiles to (report/decode.h). A trapped vector load (a string function
// reading past its data) is only possible too, whatever the sampled side.
bool OnlyPossible(const WindowInfo& window, const Conflict& conflict) {
  if (!window.timer_sample) return false;
  const AccessInfo& racer = conflict.access;
  if (!racer.pc_after_access) return false;  // instrumented: plain
  const Atomicity a =
      conflict.async
          ? Atomicity::kUnknown
          : ClassifyTrappedAccess(racer, window.watch_addr, window.watch_len);
  if (a == Atomicity::kWideLoad) return true;
  return !window.known_plain && a != Atomicity::kPlain;
}

}  // namespace

bool FoundOpenWindow(const AccessInfo& access) {
  uint64_t cookie = ConflictingWindow(access.addr, access.size,
                                      access.kind == AccessKind::kWrite);
  if (cookie == 0) return false;
  // This thread's own held window: no race; closed, and this access gets a
  // window of its own.
  if (CloseIfOwnHeld(cookie)) return false;
  // Into a window still open only: a record that came after its last take
  // would be late (not judged by its masked bits, or reported apart from
  // the value change it made: seen in the lab guest as "unknown origin").
  // Closed meanwhile: this access gets a window of its own.
  Cookie c;
  if (!DecodeCookie(cookie, &c) || c.slot >= SlotCount()) return false;
  return RecordWhileOpen(GetSlot(c.slot), cookie, access);
}

void TakeConflictsOf(uint64_t cookie, std::vector<Conflict>* out) {
  constexpr int kBatch = 16;
  Conflict batch[kBatch];
  int n;
  do {
    n = Conflicts().Take([cookie](const Conflict& c) { return c.cookie == cookie; },
                         batch, kBatch);
    out->insert(out->end(), batch, batch + n);
  } while (n == kBatch);
}

void ReportConflict(const WindowInfo& window, bool watcher_known,
                    const Conflict& conflict, bool late) {
  const TrapJudgement judged = JudgeTrap(window, watcher_known, conflict);
  if (judged == TrapJudgement::kStale) {
    Count(Stats().traps_stale);
    return;
  }
  if (judged == TrapJudgement::kUnsure ||
      (watcher_known && OnlyPossible(window, conflict))) {
    Count(Stats().races_possible);
    if (!GetOptions().report_possible) return;
  }
  RaceEvent event;
  event.window = window;
  event.watcher_known = watcher_known;
  event.racer = conflict;
  event.late = late;
  AccessInfo& racer = event.racer.access;
  if (racer.pc_after_access) {  // A hardware trap: it hit the watched bytes.
    if (watcher_known) racer.addr = window.watch_addr;
    // A write-only watchpoint traps writes only.
    if (watcher_known && !window.watch_reads) racer.kind = AccessKind::kWrite;
  }
  SubmitRace(event);
}

void DropOwnersConflicts(const WindowInfo& window,
                         std::vector<Conflict>* conflicts) {
  const int owner = window.access.tid;
  size_t kept = 0;
  for (size_t i = 0; i < conflicts->size(); ++i) {
    if ((*conflicts)[i].access.tid == owner && owner != 0) {
      Count(Stats().traps_self);
      continue;
    }
    (*conflicts)[kept++] = (*conflicts)[i];
  }
  conflicts->resize(kept);
}

// A masked window's conflicts (TRAPSAN_ASSERT_EXCLUSIVE_BITS): only writes
// that changed masked bits are kept. A hardware trap says so itself (the
// handler compared the value after it with the value before:
// NoteMaskedTrap). A soft check comes before its write, so its change is
// judged over the stall it was recorded in: the whole window, or a scoped
// window's entry or exit stall (`exit_changed`: the value change of the
// last stall); in the middle of a scope the owner changes the bits itself,
// so a soft check recorded there cannot be judged and is dropped. Dropped
// conflicts are counted (conflicts_masked).
void KeepMaskedChanges(const Slot::OpenState& open, bool exit_changed,
                       std::vector<Conflict>* conflicts) {
  if (!open.window.masked) return;
  size_t kept = 0;
  for (size_t i = 0; i < conflicts->size(); ++i) {
    const Conflict& c = (*conflicts)[i];
    bool keep;
    if (c.access.pc_after_access) {
      keep = c.access.changed_masked_bits;
    } else if (!open.scoped) {
      keep = exit_changed;
    } else if (c.access.time_ns <= open.hold_ns) {
      keep = open.entry_changed;
    } else {
      keep = open.end_ns != 0 && c.access.time_ns >= open.end_ns &&
             exit_changed;
    }
    if (!keep) {
      Count(Stats().conflicts_masked);
      continue;
    }
    (*conflicts)[kept++] = c;
  }
  conflicts->resize(kept);
}

void DrainLateConflicts() {
  DrainPendingRaces();
  auto closed = [](const Conflict& c) {
    Cookie cookie;
    if (!DecodeCookie(c.cookie, &cookie) || cookie.slot >= kMaxSlots) {
      return true;
    }
    return GetSlot(cookie.slot).active_cookie.load(
               std::memory_order_acquire) != c.cookie;
  };
  constexpr int kBatch = 16;
  Conflict found[kBatch];
  int n;
  do {
    n = Conflicts().Take(closed, found, kBatch);
    for (int i = 0; i < n; ++i) {
      Count(Stats().traps_late);
      WindowInfo window;
      bool known = LookupWindow(found[i].cookie, &window);
      if (!known) {
        window = WindowInfo{};
        window.cookie = found[i].cookie;
      }
      if (known && window.access.tid == found[i].access.tid) {
        Count(Stats().traps_self);  // the watcher's own late trap
        continue;
      }
      // A window no longer known (its history entry was reused) cannot be
      // judged: not its bytes (JudgeTrap), not its kind, not its owner, who
      // may be the trapping thread itself (its own late trap, no race), not
      // whether it was a timer sample's (two atomics). Only possible. (The
      // lab guest's CI run at 46b15d6: host.cancel_hw's preloaded plain
      // cancel_storm, whose threads only touch their own words, reported
      // one such late trap as a race.)
      if (!known) {
        Count(Stats().races_possible);
        if (!GetOptions().report_possible) continue;
      }
      if (known && window.masked && !found[i].access.changed_masked_bits) {
        Count(Stats().conflicts_masked);  // KeepMaskedChanges
        continue;
      }
      ReportConflict(window, known, found[i], true);
    }
  } while (n == kBatch);
}

void DrainPendingRaces() {
  constexpr int kBatch = 8;
  RaceEvent events[kBatch];
  int n;
  const bool locked = LockDrain();
  do {
    n = TakePendingRaces(events, kBatch);
    for (int i = 0; i < n; ++i) {
      if (events[i].unknown_origin) {
        SubmitRace(events[i]);
      } else {
        ReportConflict(events[i].window, true, events[i].racer, false);
      }
    }
  } while (n == kBatch);
  if (locked) UnlockDrain();
}

}  // namespace trapsan
