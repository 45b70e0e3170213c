#include "watch_backend.h"

#include <atomic>

#include "soft_watch.h"
#include "window.h"
#include "runtime/linux/breakpoints.h"

namespace trapsan {
namespace {

std::atomic<int> g_backend{static_cast<int>(Backend::kOff)};

}  // namespace

Backend ActiveBackend() {
  return static_cast<Backend>(g_backend.load(std::memory_order_relaxed));
}
void SetActiveBackend(Backend backend) {
  g_backend.store(static_cast<int>(backend), std::memory_order_relaxed);
}
const char* BackendName(Backend backend) {
  switch (backend) {
    case Backend::kHw: return "hw";
    case Backend::kSoft: return "soft";
    default: return "off";
  }
}

bool StartWatching(bool hw, int index, const WindowInfo& window) {
  if (hw && ArmBreakpoint(index, window.watch_addr,
                          static_cast<int>(window.watch_len),
                          window.watch_reads, window.cookie)) {
    return true;
  }
  SoftWindowOpened();
  return false;
}

SignalWatch StartWatchingInSignal(bool hw, int index,
                                  const WindowInfo& window) {
  if (hw) {
    return ArmBreakpoint(index, window.watch_addr,
                         static_cast<int>(window.watch_len),
                         window.watch_reads, window.cookie,
                         /*may_block=*/false)
               ? SignalWatch::kHardware
               : SignalWatch::kNone;
  }
  SoftWindowOpened(/*force_plugin_sites=*/false);
  return SignalWatch::kSoft;
}

void StopWatching(bool hardware, int index) {
  if (!hardware) return;
  GetSlot(index).armed_cookie.store(0, std::memory_order_release);
  DisarmBreakpoint(index);
}

void FinishWatching(bool hardware) {
  if (!hardware) SoftWindowClosed();
}

}  // namespace trapsan
