// A fixed table of conflicting accesses, written from the SIGTRAP handler
// (and from the sampler's software overlap check) and consumed by watchers.
//
// Lock-free and async-signal-safe: a record goes kFree -> kWriting (one
// writer, by CAS) -> kReady (published with release) -> kTaking (one consumer,
// by CAS) -> kFree. A full table drops the conflict and counts it; nothing is
// lost silently.
#ifndef TRAPSAN_RUNTIME_CORE_CONFLICT_TABLE_H_
#define TRAPSAN_RUNTIME_CORE_CONFLICT_TABLE_H_

#include <atomic>
#include <cstdint>

#include "access.h"

namespace trapsan {

struct Conflict {
  uint64_t cookie;        // the window this access conflicted with
  uint32_t count;         // accesses by the same thread in the same window
  bool async;             // the kernel flagged the signal asynchronous
  AccessInfo access;
};

class ConflictTable {
 public:
  static constexpr int kCapacity = 128;

  // Async-signal-safe. Records `access` against `cookie`, or counts it on the
  // ready record the same thread already has for that cookie and top pc.
  // Returns false if the table is full.
  bool Record(uint64_t cookie, const AccessInfo& access, bool async);

  // Moves into out[] (up to max) the ready records accepted by `want`, and
  // frees them. Returns how many were taken.
  template <typename Predicate>
  int Take(Predicate want, Conflict* out, int max);

  void Reset();  // after fork, in the single-threaded child

 private:
  enum State : uint32_t { kFree, kWriting, kReady, kTaking };
  struct Entry {
    std::atomic<uint32_t> state{kFree};
    std::atomic<uint32_t> count{0};
    // Merged traps that changed masked bits (AccessInfo::changed_masked_bits).
    std::atomic<uint32_t> masked_changes{0};
    Conflict conflict{};
  };
  Entry entries_[kCapacity];
  // Set once an entry was first claimed: a fork child of a process that never
  // recorded a conflict skips Reset() (writing every entry faulted in each
  // page of the table in every child: a tenth of a fork's cost).
  std::atomic<bool> used_{false};
};

template <typename Predicate>
int ConflictTable::Take(Predicate want, Conflict* out, int max) {
  int n = 0;
  for (Entry& e : entries_) {
    if (n == max) break;
    if (e.state.load(std::memory_order_acquire) != kReady) continue;
    if (!want(e.conflict)) continue;
    uint32_t expected = kReady;
    if (!e.state.compare_exchange_strong(expected, kTaking,
                                         std::memory_order_acquire)) {
      continue;
    }
    out[n] = e.conflict;
    out[n].count = e.count.load(std::memory_order_relaxed);
    out[n].access.changed_masked_bits =
        e.masked_changes.load(std::memory_order_relaxed) != 0;
    ++n;
    e.state.store(kFree, std::memory_order_release);
  }
  return n;
}

// The process-wide table.
ConflictTable& Conflicts();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_CONFLICT_TABLE_H_
