// The watch slots: one per hardware watchpoint (x86: 4 debug registers), or
// soft slots when there is no hardware backend. A slot is claimed by one
// watcher for one window at a time, lock-free.
//
// Lifecycle of a window on slot s (all by its watcher):
//   Claim: busy 0 -> 1 by CAS (acquire). No free slot: the sample is skipped.
//   ++generation; history[generation % kHistory] describes the window;
//   active_cookie = cookie (release): from now on software checks of other
//   threads see the window and handler traps carrying it are "in time".
//   arm ... stall ... disarm; wait until no handler for s is in flight;
//   take conflicts; active_cookie = 0; busy = 0 (release).
// A trap whose handler runs after that is "late": its record stays in the
// conflict table until a drain reports it, using history[] for the watcher.
#ifndef TRAPSAN_RUNTIME_CORE_SLOTS_H_
#define TRAPSAN_RUNTIME_CORE_SLOTS_H_

#include <atomic>
#include <cstdint>

#include "access.h"
#include "cookie.h"

namespace trapsan {

// A closed or open window, as its watcher described it before arming.
struct WindowInfo {
  uint64_t cookie = 0;
  AccessInfo access{};  // the sampled access
  uintptr_t watch_addr = 0;
  uint32_t watch_len = 0;
  bool watch_reads = false;  // an RW watchpoint (the sampled access writes)
  // Opened by a timer sample of uninstrumented code (runtime/preload), in
  // its SIGTRAP handler; known_plain: its instruction is none an atomic
  // compiles to (report/sample_decode.h, Atomicity).
  bool timer_sample = false;
  bool known_plain = false;
  // Only writes that change masked bits conflict (OpenState::value_mask).
  bool masked = false;
};

// One entry of a slot's history: a seqlock around a WindowInfo. `cookie` is
// written last (release) and checked again after a copy, so a reader detects
// an entry reused meanwhile.
struct HistoryEntry {
  std::atomic<uint64_t> cookie{0};
  WindowInfo info;
};

struct Slot {
  static constexpr int kHistory = 64;

  std::atomic<uint32_t> busy{0};
  std::atomic<uint64_t> active_cookie{0};
  // The open window's range, for the software overlap check.
  std::atomic<uintptr_t> watch_addr{0};
  std::atomic<uint32_t> watch_len{0};
  std::atomic<bool> watch_reads{false};
  // The cookie while the watchpoint is known armed: set after the arm ioctl
  // returned, cleared before the disarm starts (0 otherwise). For tests that
  // check no trap is missed.
  std::atomic<uint64_t> armed_cookie{0};
  // Handlers running for this slot right now.
  std::atomic<uint32_t> handlers_in_flight{0};
  // Traps the watcher took on its own window (a signal handler of its own
  // touching the bytes): the value change then proves nothing.
  std::atomic<uint32_t> self_traps{0};
  uint64_t generation = 0;  // owned by the slot's current watcher
  HistoryEntry history[kHistory];

  // The open window's own state (window.cpp): written by its watcher before
  // the window is published as held, read by whoever closes it.
  struct OpenState {
    WindowInfo window;
    bool armed = false;  // a hardware watchpoint (else a soft window)
    bool have_old_value = false;
    uint64_t old_value = 0;
    uint64_t start_ns = 0;  // CLOCK_MONOTONIC when it opened
    uint64_t arm_ns = 0;    // arming's wall time
    bool cold = false;      // a cold-site sample's (sampler.h ColdSample)
    // The bits of the watched value that matter (TRAPSAN_ASSERT_EXCLUSIVE_
    // BITS): a write that changes none of them is no conflict. All ones
    // (of watch_len bytes) for every other window.
    uint64_t value_mask = ~uint64_t{0};
    // A scoped assertion's window (core/scoped_window.h): held from its
    // entry until the end of the scope. entry_*: the value change seen
    // during its entry stall; end_ns: when the scope's end took a new
    // snapshot (old_value) for its exit stall.
    bool scoped = false;
    bool entry_changed = false;
    uint64_t entry_old_value = 0, entry_new_value = 0;
    uint64_t hold_ns = 0;  // the entry stall's end
    uint64_t end_ns = 0;   // the exit stall's start
  } open;
  // Release-bounded windows (release.h). hold: kNotHeld, kHeld (open, its
  // watcher gone on: any thread may close it, by CAS to kClosing), kClosing.
  // kScoped: a scoped assertion's window (scoped_window.h), closed only by
  // its owner at the scope's end or at its thread's or the process's exit:
  // never stolen, expired or closed at a release.
  static constexpr uint32_t kNotHeld = 0, kHeld = 1, kClosing = 2,
                            kScoped = 3;
  std::atomic<uint32_t> hold{kNotHeld};
  // The watcher's tid while a window is open (held or stalling).
  std::atomic<int> owner_tid{0};
  // The held window's cookie, cleared once it is withdrawn (disarmed, no
  // soft check in flight): the owner's release waits for that.
  std::atomic<uint64_t> held_cookie{0};
  // Its owner touched the watched bytes: close it at the owner's next check.
  std::atomic<uint32_t> close_requested{0};
  // The held window's cookie while its owner waits in pthread_join: it does
  // not expire meanwhile (release.h, NoteJoinWait).
  std::atomic<uint64_t> joining_cookie{0};
  // A masked window (open.value_mask not all ones): the mask, and the value
  // the watched bytes had after the last trap (or at the snapshot), for the
  // SIGTRAP handler to tell whether a write changed masked bits
  // (NoteMaskedTrap, window.h). 0: not masked.
  std::atomic<uint64_t> trap_mask{0};
  std::atomic<uint64_t> last_value{0};
  // The cookie of the window the two above belong to, 0 while they are
  // being set. They outlive the window's close (a trap's handler can run
  // after its window closed: its write is still judged against its own
  // window's values) until the slot's next window replaces them.
  std::atomic<uint64_t> mask_cookie{0};
  // A held window kept open past its owner's release (past_release.h): its
  // cookie once released (0 while `snapshot` is being written: a seqlock
  // for the SIGTRAP handler), and the other threads' synchronization words
  // (sync_state.h) read at that release. Left as they are when the window
  // closes; the slot's next released window replaces them.
  static constexpr int kMaxSnapshot = 32;
  struct SyncSnapshot {
    std::atomic<int> tid{0};  // trapsan's thread number + 1
    std::atomic<uint64_t> word{0};
  };
  std::atomic<uint64_t> released_cookie{0};
  // The newest generation (cookie.h) ever released on this slot, plus one
  // (0: none): a closed window of an older one was never released. Never
  // lowered.
  std::atomic<uint64_t> released_generation{0};
  std::atomic<uint32_t> snapshot_count{0};
  SyncSnapshot snapshot[kMaxSnapshot];
};

// Slots in use: 1-4 with hardware, kMaxSlots in soft mode, 0 when off.
int SlotCount();
void SetSlotCount(int n);
Slot& GetSlot(int index);
void ResetSlots();  // after fork, in the single-threaded child

// Takes the last slot out of use: waits (up to `max_wait_ns`) until no
// window holds it, keeps it claimed for good and lowers SlotCount(). False
// if only one slot is left or it stayed busy.
bool RetireLastSlot(uint64_t max_wait_ns);

// Publishes `info` as the description of window info.cookie on `slot`.
void PublishWindow(Slot& slot, uint64_t generation, const WindowInfo& info);

// Copies the description of the window `cookie` into *out. False if the
// history entry was reused since (the watcher's side is then unknown).
bool LookupWindow(uint64_t cookie, WindowInfo* out);

// One access that hits two watchpoints raises one SIGTRAP carrying one of
// their cookies (SIGTRAP is a legacy signal: the second is dropped while the
// first is pending). The open window, other than `except` and other than
// windows of thread `except_tid` (0: none excluded), that watches every byte
// of [addr, addr + len) and, when the trapped access `may_be_read`, watches
// reads too: so that an access that trapped on [addr, addr + len) surely
// hit it as well. Its cookie, and its watched address in *watch_addr (what
// its own trap's si_addr would have been); 0 if none. Async-signal-safe.
uint64_t OtherOpenWindowOn(uintptr_t addr, uint32_t len, bool may_be_read,
                           uint64_t except, int except_tid,
                           uintptr_t* watch_addr);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_SLOTS_H_
