#include "fd_reserve.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "signals_blocked.h"

namespace trapsan {
namespace {

// How far above the program's soft limit the reserve may go.
constexpr rlim_t kAboveFds = 4096;

// The raise is shared by every reserve in progress: the first one raises
// the soft limit, the last one puts the program's back. (A raise and restore
// per call let one thread lower the limit under another's F_DUPFD_CLOEXEC:
// EINVAL, seen in the lab guest with many threads opening label events.)
// All of it under g_mu, taken with every signal blocked: no signal handler
// runs in a thread that holds it or has a reserve in progress, and neither
// a signal handler's longjmp nor cancellation can leave the count raised.
// Never held while the program's code runs.
pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
int g_users = 0;           // reserves in progress
rlimit g_program{};        // the program's limit, read by the first of them
rlimit g_raised{};         // what it was raised to...
bool g_is_raised = false;  // ...if it was
// Threads in fork()'s prepare handler: new reserves wait for them (a thread
// reserving in a loop would otherwise keep a fork waiting for the lock).
std::atomic<int> g_forks_waiting{0};

bool SameLimit(const rlimit& a, const rlimit& b) {
  return a.rlim_cur == b.rlim_cur && a.rlim_max == b.rlim_max;
}

// Puts the program's limit back, unless the program set one of its own
// meanwhile (then that one stays). Under g_mu.
void RestoreLocked() {
  if (!g_is_raised) return;
  g_is_raised = false;
  rlimit now;
  if (getrlimit(RLIMIT_NOFILE, &now) == 0 && SameLimit(now, g_raised))
    setrlimit(RLIMIT_NOFILE, &g_program);
}

// One reserve in progress: the program's RLIMIT_NOFILE, raised above its
// soft limit while any reserve is in progress when the hard limit allows.
class Reserve {
 public:
  Reserve() {
    const int e = errno;
    while (g_forks_waiting.load(std::memory_order_acquire) != 0) sched_yield();
    pthread_mutex_lock(&g_mu);
    if (g_users++ == 0) {
      g_is_raised = false;
      if (getrlimit(RLIMIT_NOFILE, &g_program) != 0) {
        g_program.rlim_cur = g_program.rlim_max = 0;
      } else if (g_program.rlim_cur != RLIM_INFINITY &&
                 g_program.rlim_max > g_program.rlim_cur) {
        g_raised = g_program;
        g_raised.rlim_cur =
            g_program.rlim_max - g_program.rlim_cur > kAboveFds
                ? g_program.rlim_cur + kAboveFds
                : g_program.rlim_max;
        g_is_raised = setrlimit(RLIMIT_NOFILE, &g_raised) == 0;
      }
    }
    program_ = g_program;
    raised_ = g_is_raised;
    pthread_mutex_unlock(&g_mu);
    errno = e;
  }
  ~Reserve() {
    const int e = errno;
    pthread_mutex_lock(&g_mu);
    if (--g_users == 0) RestoreLocked();
    pthread_mutex_unlock(&g_mu);
    errno = e;
  }
  Reserve(const Reserve&) = delete;
  Reserve& operator=(const Reserve&) = delete;

  // The lowest number of the reserve, or -1 if there is none.
  long Base() const {
    if (raised_) return static_cast<long>(program_.rlim_cur);
    if (program_.rlim_cur != RLIM_INFINITY &&
        program_.rlim_cur >= kTopReserveMin) {
      return static_cast<long>(program_.rlim_cur - program_.rlim_cur / 4);
    }
    return -1;
  }

  int Place(int fd) const {
    if (fd < 0) return -1;
    const long base = Base();
    if (base < 0) {
      close(fd);
      errno = EMFILE;
      return -1;
    }
    if (fd >= base) {  // already there (created while the limit was raised)
      fcntl(fd, F_SETFD, FD_CLOEXEC);
      return fd;
    }
    const int moved = fcntl(fd, F_DUPFD_CLOEXEC, base);
    const int saved = errno;
    close(fd);
    errno = saved;
    return moved;
  }

  const rlimit& program() const { return program_; }

 private:
  // (Declared first: signals stay blocked until the count is back down.)
  SignalsBlocked blocked_;
  rlimit program_{};
  bool raised_ = false;
};

}  // namespace

int ReserveOpen(int (*open_fn)(void*), void* arg) {
  Reserve reserve;
  return reserve.Place(open_fn(arg));
}

int ReserveFd(int fd) {
  if (fd < 0) return -1;
  Reserve reserve;
  return reserve.Place(fd);
}

bool ReservePipe(int fds[2]) {
  Reserve reserve;
  if (reserve.Base() < 0) {
    errno = EMFILE;
    return false;
  }
  int raw[2];
  if (pipe2(raw, O_CLOEXEC) != 0) return false;
  fds[0] = reserve.Place(raw[0]);
  const int saved = errno;
  fds[1] = reserve.Place(raw[1]);
  if (fds[0] < 0 || fds[1] < 0) {
    const int e = fds[0] < 0 ? saved : errno;
    if (fds[0] >= 0) close(fds[0]);
    if (fds[1] >= 0) close(fds[1]);
    errno = e;
    return false;
  }
  return true;
}

bool HaveFdReserve(std::string* why) {
  Reserve reserve;
  if (reserve.Base() >= 0) return true;
  const rlimit& l = reserve.program();
  *why = absl::StrCat("RLIMIT_NOFILE is ", l.rlim_cur, " (hard limit ",
                      l.rlim_max, "): no descriptor number outside the "
                      "program's is free for trapsan's own");
  return false;
}

// fork() while another thread has a reserve in progress: the parent's state
// (lock, count, raised limit) is consistent while the forking thread holds
// g_mu, and the child, where that thread does not live on, gets the
// program's limit back.
namespace {
thread_local sigset_t t_fork_mask;
}  // namespace

void LockFdReserveForFork() {
  sigset_t all;
  sigfillset(&all);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &t_fork_mask, 8);
  g_forks_waiting.fetch_add(1, std::memory_order_acq_rel);
  pthread_mutex_lock(&g_mu);
}

void UnlockFdReserveAfterFork() {
  g_forks_waiting.fetch_sub(1, std::memory_order_acq_rel);
  pthread_mutex_unlock(&g_mu);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &t_fork_mask, nullptr, 8);
}

namespace {

// KeptProcMemFd's state: the descriptor (kMemNone: not opened yet,
// kMemUnavailable: could not be), the process it belongs to and the file's
// identity, published in that order (g_mem_fd last, release).
constexpr int kMemNone = -1;
constexpr int kMemUnavailable = -2;
std::atomic<int> g_mem_fd{kMemNone};
std::atomic<pid_t> g_mem_pid{0};
std::atomic<uint64_t> g_mem_dev{0}, g_mem_ino{0};
std::atomic<bool> g_mem_opening{false};

int OpenProcMem(void*) {
  return open("/proc/thread-self/mem", O_RDWR | O_CLOEXEC);
}

}  // namespace

int KeptProcMemFd() {
  const pid_t pid = static_cast<pid_t>(syscall(SYS_getpid));
  int fd = g_mem_fd.load(std::memory_order_acquire);
  if (fd == kMemNone) {
    // One thread opens it; another writing meanwhile does without.
    if (g_mem_opening.exchange(true, std::memory_order_acquire)) return -1;
    fd = g_mem_fd.load(std::memory_order_acquire);
    if (fd == kMemNone) {
      fd = ReserveOpen(OpenProcMem, nullptr);
      struct stat st;
      if (fd >= 0 && fstat(fd, &st) == 0) {
        g_mem_pid.store(pid, std::memory_order_relaxed);
        g_mem_dev.store(st.st_dev, std::memory_order_relaxed);
        g_mem_ino.store(st.st_ino, std::memory_order_relaxed);
        g_mem_fd.store(fd, std::memory_order_release);
      } else {
        if (fd >= 0) close(fd);
        fd = kMemUnavailable;
        g_mem_fd.store(fd, std::memory_order_release);
      }
    }
    g_mem_opening.store(false, std::memory_order_release);
  }
  if (fd < 0 || g_mem_pid.load(std::memory_order_relaxed) != pid) return -1;
  // Still the file trapsan opened (a program may close every descriptor
  // and get this number again, after raising its limit).
  struct stat st;
  if (fstat(fd, &st) != 0 ||
      st.st_dev != g_mem_dev.load(std::memory_order_relaxed) ||
      st.st_ino != g_mem_ino.load(std::memory_order_relaxed)) {
    // Gone: opened again at the next call (never closed here: the number
    // is the program's now).
    int expected = fd;
    g_mem_fd.compare_exchange_strong(expected, kMemNone,
                                     std::memory_order_acq_rel);
    return -1;
  }
  return fd;
}

void ResetFdReserveInChild() {
  // The parent's memory: close the child's copy (one thread, before any of
  // the program's code runs in the child).
  const int mem = g_mem_fd.load(std::memory_order_relaxed);
  if (mem >= 0) {
    struct stat st;
    if (fstat(mem, &st) == 0 &&
        st.st_dev == g_mem_dev.load(std::memory_order_relaxed) &&
        st.st_ino == g_mem_ino.load(std::memory_order_relaxed)) {
      close(mem);
    }
  }
  g_mem_fd.store(kMemNone, std::memory_order_relaxed);
  g_mem_opening.store(false, std::memory_order_relaxed);
  RestoreLocked();
  g_users = 0;
  g_forks_waiting.store(0, std::memory_order_relaxed);
  pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
  g_mu = fresh;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &t_fork_mask, nullptr, 8);
}

}  // namespace trapsan
