#include "past_release.h"

#include <atomic>

#include "cookie.h"
#include "counters.h"
#include "options.h"
#include "slots.h"
#include "sync_state.h"
#include "thread_state.h"
#include "runtime/linux/safe_read.h"

namespace trapsan {
namespace {

// The threads whose words a release reads: registered at their start
// (threads.cpp's trampoline, and the initializing thread), removed at exit.
// A thread not in it is never outside for anybody's release: its accesses
// to a released window are dropped (safe). Threads are named by trapsan's
// thread number plus one (ThreadKey), never reused, unlike a kernel tid.
constexpr int kMaxSyncThreads = 256;

int ThreadKey(uint32_t thread_id) { return static_cast<int>(thread_id) + 1; }

struct SyncThread {
  std::atomic<int> tid{0};  // ThreadKey; 0 free, -1 being filled
  std::atomic<uintptr_t> word{0};
};
SyncThread g_sync_threads[kMaxSyncThreads];

}  // namespace

void RegisterSyncWord() {
  const int tid = ThreadKey(CurrentThread().thread_id);
  const uintptr_t word = reinterpret_cast<uintptr_t>(&__trapsan_sync_state);
  for (SyncThread& e : g_sync_threads) {
    int expected = 0;
    if (e.tid.load(std::memory_order_relaxed) == 0 &&
        e.tid.compare_exchange_strong(expected, -1,
                                      std::memory_order_acquire)) {
      e.word.store(word, std::memory_order_relaxed);
      e.tid.store(tid, std::memory_order_release);
      return;
    }
  }
  // Full: this thread is never outside for a release (safe).
}

void UnregisterSyncWord() {
  const int tid = ThreadKey(CurrentThread().thread_id);
  for (SyncThread& e : g_sync_threads) {
    if (e.tid.load(std::memory_order_relaxed) == tid) {
      e.word.store(0, std::memory_order_relaxed);
      e.tid.store(0, std::memory_order_release);
      return;
    }
  }
}

void ResetSyncWordsInChild() {
  for (SyncThread& e : g_sync_threads) {
    e.word.store(0, std::memory_order_relaxed);
    e.tid.store(0, std::memory_order_relaxed);
  }
  RegisterSyncWord();  // the child's one thread, under its own tid
}

bool KeepPastRelease(int index, uint64_t cookie) {
  if (!GetOptions().past_release) return false;
  Slot& slot = GetSlot(index);
  if (slot.released_cookie.load(std::memory_order_relaxed) == cookie) {
    return true;  // released at an earlier release of its owner
  }
  // Hardware windows only: a soft window is met only by other threads'
  // checks, which judge it as a held one (not yet built for released ones).
  if (!slot.open.armed || slot.open.scoped) return false;
  const int self = ThreadKey(CurrentThread().thread_id);
  // Seqlock: a handler that read this slot's previous released window sees
  // the cookie change before any of its snapshot does.
  Cookie c;
  if (!DecodeCookie(cookie, &c)) return false;
  slot.released_cookie.store(0, std::memory_order_seq_cst);
  uint32_t n = 0;
  for (SyncThread& e : g_sync_threads) {
    const int tid = e.tid.load(std::memory_order_acquire);
    if (tid <= 0 || tid == self) continue;
    const uintptr_t addr = e.word.load(std::memory_order_relaxed);
    uint64_t word = 0;
    // Through the kernel: the thread may have exited and its stack (which
    // holds its TLS) been unmapped since.
    if (addr == 0 || !SafeRead(addr, &word, sizeof(word))) continue;
    if (!SyncOutside(word) || e.tid.load(std::memory_order_acquire) != tid) {
      continue;
    }
    slot.snapshot[n].tid.store(tid, std::memory_order_relaxed);
    slot.snapshot[n].word.store(word, std::memory_order_relaxed);
    if (++n == Slot::kMaxSnapshot) break;
  }
  if (n == 0) return false;
  slot.snapshot_count.store(n, std::memory_order_relaxed);
  if (slot.released_generation.load(std::memory_order_relaxed) <
      c.generation + 1) {
    slot.released_generation.store(c.generation + 1,
                                   std::memory_order_relaxed);
  }
  // Seen by every trap that comes after the owner's release runs: the
  // release follows this store, which is globally visible before it.
  slot.released_cookie.store(cookie, std::memory_order_seq_cst);
  Count(Stats().held_released);
  return true;
}

bool OrderedAfterRelease(const Slot& slot, uint64_t cookie,
                         uint32_t thread_id) {
  if (!GetOptions().past_release) return false;
  const int tid = ThreadKey(thread_id);
  if (slot.released_cookie.load(std::memory_order_acquire) == cookie) {
    const uint64_t now = __trapsan_sync_state;
    bool unchanged = false;
    const uint32_t n = slot.snapshot_count.load(std::memory_order_relaxed);
    for (uint32_t i = 0; i < n && i < Slot::kMaxSnapshot; ++i) {
      if (slot.snapshot[i].tid.load(std::memory_order_relaxed) == tid) {
        unchanged = slot.snapshot[i].word.load(std::memory_order_relaxed) ==
                        now &&
                    SyncOutside(now);
        break;
      }
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (slot.released_cookie.load(std::memory_order_relaxed) != cookie) {
      return true;  // its snapshot was replaced meanwhile: not known
    }
    return !unchanged;
  }
  // Not released when this was read, after the access: if the window is
  // still open, the access came before its owner's release (a held
  // window's race, as before). If it closed (a late trap), it was never
  // released when no window of its generation or newer ever was on this
  // slot; else it is not known (its slot was released again since, which
  // replaced its snapshot): dropped.
  if (slot.active_cookie.load(std::memory_order_acquire) == cookie) {
    return false;
  }
  Cookie c;
  if (!DecodeCookie(cookie, &c)) return true;
  return slot.released_generation.load(std::memory_order_acquire) >
         c.generation;
}

}  // namespace trapsan
