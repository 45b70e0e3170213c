#include "breakpoints.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <pthread.h>

#include "absl/strings/str_cat.h"
#include "runtime/core/cookie.h"
#include "runtime/linux/fd_reserve.h"
#include "runtime/linux/perf_fd.h"
#include "runtime/linux/signals_blocked.h"
#include "runtime/report/reporter.h"

namespace trapsan {
namespace {

// Events of one slot: the initializing thread's, then one per adopted thread.
constexpr int kMaxFdsPerSlot = 1 + 64;

struct SlotFds {
  int fds[kMaxFdsPerSlot] = {};
  uint64_t ids[kMaxFdsPerSlot] = {};  // perf_fd.h: the event behind each fd
  std::atomic<int> count{0};
};

// Says once that the program closed trapsan's watchpoint fds.
void WarnLost() {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return;
  PrintToSink(
      "trapsan: WARNING: the program closed trapsan's watchpoint fds; their "
      "windows now catch value changes only\n");
}

SlotFds g_fds[kMaxSlots];
int g_open_slots = 0;
int g_requested_slots = 0;
// A placeholder every event watches while disarmed (events are also disabled).
alignas(8) volatile uint64_t g_parking_spot;

// Readers: arm/disarm (many at once, on different slots). Writer: clone(),
// preferred so thread creation is not starved by busy watchers. A pthread
// rwlock, statically initialized (valid before any constructor runs) and
// re-initialized in a fork child (absl::Mutex survives neither).
pthread_rwlock_t g_create_lock =
    PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

// The thread holding g_create_lock as its writer (0: none). A SIGTRAP
// handler of that very thread (a data lure it touched inside fork(), while
// its prepare handler holds the lock) must not wait for the lock: it would
// wait for itself. It holds the lock already; other threads are shut out.
std::atomic<pid_t> g_create_writer{0};

class ReaderLock {
 public:
  ReaderLock() {
    const pid_t writer = g_create_writer.load(std::memory_order_acquire);
    held_ = !(writer != 0 && writer == static_cast<pid_t>(syscall(SYS_gettid)));
    if (held_) pthread_rwlock_rdlock(&g_create_lock);
  }
  ~ReaderLock() {
    if (held_) pthread_rwlock_unlock(&g_create_lock);
  }

 private:
  bool held_;
};

perf_event_attr BaseAttr() {
  perf_event_attr attr = SigtrapBreakpointAttr(
      HW_BREAKPOINT_W, reinterpret_cast<uintptr_t>(&g_parking_spot),
      HW_BREAKPOINT_LEN_8);
  attr.disabled = 1;
  attr.inherit = 1;
  attr.inherit_thread = 1;
  return attr;
}

struct EventToOpen {
  perf_event_attr attr;
  int tid;
};

int OpenEventNow(void* arg) {
  auto* e = static_cast<EventToOpen*>(arg);
  return static_cast<int>(syscall(SYS_perf_event_open, &e->attr, e->tid, -1,
                                  -1, PERF_FLAG_FD_CLOEXEC));
}

// In the descriptor reserve (fd_reserve.h), created there.
int OpenEvent(int tid) {
  EventToOpen e{BaseAttr(), tid};
  return ReserveOpen(OpenEventNow, &e);
}

int OpenSlots(int max_slots, std::string* why) {
  int opened = 0;
  for (int i = 0; i < max_slots && i < kMaxSlots; ++i) {
    int fd = OpenEvent(0);
    if (fd < 0) {
      int err = errno;
      if (opened == 0) {
        *why = absl::StrCat("perf_event_open(PERF_TYPE_BREAKPOINT, sigtrap) "
                            "failed: ",
                            strerror(err),
                            err == EACCES || err == EPERM
                                ? " (perf_event_paranoid, seccomp or a "
                                  "container may forbid it)"
                                : err == EINVAL ? " (kernel older than 5.13?)"
                                : err == ENOSPC
                                    ? " (debug registers in use, a debugger?)"
                                    : "");
      }
      break;
    }
    g_fds[i].fds[0] = fd;
    g_fds[i].ids[0] = NotePerfFd(fd);
    g_fds[i].count.store(1, std::memory_order_release);
    ++opened;
  }
  g_open_slots = opened;
  return opened;
}

}  // namespace

perf_event_attr SigtrapBreakpointAttr(uint32_t bp_type, uintptr_t addr,
                                      uint64_t len) {
  perf_event_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.type = PERF_TYPE_BREAKPOINT;
  attr.size = sizeof(attr);
  attr.sample_period = 1;
  attr.bp_type = bp_type;
  attr.bp_addr = addr;
  attr.bp_len = len;
  attr.remove_on_exec = 1;
  attr.sigtrap = 1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  return attr;
}

int OpenBreakpoints(int max_slots, std::string* why) {
  g_requested_slots = max_slots;
  return OpenSlots(max_slots, why);
}

bool AdoptExistingThread(int tid, std::string* why) {
  LockForThreadCreation();
  struct Unlock {
    ~Unlock() { UnlockForThreadCreation(); }
  } unlock;
  for (int i = 0; i < g_open_slots; ++i) {
    int n = g_fds[i].count.load(std::memory_order_relaxed);
    if (n >= kMaxFdsPerSlot) {
      *why = absl::StrCat("more than ", kMaxFdsPerSlot - 1,
                          " threads existed before trapsan started");
      return false;
    }
    int fd = OpenEvent(tid);
    if (fd < 0) {
      if (errno == ESRCH) return true;  // It exited meanwhile: nothing to do.
      *why = absl::StrCat("perf_event_open on thread ", tid, ": ",
                          strerror(errno));
      return false;
    }
    g_fds[i].fds[n] = fd;
    g_fds[i].ids[n] = NotePerfFd(fd);
    g_fds[i].count.store(n + 1, std::memory_order_release);
  }
  return true;
}

bool ArmBreakpoint(int slot, uintptr_t addr, int len, bool watch_reads,
                   uint64_t cookie, bool may_block) {
  perf_event_attr attr = BaseAttr();
  attr.bp_addr = addr;
  attr.bp_len = static_cast<uint64_t>(len);
  attr.bp_type = watch_reads ? HW_BREAKPOINT_RW : HW_BREAKPOINT_W;
  attr.sig_data = cookie;
  attr.disabled = 0;  // MODIFY_ATTRIBUTES enables the event with the change.
  if (may_block) {
    pthread_rwlock_rdlock(&g_create_lock);
  } else if (pthread_rwlock_tryrdlock(&g_create_lock) != 0) {
    return false;
  }
  struct Unlock {
    ~Unlock() { pthread_rwlock_unlock(&g_create_lock); }
  } unlock;
  SlotFds& s = g_fds[slot];
  int n = s.count.load(std::memory_order_acquire);
  if (n == 0 || !OwnsPerfFd(s.fds[0], s.ids[0])) {
    if (n != 0 && may_block) WarnLost();
    return false;  // Closed by the program: the window goes on unarmed.
  }
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    if (i > 0 && !OwnsPerfFd(s.fds[i], s.ids[i])) continue;
    // An adopted thread that exited leaves an event that can no longer be
    // modified; that is harmless, only the first fd must succeed.
    if (ioctl(s.fds[i], PERF_EVENT_IOC_MODIFY_ATTRIBUTES, &attr) != 0 &&
        i == 0) {
      ok = false;
      break;
    }
  }
  if (!ok) {
    // A failed MODIFY can leave the event half-changed: make it disabled.
    for (int i = 0; i < n; ++i) {
      if (OwnsPerfFd(s.fds[i], 0))
        ioctl(s.fds[i], PERF_EVENT_IOC_DISABLE, 0);
    }
  }
  return ok;
}

void DisarmBreakpoint(int slot) {
  ReaderLock lock;
  SlotFds& s = g_fds[slot];
  int n = s.count.load(std::memory_order_acquire);
  // Each fd was checked when this window armed it (ArmBreakpoint), tens of
  // microseconds ago: the window's arm and disarm are one use. (A check here
  // too cost the lab guest a system call per window; DISABLE on anything but
  // a perf event fails with ENOTTY.)
  for (int i = 0; i < n; ++i) ioctl(s.fds[i], PERF_EVENT_IOC_DISABLE, 0);
}

bool ReadBreakpointHits(int slot, uint64_t* hits) {
  *hits = 0;
  if (slot < 0 || slot >= g_open_slots) return false;
  SlotFds& s = g_fds[slot];
  const int n = s.count.load(std::memory_order_acquire);
  if (n == 0 || !OwnsPerfFd(s.fds[0], s.ids[0])) return false;
  for (int i = 0; i < n; ++i) {
    if (i > 0 && !OwnsPerfFd(s.fds[i], s.ids[i])) continue;
    uint64_t count = 0;
    if (read(s.fds[i], &count, sizeof(count)) != sizeof(count)) {
      if (i == 0) return false;
      continue;
    }
    *hits += count;
  }
  return true;
}

bool ReopenSlotForAllThreads(int slot, std::string* why) {
  LockForThreadCreation();  // no clone, arming or disarming meanwhile
  struct Unlock {
    ~Unlock() { UnlockForThreadCreation(); }
  } unlock;
  if (slot < 0 || slot >= g_open_slots) {
    *why = "the slot is not open";
    return false;
  }
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) {
    *why = absl::StrCat("/proc/self/task: ", strerror(errno));
    return false;
  }
  // The old events first: each thread's copy holds a debug register, and a
  // thread with every register taken cannot get a new event (ENOSPC).
  // Closing the first fd removes its inherited copies too.
  SlotFds& s = g_fds[slot];
  const int old = s.count.load(std::memory_order_relaxed);
  for (int i = 0; i < old; ++i) ClosePerfFd(s.fds[i], s.ids[i]);
  s.count.store(0, std::memory_order_relaxed);
  int n = 0;
  bool ok = true;
  while (struct dirent* e = readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    if (n == kMaxFdsPerSlot) {
      *why = absl::StrCat("more than ", kMaxFdsPerSlot, " threads");
      ok = false;
      break;
    }
    const int tid = atoi(e->d_name);
    int fd = OpenEvent(tid);
    // ENOSPC: the thread's old copy may still hold its debug register. A
    // copy with a SIGTRAP pending is freed only by the thread's own
    // task work, as it returns to user mode (natively, under a trap storm,
    // TrapAuditTest saw it 2 times in 8): a bounded wait for it.
    for (int retry = 0; fd < 0 && errno == ENOSPC && retry < 50; ++retry) {
      const timespec pause = {0, 200000};
      nanosleep(&pause, nullptr);
      fd = OpenEvent(tid);
    }
    if (fd < 0) {
      if (errno == ESRCH) continue;  // exited meanwhile
      *why = absl::StrCat("perf_event_open on thread ", tid, ": ",
                          strerror(errno));
      ok = false;
      continue;  // the other threads still get theirs
    }
    s.fds[n] = fd;
    s.ids[n] = NotePerfFd(fd);
    ++n;
  }
  closedir(dir);
  s.count.store(n, std::memory_order_release);
  if (n == 0 && ok) {
    *why = "no thread found";
    ok = false;
  }
  return ok;
}

bool CloseLastBreakpoint() {
  LockForThreadCreation();
  struct Unlock {
    ~Unlock() { UnlockForThreadCreation(); }
  } unlock;
  if (g_open_slots <= 1) return false;
  SlotFds& s = g_fds[g_open_slots - 1];
  // Closing the initializing thread's event removes its inherited copies.
  const int n = s.count.load(std::memory_order_relaxed);
  for (int i = 0; i < n; ++i) ClosePerfFd(s.fds[i], s.ids[i]);
  s.count.store(0, std::memory_order_relaxed);
  --g_open_slots;
  g_requested_slots = g_open_slots;  // a fork child opens as many
  return true;
}

void CloseBreakpoints() {
  for (int i = 0; i < g_open_slots; ++i) {
    const int n = g_fds[i].count.load(std::memory_order_relaxed);
    for (int j = 0; j < n; ++j) ClosePerfFd(g_fds[i].fds[j], g_fds[i].ids[j]);
    g_fds[i].count.store(0, std::memory_order_relaxed);
  }
  g_open_slots = 0;
  g_requested_slots = 0;
}

// Taking the lock and naming its writer, or the reverse, happen with SIGTRAP
// blocked: a handler of this thread between the two steps would see the lock
// held but not by itself, and wait for itself. A trap in those instructions
// is delivered when the mask is restored (asynchronous: the kernel flags it,
// and the handler treats it as such).
void LockForThreadCreation() {
  SignalsBlocked blocked(SIGTRAP);
  pthread_rwlock_wrlock(&g_create_lock);
  g_create_writer.store(static_cast<pid_t>(syscall(SYS_gettid)),
                        std::memory_order_release);
}
void UnlockForThreadCreation() {
  SignalsBlocked blocked(SIGTRAP);
  g_create_writer.store(0, std::memory_order_release);
  pthread_rwlock_unlock(&g_create_lock);
}

int ReopenBreakpointsInChild(std::string* why) {
  // Held by the parent's forking thread, whose tid the lock remembers.
  pthread_rwlock_t fresh = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
  g_create_lock = fresh;
  g_create_writer.store(0, std::memory_order_relaxed);
  for (int i = 0; i < g_open_slots; ++i) {
    int n = g_fds[i].count.load(std::memory_order_relaxed);
    for (int j = 0; j < n; ++j) ClosePerfFd(g_fds[i].fds[j], g_fds[i].ids[j]);
    g_fds[i].count.store(0, std::memory_order_relaxed);
  }
  g_open_slots = 0;
  return OpenSlots(g_requested_slots, why);
}

}  // namespace trapsan
