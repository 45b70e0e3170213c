#include "conflict_table.h"

namespace trapsan {

bool ConflictTable::Record(uint64_t cookie, const AccessInfo& access,
                           bool async) {
  // The same instruction of the same thread trapping again in the same
  // window (a loop hammering the watched bytes) only bumps a count. A thread
  // runs one handler at a time, so no other writer touches a record carrying
  // its tid and this cookie.
  const uintptr_t pc = access.stack.depth > 0 ? access.stack.pcs[0] : 0;
  for (Entry& e : entries_) {
    if (e.state.load(std::memory_order_acquire) == kReady &&
        e.conflict.cookie == cookie && e.conflict.access.tid == access.tid &&
        (e.conflict.access.stack.depth > 0 ? e.conflict.access.stack.pcs[0]
                                           : 0) == pc) {
      e.count.fetch_add(1, std::memory_order_relaxed);
      if (access.changed_masked_bits) {
        e.masked_changes.fetch_add(1, std::memory_order_relaxed);
      }
      return true;
    }
  }
  for (Entry& e : entries_) {
    uint32_t expected = kFree;
    if (!e.state.compare_exchange_strong(expected, kWriting,
                                         std::memory_order_acquire)) {
      continue;
    }
    if (!used_.load(std::memory_order_relaxed)) {
      used_.store(true, std::memory_order_relaxed);
    }
    e.conflict.cookie = cookie;
    e.conflict.async = async;
    e.conflict.access = access;
    e.count.store(1, std::memory_order_relaxed);
    e.masked_changes.store(access.changed_masked_bits ? 1 : 0,
                           std::memory_order_relaxed);
    e.state.store(kReady, std::memory_order_release);
    return true;
  }
  return false;
}

void ConflictTable::Reset() {
  if (!used_.load(std::memory_order_relaxed)) return;
  for (Entry& e : entries_) {
    if (e.state.load(std::memory_order_relaxed) != kFree) {
      e.state.store(kFree, std::memory_order_relaxed);
    }
  }
}

namespace {
// Constant-initialized: usable from a signal handler at any time.
ConflictTable g_conflicts;
}  // namespace

ConflictTable& Conflicts() { return g_conflicts; }

}  // namespace trapsan
