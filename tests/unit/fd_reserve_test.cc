// The descriptor reserve (runtime/linux/fd_reserve.h) with many threads at
// once: the soft RLIMIT_NOFILE is raised while any reserve is in progress
// and the program's limit is back when none is, in the process and in a
// fork child. (Before: each call raised and restored the limit by itself,
// so one thread lowered it under another's F_DUPFD_CLOEXEC, EINVAL, and a
// thread that read the raised limit as the program's "restored" that one:
// the lab guest lost label breakpoints to it, 313841e.)
#include "runtime/linux/fd_reserve.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace trapsan {
namespace {

constexpr rlim_t kSoft = 64;

// The soft limit at kSoft for the test, the hard one kept; false when the
// hard limit leaves no room above it.
class LowSoftLimit {
 public:
  bool Set() {
    if (getrlimit(RLIMIT_NOFILE, &saved_) != 0) return false;
    if (saved_.rlim_max != RLIM_INFINITY && saved_.rlim_max < kSoft + 256)
      return false;
    rlimit low = {kSoft, saved_.rlim_max};
    set_ = setrlimit(RLIMIT_NOFILE, &low) == 0;
    return set_;
  }
  ~LowSoftLimit() {
    if (set_) setrlimit(RLIMIT_NOFILE, &saved_);
  }

 private:
  rlimit saved_{};
  bool set_ = false;
};

int OpenDevNull(void*) { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

struct Tally {
  std::atomic<int> failed{0};
  std::atomic<int> low{0};  // at a number the program could have had
  std::atomic<int> last_errno{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};

  void Check(int fd) {
    if (fd < 0) {
      ++failed;
      last_errno = errno;
    } else {
      if (fd < static_cast<int>(kSoft)) ++low;
      close(fd);
    }
  }
};

// Each thread, started together with the others, takes `rounds` descriptors
// of the reserve (three ways) and closes them; rounds < 0: until tally.stop,
// with a pause of 20 us after each (the forking thread and its children get
// the CPU; a reserve is still in progress at many of the forks).
void Churn(Tally* tally, int rounds) {
  ++tally->ready;
  while (!tally->go.load()) std::this_thread::yield();
  for (int i = 0; rounds < 0 ? !tally->stop.load() : i < rounds; ++i) {
    if (rounds < 0) usleep(20);
    switch (i % 3) {
      case 0:
        tally->Check(ReserveFd(open("/dev/null", O_RDONLY | O_CLOEXEC)));
        break;
      case 1:
        tally->Check(ReserveOpen(OpenDevNull, nullptr));
        break;
      case 2: {
        int fds[2];
        if (!ReservePipe(fds)) {
          tally->Check(-1);
        } else {
          tally->Check(fds[0]);
          tally->Check(fds[1]);
        }
        break;
      }
    }
  }
}

rlimit Now() {
  rlimit l{};
  getrlimit(RLIMIT_NOFILE, &l);
  return l;
}

TEST(FdReserveTest, ManyThreadsAtOnceKeepTheProgramsNumbersAndLimit) {
  LowSoftLimit limit;
  if (!limit.Set()) GTEST_SKIP() << "the hard RLIMIT_NOFILE leaves no reserve";
  const rlim_t hard = Now().rlim_max;
  Tally tally;
  std::vector<std::thread> threads;
  constexpr int kThreads = 32;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(Churn, &tally, 600);
  while (tally.ready.load() < kThreads) std::this_thread::yield();
  tally.go = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(tally.failed.load(), 0) << strerror(tally.last_errno.load());
  EXPECT_EQ(tally.low.load(), 0);
  // The program's limit, not a raised one left behind.
  EXPECT_EQ(Now().rlim_cur, kSoft);
  EXPECT_EQ(Now().rlim_max, hard);
}

// fork() while other threads are in the reserve: the child starts with the
// program's limit, not the raised one, and can use the reserve itself.
TEST(FdReserveTest, ForkChildGetsTheProgramsLimit) {
  LowSoftLimit limit;
  if (!limit.Set()) GTEST_SKIP() << "the hard RLIMIT_NOFILE leaves no reserve";
  Tally tally;
  std::vector<std::thread> threads;
  constexpr int kThreads = 4;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(Churn, &tally, -1);
  while (tally.ready.load() < kThreads) std::this_thread::yield();
  tally.go = true;
  int bad_limit = 0, bad_reserve = 0, other = 0;
  for (int i = 0; i < 100; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      rlimit l;
      if (getrlimit(RLIMIT_NOFILE, &l) != 0 || l.rlim_cur != kSoft) _exit(1);
      const int fd = ReserveOpen(OpenDevNull, nullptr);
      if (fd < static_cast<int>(kSoft)) _exit(2);
      if (getrlimit(RLIMIT_NOFILE, &l) != 0 || l.rlim_cur != kSoft) _exit(1);
      _exit(0);
    }
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 100;
    bad_limit += code == 1;
    bad_reserve += code == 2;
    other += code != 0 && code != 1 && code != 2;
  }
  tally.stop = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(bad_limit, 0) << "children that started with a raised limit";
  EXPECT_EQ(bad_reserve, 0);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(tally.failed.load(), 0) << strerror(tally.last_errno.load());
  EXPECT_EQ(tally.low.load(), 0);
  EXPECT_EQ(Now().rlim_cur, kSoft);
}

}  // namespace
}  // namespace trapsan
