// Release-bounded windows (docs/design.md, "Release-bounded windows").
//
// A window opened on a sample taken at a compiler-plugin site may be *held*:
// it stays open, without stalling its watcher, until the watcher's next
// possible release operation, which the plugin marks, where a window may be
// held, with
//
//     call __trapsan_release_check
//
// (compiler-plugin/ReleasePoints.h: tests __trapsan_windows_open, and only
// when set goes on to __trapsan_release_all -> __trapsan_release_slow).
// Only sites whose note has kSiteReleasePoints (runtime/linux/sites.h) may
// hold their windows; on in mode=ci. Any other thread's
// access that meets a held window happened before the watcher's next release,
// so it is unordered with the sampled access: a race. Closing early is always
// safe; a held window is also closed when its slot is wanted by a newer
// sample, on the watcher's own access (hardware), at thread exit and after
// max_window_ms.
//
// Who closes: the owner at a release point, or any thread (a sample wanting
// the slot, an expired window) that wins the CAS hold: kHeld -> kClosing on
// the slot. An owner that loses waits until the closer has withdrawn the
// window before its release goes on.
#ifndef TRAPSAN_RUNTIME_CORE_RELEASE_H_
#define TRAPSAN_RUNTIME_CORE_RELEASE_H_

#include <cstdint>
#include <string>

extern "C" {
// Bit i set: this thread holds a window on slot i (possibly closed by another
// thread since; the next release clears it). The plugin's release points test
// it. Initial-exec TLS, exported like __trapsan_countdown.
extern __thread uint32_t __trapsan_windows_open
    __attribute__((tls_model("initial-exec")));
// Closes the calling thread's held windows. Called by instrumented code at a
// possible release when __trapsan_windows_open is set; cheap otherwise.
void __trapsan_release(void);
}

namespace trapsan {

struct ThreadState;

// The return marker (compiler-plugin/ReleasePoints.h): `nopl
// 0x73707274(%rax,%rax,1)`, which the plugin puts right after a call of an
// instrumented function of the same object; the code after it may hold
// windows (its own release points are marked). A `ret`'s point
// (__trapsan_return_check -> __trapsan_return_all -> __trapsan_return_slow)
// keeps the thread's windows held when its function returns to these bytes.
inline constexpr unsigned char kReturnMarker[8] = {0x0f, 0x1f, 0x84, 0x00,
                                                   0x74, 0x72, 0x70, 0x73};

// Whether the code at `return_address` starts with kReturnMarker (read
// through the kernel: never faults). Async-signal-safe.
bool ReturnsToMarker(uintptr_t return_address);

// Not a slot: bit 31 of __trapsan_windows_open asks the thread's release
// points for the slow path while a cold label waits to be armed again
// (linux/labels.h, RestoreDisplacedColdLabel). Never a held window.
constexpr uint32_t kLabelRestoreBit = 1u << 31;
// The slot bits of __trapsan_windows_open.
inline uint32_t HeldSlotBits(uint32_t open) { return open & ~kLabelRestoreBit; }

enum class CloseReason : int {
  kRelease,   // the owner reached a possible release
  kOwn,       // the owner touched the watched bytes (hardware self trap)
  kStolen,    // a newer sample wanted the slot
  kExpired,   // max_window_ms
  kExit,      // thread or process exit
};

// The sampler says the next sample comes from a compiler-plugin site (its
// release points are marked), so its window may be held. Consumed by
// TakeSiteSample().
void NoteSiteSample();
bool TakeSiteSample();

// Whether windows may be held at all (release_windows=1).
bool MayHoldWindow();

// The calling thread's held windows, all closed. Never from a signal handler
// that interrupted the runtime (in_runtime): then nothing is done.
void CloseHeldWindows(CloseReason reason);
// As above; `thread_return`: the release is the thread function's return
// into trapsan's start trampoline (linux/threads.h), after which nothing
// but trapsan runs until the thread's exit: a held cold window first stays
// open a while longer (the exit linger, up to min(max_window_ms / 2,
// 50 ms); docs/design.md, "Windows across join and thread exit").
void CloseHeldWindows(CloseReason reason, bool thread_return);

// Before a call that is no release but may free memory (pthread_join frees
// the joined thread's stack: linux/join.cpp): closes the calling thread's
// held windows but those whose watched address `keep` accepts. Ordinary
// context, outside the runtime.
void CloseHeldWindowsExcept(bool (*keep)(uintptr_t addr, void* arg),
                            void* arg);

// The calling thread starts (`waiting`) or ends waiting in pthread_join
// with its remaining held windows: while it waits, they do not expire
// (max_window_ms): their owner runs nothing, so they cost only their slot,
// which a new sample may still steal. Closing them early was only a bound
// on that cost: ThreadSanitizer's sleep_sync (the other side's access after
// a 1 s sleep) and deep_stack1 (after a 50,000-call recursion) come later
// than any max_window_ms.
void NoteJoinWait(bool waiting);

// At a sample (ordinary context, inside the runtime): closes this thread's
// windows whose close was asked for, and expired windows of any thread.
void MaintainHeldWindows();

// A slot for a new window when none is free: closes the oldest held window
// (of any thread) and returns its slot, claimed for the caller; -1 if none.
int StealHeldSlot();

// True if some slot holds a held window (WindowPossible: it could be stolen).
bool AnyHeldWindow();

// Every held window of every thread closed (process exit).
void CloseAllHeldWindows();

// A sample of the owner meets its own held window `cookie`: closes it
// (ordinary context, inside the runtime). False if it is not the calling
// thread's.
bool CloseIfOwnHeld(uint64_t cookie);

// `cookie` is a window the calling thread holds open. Async-signal-safe.
bool IsOwnHeldWindow(uint64_t cookie);

// The owner of `cookie`'s open window is the calling thread (the SIGTRAP
// handler's self-trap test): asks for it to be closed at the thread's next
// check. Async-signal-safe.
bool OwnHeldWindowTrap(uint64_t cookie);

// After fork, in the child's only thread.
void ResetHeldWindowsInChild();

// The window on slot `index` (open, armed, described in slot.open) is held
// by the calling thread from now on (window.cpp).
void HoldWindow(int index, uint64_t cookie);
// A held window closed after `ns` (window.cpp's CloseWindow).
void NoteHeldDuration(uint64_t ns);

// verbosity=1: a line on held windows for the exit summary ("" if none).
std::string HeldWindowSummary();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_RELEASE_H_
