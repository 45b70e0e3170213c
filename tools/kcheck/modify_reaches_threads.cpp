// Property 4, modify_reaches_threads: PERF_EVENT_IOC_MODIFY_ATTRIBUTES on the
// opened descriptor changes the watched address, the type and sig_data in
// every thread that already inherited the event (trapsan re-arms all threads
// with one ioctl). Rounds alternate the address between two variables and
// give each round a new sig_data; some rounds disable the event first.
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tools/kcheck/kcheck.h"

namespace kcheck {
namespace {

alignas(64) volatile uint64_t g_a;
alignas(64) volatile uint64_t g_b;
alignas(64) int g_round = -1;  // futex: the round the threads may run
alignas(64) int g_done = 0;     // futex: threads done with the round
volatile uint64_t* volatile g_watched;
volatile uint64_t* volatile g_other;
volatile unsigned long g_sig;

// What the handler saw, per thread (the threads write concurrently).
__thread volatile long t_traps __attribute__((tls_model("initial-exec")));
__thread volatile unsigned long t_data __attribute__((tls_model("initial-exec")));
__thread volatile uintptr_t t_addr __attribute__((tls_model("initial-exec")));
__thread volatile int t_code __attribute__((tls_model("initial-exec")));

void Handler(int, siginfo_t* si, void*) {
  t_traps = t_traps + 1;
  t_data = ReadPerf(si).data;
  t_addr = reinterpret_cast<uintptr_t>(si->si_addr);
  t_code = si->si_code;
}

struct Tally {
  long checks = 0, trapped_once = 0, right_fields = 0, other_trapped = 0;
};

void Thread(long rounds, Tally* t) {
  for (long round = 0; round < rounds; ++round) {
    WaitUntil(&g_round, static_cast<int>(round));
    long before = t_traps;
    *g_other = round;
    long mid = t_traps;
    *g_watched = round;
    long after = t_traps;
    ++t->checks;
    if (mid != before) ++t->other_trapped;
    if (after == mid + 1) {
      ++t->trapped_once;
      if (t_data == g_sig && t_code == TRAP_PERF &&
          t_addr == reinterpret_cast<uintptr_t>(g_watched)) {
        ++t->right_fields;
      }
    }
    __atomic_add_fetch(&g_done, 1, __ATOMIC_SEQ_CST);
    FutexWakeAll(&g_done);
  }
}

}  // namespace

void CheckModifyReachesThreads(const Options& o, Report* r) {
  InstallTrapHandler(Handler);
  BpSpec s;
  s.addr = &g_a;
  s.sig_data = 0x6b63686b04000000ul;
  s.disabled = true;
  int fd = OpenBp(s);
  if (fd < 0) {
    r->Set(kFail, false, "perf_event_open: %s", strerror(errno));
    return;
  }
  const int kThreads = 4;
  const long rounds = o.quick ? 200 : 1500;
  std::vector<Tally> tallies(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back(Thread, rounds, &tallies[i]);
  }
  SleepSeconds(0.001);  // let them all start and wait
  long modify_errors = 0;
  for (long round = 0; round < rounds; ++round) {
    bool b = round % 2;
    g_watched = b ? &g_b : &g_a;
    g_other = b ? &g_a : &g_b;
    g_sig = 0x6b63686b04000000ul + static_cast<unsigned long>(round) + 1;
    s.addr = g_watched;
    s.sig_data = g_sig;
    s.rw = round % 4 >= 2;
    s.disabled = false;
    if (round % 3 == 0) DisableBp(fd);
    if (ModifyBp(fd, s) != 0) ++modify_errors;
    __atomic_store_n(&g_done, 0, __ATOMIC_SEQ_CST);
    StoreAndWake(&g_round, static_cast<int>(round));
    WaitUntil(&g_done, kThreads);
  }
  for (auto& t : threads) t.join();
  close(fd);

  Tally t;
  for (const Tally& x : tallies) {
    t.checks += x.checks;
    t.trapped_once += x.trapped_once;
    t.right_fields += x.right_fields;
    t.other_trapped += x.other_trapped;
  }
  r->Num("threads", kThreads);
  r->Num("modifies", rounds);
  r->Num("modify_errors", modify_errors);
  r->Num("checks", t.checks);
  r->Num("new_address_trapped", t.trapped_once);
  r->Num("new_sig_data_and_addr_in_right_thread", t.right_fields);
  r->Num("old_address_trapped", t.other_trapped);
  bool ok = modify_errors == 0 && t.trapped_once == t.checks &&
            t.other_trapped == 0 && t.right_fields == t.checks;
  r->Set(ok ? kPass : kFail, ok,
         "%ld modifies x %d existing threads: new address trapped %ld/%ld, "
         "with the new sig_data in the right thread %ld/%ld, old address "
         "trapped %ld, modify errors %ld",
         rounds, kThreads, t.trapped_once, t.checks, t.right_fields, t.checks,
         t.other_trapped, modify_errors);
}

}  // namespace kcheck
