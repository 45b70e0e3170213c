// Property 11, exec_breakpoint: a thread's own execution breakpoint
// (HW_BREAKPOINT_X, sigtrap, not inherited), as trapsan's label sites use it
// (runtime/linux/labels.cpp): executing the address traps once, before the
// instruction runs (the interrupted RIP is the address), in that thread, with
// its sig_data; after PERF_EVENT_IOC_DISABLE (done in the handler) it stays
// quiet; MODIFY_ATTRIBUTES moves it (and enables it); another thread running
// the same code does not trap.
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>

#include "tools/kcheck/kcheck.h"

extern "C" char kcheck_label_a[], kcheck_label_b[];

namespace kcheck {
namespace {

__attribute__((noinline)) void RunA() {
  asm volatile(".globl kcheck_label_a\nkcheck_label_a: nop" ::: "memory");
}
__attribute__((noinline)) void RunB() {
  asm volatile(".globl kcheck_label_b\nkcheck_label_b: nop" ::: "memory");
}

constexpr unsigned long kSig = 0x6b63686b0b000000ul;
int g_fd = -1;
std::atomic<long> g_traps{0}, g_wrong_rip{0}, g_wrong_tid{0}, g_wrong_data{0},
    g_not_perf{0};
uintptr_t g_expect_rip;
pid_t g_expect_tid;

void OnTrap(int, siginfo_t* si, void* uc) {
  int saved = errno;
  g_traps.fetch_add(1);
  PerfFields f = ReadPerf(si);
  if (si->si_code != TRAP_PERF || f.type != kPerfTypeBreakpoint) g_not_perf++;
  if (f.data != kSig) g_wrong_data++;
  const uintptr_t rip = static_cast<uintptr_t>(
      static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RIP]);
  if (rip != g_expect_rip) g_wrong_rip++;
  if (Tid() != g_expect_tid) g_wrong_tid++;
  ioctl(g_fd, PERF_EVENT_IOC_DISABLE, 0);
  errno = saved;
}

void* OtherThread(void*) {
  RunB();
  RunA();
  return nullptr;
}

}  // namespace

void CheckExecBreakpoint(const Options& o, Report* r) {
  InstallTrapHandler(OnTrap);
  g_expect_tid = Tid();
  BpSpec s;
  s.exec = true;
  s.inherit = false;
  s.sig_data = kSig;
  s.addr = kcheck_label_a;
  g_expect_rip = reinterpret_cast<uintptr_t>(kcheck_label_a);
  g_fd = OpenBp(s);
  if (g_fd < 0) {
    r->Set(errno == ENOSPC ? kFail : kSkip, false,
           "perf_event_open(HW_BREAKPOINT_X, sigtrap): %s", strerror(errno));
    return;
  }
  const int rounds = o.quick ? 300 : 3000;
  long missing = 0, extra = 0, other_thread = 0, after_disable = 0;
  for (int i = 0; i < rounds; ++i) {
    const bool on_a = i % 2 == 0;
    s.addr = on_a ? kcheck_label_a : kcheck_label_b;
    g_expect_rip = reinterpret_cast<uintptr_t>(s.addr);
    if (i > 0 && ModifyBp(g_fd, s) != 0) {
      r->Set(kFail, false, "MODIFY_ATTRIBUTES failed in round %d: %s", i,
             strerror(errno));
      close(g_fd);
      return;
    }
    long before = g_traps.load();
    if (i % 16 == 1) {  // another thread runs both: no trap
      pthread_t t;
      pthread_create(&t, nullptr, OtherThread, nullptr);
      pthread_join(t, nullptr);
      other_thread += g_traps.load() - before;
      before = g_traps.load();
    }
    if (on_a) RunB(); else RunA();  // the other label: no trap
    if (on_a) RunA(); else RunB();  // this one: one trap
    const long got = g_traps.load() - before;
    if (got == 0) ++missing;
    if (got > 1) extra += got - 1;
    before = g_traps.load();
    if (on_a) RunA(); else RunB();  // disabled by the handler: none
    after_disable += g_traps.load() - before;
  }
  close(g_fd);
  r->Num("rounds", rounds);
  r->Num("missing", missing);
  r->Num("extra", extra);
  r->Num("in_other_thread", other_thread);
  r->Num("after_disable", after_disable);
  r->Num("wrong_rip", g_wrong_rip.load());
  r->Num("wrong_tid", g_wrong_tid.load());
  r->Num("wrong_sig_data", g_wrong_data.load());
  r->Num("not_trap_perf", g_not_perf.load());
  const bool ok = missing == 0 && extra == 0 && other_thread == 0 &&
                  after_disable == 0 && g_wrong_rip == 0 && g_wrong_tid == 0 &&
                  g_wrong_data == 0 && g_not_perf == 0;
  r->Set(ok ? kPass : kFail, ok,
         "rounds %d (re-armed by MODIFY_ATTRIBUTES, alternating 2 labels): "
         "missing %ld, extra %ld, traps in another thread %ld, after "
         "DISABLE %ld, wrong RIP %ld, wrong thread %ld, wrong sig_data %ld",
         rounds, missing, extra, other_thread, after_disable,
         g_wrong_rip.load(), g_wrong_tid.load(), g_wrong_data.load());
}

}  // namespace kcheck
