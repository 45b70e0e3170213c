// Property 3, remove_on_exec: the event does not survive exec. A child opens
// an enabled sigtrap breakpoint on a page mapped at a fixed address, with a
// file descriptor that stays open across exec (no O_CLOEXEC: closing the last
// descriptor would remove the event by itself), checks that it traps, and
// execs this program; the new image maps the same address and writes it. If
// the event survived, the write kills the new image with SIGTRAP.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "tools/kcheck/kcheck.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

namespace kcheck {
namespace {

constexpr uintptr_t kFixedAddr = 0x3ec000000000ul;

enum ChildExit {
  kOk = 0,
  kMapFailed = 10,
  kOpenFailed = 11,
  kNoTrapBeforeExec = 12,
  kExecFailed = 13,
};

void* MapFixed() {
  void* p = mmap(reinterpret_cast<void*>(kFixedAddr), 4096,
                 PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED || p != reinterpret_cast<void*>(kFixedAddr)) {
    return nullptr;
  }
  return p;
}

int OpenAndExec(void*) {
  void* page = MapFixed();
  if (page == nullptr) return kMapFailed;
  volatile uint64_t* spot = static_cast<volatile uint64_t*>(page);
  InstallTrapLog(0, kFixedAddr);
  BpSpec s;
  s.addr = spot;
  s.sig_data = 3;
  s.cloexec = false;
  int fd = OpenBp(s);
  if (fd < 0) return kOpenFailed;
  *spot = 1;
  if (TrapCount() != 1) return kNoTrapBeforeExec;
  InstallTrapHandler(nullptr);  // SIG_DFL: a surviving event kills
  char addr[32], fdstr[16];
  snprintf(addr, sizeof(addr), "%lx", static_cast<unsigned long>(kFixedAddr));
  snprintf(fdstr, sizeof(fdstr), "%d", fd);
  char name[] = "trapsan-kcheck";
  char internal[] = "--kcheck-internal";
  char mode[] = "remove_on_exec";
  char* argv[] = {name, internal, mode, addr, fdstr, nullptr};
  execv("/proc/self/exe", argv);
  return kExecFailed;
}

}  // namespace

// The new image: write the address the old image watched.
int RemoveOnExecNewImage(int argc, char** argv) {
  if (argc < 5) return 2;
  if (strtoul(argv[3], nullptr, 16) != kFixedAddr) return 2;
  void* page = MapFixed();
  if (page == nullptr) return kMapFailed;
  volatile uint64_t* spot = static_cast<volatile uint64_t*>(page);
  for (int i = 0; i < 10; ++i) *spot = i;
  // Still here: the watchpoint is gone. (The descriptor itself is inherited,
  // since it was not O_CLOEXEC; that is fine.)
  return kOk;
}

void CheckRemoveOnExec(const Options& o, Report* r) {
  // sigtrap without remove_on_exec must be refused (INFO).
  static volatile uint64_t spot;
  BpSpec s;
  s.addr = &spot;
  s.remove_on_exec = false;
  s.disabled = true;
  int fd = OpenBp(s);
  int einval = fd < 0 && errno == EINVAL;
  if (fd >= 0) close(fd);

  int runs = o.quick ? 2 : 10;
  int survived = 0, passed = 0, other = 0;
  std::string last;
  for (int i = 0; i < runs; ++i) {
    ChildStatus st = RunInChild(OpenAndExec, nullptr, 5);
    if (st.exited && st.exit_code == kOk) {
      ++passed;
    } else if (!st.exited && st.signal == SIGTRAP) {
      ++survived;
      last = st.Describe();
    } else {
      ++other;
      last = st.Describe();
      if (st.exited) {
        switch (st.exit_code) {
          case kMapFailed: last += " (mmap of the fixed page failed)"; break;
          case kOpenFailed: last += " (perf_event_open failed)"; break;
          case kNoTrapBeforeExec: last += " (no trap before exec)"; break;
          case kExecFailed: last += " (exec failed)"; break;
        }
      }
    }
  }
  r->Num("execs", runs);
  r->Num("new_image_unharmed", passed);
  r->Num("new_image_killed_by_sigtrap", survived);
  r->Num("other_failures", other);
  r->Num("sigtrap_without_remove_on_exec_einval", einval);
  bool ok = passed == runs;
  r->Set(ok ? kPass : kFail, ok,
         "execs %d: new image wrote the watched address unharmed %d, killed "
         "by SIGTRAP %d, other failures %d%s%s; sigtrap without "
         "remove_on_exec %s",
         runs, passed, survived, other, last.empty() ? "" : ", last: ",
         last.c_str(),
         einval ? "refused (EINVAL) as expected" : "NOT refused with EINVAL");
}

}  // namespace kcheck
