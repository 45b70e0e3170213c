#include "fd_reserve.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace trapsan {
namespace {

// How far above the program's soft limit the reserve may go.
constexpr rlim_t kAboveFds = 4096;

// The program's RLIMIT_NOFILE, raised above its soft limit for the lifetime
// of this object when the hard limit allows (and restored after).
class Reserve {
 public:
  Reserve() {
    if (getrlimit(RLIMIT_NOFILE, &program_) != 0) {
      program_.rlim_cur = program_.rlim_max = 0;
      return;
    }
    if (program_.rlim_cur == RLIM_INFINITY) return;
    if (program_.rlim_max > program_.rlim_cur) {
      rlimit raised = program_;
      raised.rlim_cur = program_.rlim_max - program_.rlim_cur > kAboveFds
                            ? program_.rlim_cur + kAboveFds
                            : program_.rlim_max;
      raised_ = setrlimit(RLIMIT_NOFILE, &raised) == 0;
    }
  }
  ~Reserve() {
    if (raised_) {
      const int saved = errno;
      setrlimit(RLIMIT_NOFILE, &program_);
      errno = saved;
    }
  }

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
  rlimit program_{};
  bool raised_ = false;
};

}  // namespace

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

}  // namespace trapsan
