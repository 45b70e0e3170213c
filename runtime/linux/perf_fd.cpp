#include "perf_fd.h"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

namespace trapsan {
namespace {

// The anonymous inode of perf event fds, from the first one opened.
std::atomic<uint64_t> g_perf_dev{0}, g_perf_ino{0};

}  // namespace

uint64_t NotePerfFd(int fd) {
  struct stat st;
  if (fstat(fd, &st) == 0 && g_perf_ino.load(std::memory_order_acquire) == 0) {
    g_perf_dev.store(st.st_dev, std::memory_order_relaxed);
    g_perf_ino.store(st.st_ino, std::memory_order_release);
  }
  uint64_t id = 0;
  if (ioctl(fd, PERF_EVENT_IOC_ID, &id) != 0) id = 0;
  return id;
}

bool OwnsPerfFd(int fd, uint64_t id) {
  if (fd < 0) return false;
  struct stat st;
  const uint64_t ino = g_perf_ino.load(std::memory_order_acquire);
  if (ino == 0 || fstat(fd, &st) != 0 || st.st_ino != ino ||
      st.st_dev != g_perf_dev.load(std::memory_order_relaxed) ||
      S_ISREG(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ||
      S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISDIR(st.st_mode))
    return false;
  if (id == 0) return true;
  uint64_t now = 0;
  return ioctl(fd, PERF_EVENT_IOC_ID, &now) == 0 && now == id;
}

void ClosePerfFd(int fd, uint64_t id) {
  if (OwnsPerfFd(fd, id)) close(fd);
}

}  // namespace trapsan
