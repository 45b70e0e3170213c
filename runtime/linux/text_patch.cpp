#include "text_patch.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "fd_reserve.h"
#include "signals_blocked.h"

namespace trapsan {
namespace {

std::atomic<int> g_writer{static_cast<int>(TextWriter::kNone)};
std::atomic<bool> g_lock{false};

bool WriteByProcMem(uintptr_t pc, uint8_t value) {
  // The kept descriptor, in the reserve (issue 10, defect 5: opened here
  // for each write, it took the program's lowest free number for a moment).
  const int kept = KeptProcMemFd();
  if (kept >= 0) {
    return pwrite(kept, &value, 1, static_cast<off_t>(pc)) == 1;
  }
  const int fd = open("/proc/thread-self/mem", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = pwrite(fd, &value, 1, static_cast<off_t>(pc));
  const int error = errno;
  close(fd);
  errno = error;
  return n == 1;
}

bool WriteByMprotect(uintptr_t pc, uint8_t value, int prot) {
  static const long page_size = sysconf(_SC_PAGESIZE);
  void* page = reinterpret_cast<void*>(
      pc & ~static_cast<uintptr_t>(page_size - 1));
  SignalsBlocked blocked;
  while (g_lock.exchange(true, std::memory_order_acquire)) sched_yield();
  bool ok = mprotect(page, static_cast<size_t>(page_size),
                     PROT_READ | PROT_WRITE | PROT_EXEC) == 0;
  const int error = errno;
  if (ok) {
    // One byte at an instruction's start: another CPU runs either the old
    // or the new instruction, both meaning what they should.
    __atomic_store_n(reinterpret_cast<uint8_t*>(pc), value, __ATOMIC_SEQ_CST);
    mprotect(page, static_cast<size_t>(page_size), prot);
  }
  g_lock.store(false, std::memory_order_release);
  errno = error;
  return ok;
}

bool Write(TextWriter w, uintptr_t pc, uint8_t value, int prot) {
  switch (w) {
    case TextWriter::kProcMem: return WriteByProcMem(pc, value);
    case TextWriter::kMprotect: return WriteByMprotect(pc, value, prot);
    case TextWriter::kNone: return false;
  }
  return false;
}

}  // namespace

TextWriter ChooseTextWriter(uintptr_t pc, int prot, std::string* why) {
  const uint8_t byte = *reinterpret_cast<volatile uint8_t*>(pc);
  TextWriter chosen = TextWriter::kNone;
  // TRAPSAN_TESTONLY_TEXT_WRITER=mprotect: as where /proc/thread-self/mem
  // refuses forced writes (for tests).
  const char* hook = getenv("TRAPSAN_TESTONLY_TEXT_WRITER");
  const bool skip_proc = hook != nullptr && strcmp(hook, "mprotect") == 0;
  if (!skip_proc && WriteByProcMem(pc, byte)) {
    chosen = TextWriter::kProcMem;
  } else {
    const int proc_error = errno;
    if (WriteByMprotect(pc, byte, prot)) {
      chosen = TextWriter::kMprotect;
    } else {
      *why = absl::StrCat("cannot write text: /proc/thread-self/mem: ",
                          strerror(proc_error), "; mprotect: ",
                          strerror(errno));
    }
  }
  g_writer.store(static_cast<int>(chosen), std::memory_order_release);
  return chosen;
}

const char* TextWriterName(TextWriter w) {
  switch (w) {
    case TextWriter::kProcMem: return "/proc/thread-self/mem";
    case TextWriter::kMprotect: return "mprotect";
    case TextWriter::kNone: return "none";
  }
  return "?";
}

bool PatchTextByte(uintptr_t pc, uint8_t expect, uint8_t value, int prot) {
  if (*reinterpret_cast<volatile uint8_t*>(pc) != expect) return false;
  return Write(static_cast<TextWriter>(g_writer.load(std::memory_order_acquire)),
               pc, value, prot);
}

void ResetTextPatchInChild() { g_lock.store(false, std::memory_order_relaxed); }

}  // namespace trapsan
