// Entry points for trapsan's own tests, not part of the public API (no
// header in include/): they expose state that lets a test prove a property
// instead of hoping for it.
#include <atomic>
#include <cstdint>

#include "runtime/core/slots.h"
#include "runtime/core/thread_state.h"
#include "runtime/linux/sites.h"
#include "runtime/report/reporter.h"

using namespace trapsan;

extern "C" {

// The cookie of the window whose watchpoint is armed on `addr` right now,
// or 0. Two equal non-zero results around an access prove the watchpoint was
// armed all along, so the access must have trapped.
__attribute__((visibility("default"))) uint64_t __trapsan_testonly_armed_cookie(
    const volatile void* addr) {
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  for (int i = 0; i < SlotCount(); ++i) {
    Slot& s = GetSlot(i);
    uint64_t cookie = s.armed_cookie.load(std::memory_order_acquire);
    if (cookie == 0) continue;
    uintptr_t w = s.watch_addr.load(std::memory_order_relaxed);
    uint32_t len = s.watch_len.load(std::memory_order_relaxed);
    if (a >= w && a < w + len &&
        s.armed_cookie.load(std::memory_order_acquire) == cookie) {
      return cookie;
    }
  }
  return 0;
}

// Our SIGTRAPs handled on the calling thread so far.
__attribute__((visibility("default"))) uint64_t __trapsan_testonly_thread_traps(void) {
  return t_thread.traps_received;
}

// What the calling thread's last sampled instrumented site picked:
// out = {address, size, is_write, line, accesses picked (at calling sites
// and labels), expiries (calling sites and checks), phantom expiries}.
__attribute__((visibility("default"))) void __trapsan_testonly_last_site_sample(
    uint64_t out[7]) {
  const SiteSample& s = LastSiteSample();
  out[0] = s.addr;
  out[1] = s.size;
  out[2] = s.is_write ? 1 : 0;
  out[3] = s.line;
  out[4] = s.picked;
  out[5] = s.sites;
  out[6] = s.phantoms;
}

// How races were looked up in the suppressions (report/reporter.h):
// out = {symbolized, their ns, answered from the kept decision, their ns}.
__attribute__((visibility("default"))) void __trapsan_testonly_suppression_lookups(
    uint64_t out[4]) {
  const SuppressionLookupCounts c = SuppressionLookups();
  out[0] = c.symbolized;
  out[1] = c.symbolized_ns;
  out[2] = c.cached;
  out[3] = c.cached_ns;
}

}  // extern "C"
