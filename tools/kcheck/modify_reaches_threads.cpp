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
std::atomic<long> g_round{-1};
std::atomic<int> g_turn{0};
volatile uint64_t* g_watched;
volatile uint64_t* g_other;
unsigned long g_sig;

struct Tally {
  long checks = 0, trapped_once = 0, right_fields = 0, other_trapped = 0;
};

void Thread(int me, int n, long rounds, Tally* t) {
  pid_t tid = Tid();
  for (long round = 0; round < rounds; ++round) {
    while (g_round.load() != round || g_turn.load() != me) sched_yield();
    long before = TrapCount();
    *g_other = round;
    long mid = TrapCount();
    *g_watched = round;
    long after = TrapCount();
    ++t->checks;
    if (mid != before) ++t->other_trapped;
    if (after == mid + 1) {
      ++t->trapped_once;
      if (mid < kTrapLogSize) {
        const TrapRecord& rec = g_trap_log.rec[mid];
        if (rec.tid == tid && rec.data == g_sig &&
            rec.addr == reinterpret_cast<uintptr_t>(g_watched)) {
          ++t->right_fields;
        }
      }
    }
    g_turn.store(me + 1 < n ? me + 1 : n);  // n: round done
  }
}

}  // namespace

void CheckModifyReachesThreads(const Options& o, Report* r) {
  InstallTrapLog();
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
  const long rounds = o.quick ? 300 : 1500;
  std::vector<Tally> tallies(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back(Thread, i, kThreads, rounds, &tallies[i]);
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
    g_turn.store(0);
    g_round.store(round);
    while (g_turn.load() != kThreads) sched_yield();
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
  long checked = t.checks < kTrapLogSize ? t.checks : kTrapLogSize;
  r->Num("threads", kThreads);
  r->Num("modifies", rounds);
  r->Num("modify_errors", modify_errors);
  r->Num("checks", t.checks);
  r->Num("new_address_trapped", t.trapped_once);
  r->Num("new_sig_data_and_addr_in_right_thread", t.right_fields);
  r->Num("old_address_trapped", t.other_trapped);
  // The log holds the first kTrapLogSize traps; beyond, counts only.
  bool ok = modify_errors == 0 && t.trapped_once == t.checks &&
            t.other_trapped == 0 && t.right_fields >= checked - 0 &&
            TrapCount() == t.checks;
  r->Set(ok ? kPass : kFail, ok,
         "%ld modifies x %d existing threads: new address trapped %ld/%ld, "
         "with the new sig_data in the right thread %ld/%ld, old address "
         "trapped %ld, modify errors %ld",
         rounds, kThreads, t.trapped_once, t.checks, t.right_fields, checked,
         t.other_trapped, modify_errors);
}

}  // namespace kcheck
