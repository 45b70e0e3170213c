// The recording SIGTRAP handler of the simple checks.
#include <string.h>

#include "tools/kcheck/kcheck.h"

namespace kcheck {

TrapLog g_trap_log;

namespace {
void Record(int, siginfo_t* si, void*) {
  TrapLog& l = g_trap_log;
  long i = __atomic_fetch_add(&l.count, 1, __ATOMIC_SEQ_CST);
  PerfFields f = ReadPerf(si);
  uintptr_t addr = reinterpret_cast<uintptr_t>(si->si_addr);
  if (si->si_code != TRAP_PERF) __atomic_fetch_add(&l.not_perf, 1, __ATOMIC_RELAXED);
  if (f.flags & kPerfFlagAsync) __atomic_fetch_add(&l.async, 1, __ATOMIC_RELAXED);
  if (l.expect_data != 0 && f.data != l.expect_data) {
    __atomic_fetch_add(&l.wrong_data, 1, __ATOMIC_RELAXED);
  }
  if (l.expect_addr != 0 && addr != l.expect_addr) {
    __atomic_fetch_add(&l.wrong_addr, 1, __ATOMIC_RELAXED);
  }
  if (i < kTrapLogSize) {
    TrapRecord& r = l.rec[i];
    r.code = si->si_code;
    r.data = f.data;
    r.type = f.type;
    r.flags = f.flags;
    r.addr = addr;
    r.tid = Tid();
  }
}
}  // namespace

void InstallTrapLog(unsigned long expect_data, uintptr_t expect_addr) {
  memset(&g_trap_log, 0, sizeof(g_trap_log));
  g_trap_log.expect_data = expect_data;
  g_trap_log.expect_addr = expect_addr;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  InstallTrapHandler(Record);
}

long TrapCount() { return __atomic_load_n(&g_trap_log.count, __ATOMIC_SEQ_CST); }

int OpenLoggedBp(const BpSpec& s, Verdict on_failure, Report* r) {
  InstallTrapLog(s.sig_data, reinterpret_cast<uintptr_t>(s.addr));
  int fd = OpenBp(s);
  if (fd < 0) {
    r->Set(on_failure, false, "perf_event_open(breakpoint, sigtrap%s): %s",
           s.inherit ? "" : ", no inherit", strerror(errno));
  }
  return fd;
}

}  // namespace kcheck
