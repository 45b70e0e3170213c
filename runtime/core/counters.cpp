#include "counters.h"

namespace trapsan {
namespace {
Counters g_counters;
}  // namespace

Counters& Stats() { return g_counters; }

void ResetStats() {
#define TRAPSAN_COUNTER(Name, Description) \
  g_counters.Name.store(0, std::memory_order_relaxed);
#include "counters.inc"
#undef TRAPSAN_COUNTER
}

}  // namespace trapsan
