// Soft watchpoints for compiler-plugin code (core/soft_watch.h): plugin
// sites reach the runtime only when their countdown expires, so while a soft
// window is open the watcher makes them expire.
//
// A thread registers the address of its __trapsan_countdown here the first
// time one of its sites reaches the runtime. When a soft window opens,
// ForcePluginSiteChecks() biases every registered thread's countdown by
// -kSoftBias (a CAS; a countdown already biased is left alone): its next
// site or check (`subl $N; jg`) calls the runtime, and the countdown it
// would have had is still there, plus kSoftBias. There SoftSiteEntry()
// says what the expiry is for:
//   - kCheck: biased, windows open: the calling site checks each access of
//     its segment against the open windows (their addresses are in the saved
//     registers), a region's check arms one of its labels for a check
//     instead of a sample; the countdown stays biased, so the next site
//     comes back;
//   - kCheckAndSample: the same, and the unbiased countdown ran out too: the
//     access is also sampled as always (the sampling rate does not change);
//   - kResume: biased, but the windows closed or this thread used up its
//     checks for this window: the countdown is unbiased, no sample;
//   - kNormal: a countdown that ran out by itself: sampled as always (a
//     calling site checks its accesses first while a window is open).
// After a sample, SoftSiteAfterSample() biases the fresh countdown while
// windows are still open (so a loop holding its countdown in a register,
// which the watcher cannot reach, checks from then on too).
// A thread makes at most kMaxSiteChecksPerWindow checks of calling sites
// and kMaxLabelChecksPerWindow label arms per soft window opened (so one
// looping over a watched location does not pay a slow path each time), and
// none after a conflict of its own was recorded there.
//
// No cost while no window is open: nothing is emitted or loaded in the
// instrumented code. The watcher's CAS may be lost to the thread's own
// non-atomic `subl` (then that thread is not forced for this window): the
// bias is told by the value (< kSoftBiased), never by a flag that could
// disagree with it.
#ifndef TRAPSAN_RUNTIME_LINUX_SOFT_SITES_H_
#define TRAPSAN_RUNTIME_LINUX_SOFT_SITES_H_

#include <cstdint>

namespace trapsan {

inline constexpr uint32_t kMaxSiteChecksPerWindow = 512;
inline constexpr uint32_t kMaxLabelChecksPerWindow = 16;

inline constexpr int32_t kSoftBias = 1 << 30;
inline constexpr int32_t kSoftBiased = -(1 << 29);  // below: biased
// Only countdowns in [kSoftBiased, kSoftBiasable) are biased: a larger one
// (the sampler's "off" INT32_MAX, its over-budget back-off, a test's
// "quiet" value) would still read as unbiased after the bias and expire
// as a sample nobody asked for. Such a thread is not forced.
inline constexpr int32_t kSoftBiasable = kSoftBiased + kSoftBias;

// Whether a countdown may be biased (unbiased now, and still told apart
// once biased).
constexpr bool SoftBiasable(int32_t countdown) {
  return countdown >= kSoftBiased && countdown < kSoftBiasable;
}

enum class SoftSiteAction { kNormal, kCheck, kCheckAndSample, kResume };

// At a site's expiry (not inside trapsan), with the countdown it ran out on
// (TLS, or the loop's register), which it may unbias. `label_check`: the
// expiry of a region's check (bound kMaxLabelChecksPerWindow). Registers
// the thread on its first call.
SoftSiteAction SoftSiteEntry(bool label_check, int32_t* countdown);

// After a sample refilled `countdown`: biased again while windows are open
// and this thread may still check in this window.
void SoftSiteAfterSample(int32_t* countdown);

// A soft check of this thread recorded a conflict: no more forced checks
// for this window.
void SoftSiteConflictRecorded();

// The watcher, when a soft window opens (after it is published).
void ForcePluginSiteChecks();

// How many threads are registered now (tests: an exited thread is not).
int RegisteredSoftSiteThreads();

// fork(), in the child: forgets every thread (their stacks are gone).
void ResetSoftSitesInChild();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_SOFT_SITES_H_
