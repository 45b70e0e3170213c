// The backends a window watches its bytes with, as the window code calls
// them: a hardware watchpoint (linux/breakpoints.h) or, where arming fails
// or the backend is soft, a soft window (soft_watch.h: other threads'
// instrumented accesses check it). The window code (window.cpp,
// signal_window.cpp) knows no more of either than these calls.
#ifndef TRAPSAN_RUNTIME_CORE_WATCH_BACKEND_H_
#define TRAPSAN_RUNTIME_CORE_WATCH_BACKEND_H_

#include "slots.h"

namespace trapsan {

// Starts watching the window's bytes on slot `index`: a hardware watchpoint
// when `hw` and arming works; otherwise the window is soft. True: hardware.
bool StartWatching(bool hw, int index, const WindowInfo& window);

// As StartWatching, from a signal handler (a timer sample's window): a
// hardware watchpoint whose arming would block is not armed, and no soft
// window stands in for it (nothing would check it). kSoft only when !hw.
enum class SignalWatch { kHardware, kSoft, kNone };
SignalWatch StartWatchingInSignal(bool hw, int index,
                                  const WindowInfo& window);

// Stops the watching StartWatching() began: the watchpoint is disarmed
// before the handlers are waited for; a soft window stays open until the
// value is read again (FinishWatching), so that no write changes the value
// seen without having checked the window.
void StopWatching(bool hardware, int index);
void FinishWatching(bool hardware);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_WATCH_BACKEND_H_
