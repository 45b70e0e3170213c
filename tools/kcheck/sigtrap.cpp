// Property 1, sigtrap: a write to a watched address sends SIGTRAP with
// si_code TRAP_PERF, si_perf_type PERF_TYPE_BREAKPOINT, si_perf_data = the
// event's sig_data and si_addr = the watched address, synchronously, to the
// thread that wrote. The event is opened the way trapsan opens it (inherit,
// inherit_thread, remove_on_exec) before the other writers exist.
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

alignas(64) volatile uint64_t g_spot;
int g_turn = 0;  // futex: whose turn, modulo the number of writers

struct Tally {
  long writes = 0, synchronous = 0, fields_ok = 0, right_thread = 0;
};

// Writer `me` of `n` takes its turns: one write per turn, with the trap count
// read right before and after it (the handler runs in between).
void Writer(int me, int n, long rounds, Tally* t) {
  pid_t tid = Tid();
  for (long r = 0; r < rounds; ++r) {
    WaitUntil(&g_turn, static_cast<int>(r * n + me));
    long before = TrapCount();
    g_spot = r;
    long after = TrapCount();
    ++t->writes;
    if (after == before + 1) {
      ++t->synchronous;
      if (before < kTrapLogSize) {
        const TrapRecord& rec = g_trap_log.rec[before];
        if (rec.tid == tid) ++t->right_thread;
        if (rec.code == TRAP_PERF && rec.type == kPerfTypeBreakpoint &&
            rec.data == g_trap_log.expect_data &&
            rec.addr == g_trap_log.expect_addr && !(rec.flags & kPerfFlagAsync)) {
          ++t->fields_ok;
        }
      }
    }
    StoreAndWake(&g_turn, static_cast<int>(r * n + me + 1));
  }
}

}  // namespace

void CheckSigtrap(const Options& o, Report* r) {
  const unsigned long kSig = 0x6b63686b00000001ul;
  BpSpec s;
  s.addr = &g_spot;
  s.sig_data = kSig;
  int fd = OpenLoggedBp(s, kFail, r);
  if (fd < 0) return;
  const int kThreads = 3;  // this one and two created after the event
  const long rounds = o.quick ? 500 : 2000;  // per thread
  std::vector<Tally> tallies(kThreads);
  std::vector<std::thread> threads;
  for (int i = 1; i < kThreads; ++i) {
    threads.emplace_back(Writer, i, kThreads, rounds, &tallies[i]);
  }
  Writer(0, kThreads, rounds, &tallies[0]);
  for (auto& t : threads) t.join();

  // Reads must not trap a write watchpoint, and must trap a read/write one.
  long reads = 1000;
  long before = TrapCount();
  uint64_t sum = 0;
  for (long i = 0; i < reads; ++i) sum += g_spot;
  long read_traps_w = TrapCount() - before;
  s.rw = true;
  long read_traps_rw = -1;
  if (ModifyBp(fd, s) == 0) {
    before = TrapCount();
    for (long i = 0; i < reads; ++i) sum += g_spot;
    read_traps_rw = TrapCount() - before;
  }
  (void)sum;
  close(fd);

  Tally t;
  for (const Tally& x : tallies) {
    t.writes += x.writes;
    t.synchronous += x.synchronous;
    t.fields_ok += x.fields_ok;
    t.right_thread += x.right_thread;
  }
  long expected = t.writes;
  long received = TrapCount() - read_traps_w - (read_traps_rw > 0 ? read_traps_rw : 0);
  long checked = expected < kTrapLogSize ? expected : kTrapLogSize;
  r->Num("expected", expected);
  r->Num("received", received);
  r->Num("synchronous", t.synchronous);
  r->Num("fields_checked", checked);
  r->Num("fields_ok", t.fields_ok);
  r->Num("in_accessing_thread", t.right_thread);
  r->Num("not_trap_perf", g_trap_log.not_perf);
  r->Num("wrong_sig_data", g_trap_log.wrong_data);
  r->Num("wrong_si_addr", g_trap_log.wrong_addr);
  r->Num("reads_on_write_watchpoint_trapped", read_traps_w);
  r->Num("reads_on_rw_watchpoint_trapped", read_traps_rw);
  bool ok = received == expected && t.synchronous == expected &&
            t.fields_ok == checked && t.right_thread == checked &&
            g_trap_log.not_perf == 0 && g_trap_log.wrong_data == 0 &&
            g_trap_log.wrong_addr == 0 && read_traps_w == 0 &&
            read_traps_rw == reads;
  r->Set(ok ? kPass : kFail, ok,
         "signals expected %ld, received %ld, synchronous %ld; TRAP_PERF with "
         "type 5, sig_data, si_addr ok %ld/%ld, in the accessing thread "
         "(%d threads) %ld/%ld; reads trap W %ld/%ld, RW %ld/%ld",
         expected, received, t.synchronous, t.fields_ok, checked, kThreads,
         t.right_thread, checked, read_traps_w, reads, read_traps_rw, reads);
}

}  // namespace kcheck
