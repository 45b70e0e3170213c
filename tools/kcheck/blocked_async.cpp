// Property 8, blocked_async (INFO): a trap taken while SIGTRAP is blocked
// (blocked with the raw rt_sigprocmask syscall) stays pending, is delivered
// once SIGTRAP is unblocked, and is flagged TRAP_PERF_FLAG_ASYNC (Linux 5.18;
// before, the kernel forced the signal through and could kill the process).
// Several traps while blocked merge into one signal. trapsan keeps SIGTRAP
// unblocked and handles both kinds.
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tools/kcheck/kcheck.h"

namespace kcheck {
namespace {
alignas(64) volatile uint64_t g_spot;
}  // namespace

void CheckBlockedAsync(const Options& o, Report* r) {
  const unsigned long kSig = 0x6b63686b08000000ul;
  BpSpec s;
  s.addr = &g_spot;
  s.sig_data = kSig;
  int fd = OpenLoggedBp(s, kInfo, r);
  if (fd < 0) return;
  const int rounds = o.quick ? 50 : 500;
  const int kWritesPerRound = 3;
  long while_blocked = 0, pending_seen = 0, after_unblock = 0;
  for (int i = 0; i < rounds; ++i) {
    BlockTrap(true);
    long before = TrapCount();
    for (int w = 0; w < kWritesPerRound; ++w) g_spot = w;
    while_blocked += TrapCount() - before;
    if (TrapPending()) ++pending_seen;
    long mid = TrapCount();
    BlockTrap(false);
    after_unblock += TrapCount() - mid;
  }
  // A sync trap after all that: still synchronous, not flagged.
  long before = TrapCount();
  long async_before = g_trap_log.async;
  g_spot = 1;
  bool sync_after = TrapCount() == before + 1 && g_trap_log.async == async_before;
  close(fd);
  long async = g_trap_log.async;
  r->Num("rounds", rounds);
  r->Num("writes_while_blocked", static_cast<double>(rounds) * kWritesPerRound);
  r->Num("delivered_while_blocked", while_blocked);
  r->Num("pending_seen", pending_seen);
  r->Num("delivered_after_unblock", after_unblock);
  r->Num("flagged_async", async);
  r->Num("wrong_sig_data", g_trap_log.wrong_data);
  r->Num("wrong_si_addr", g_trap_log.wrong_addr);
  r->Num("synchronous_afterwards", sync_after);
  bool ok = while_blocked == 0 && pending_seen == rounds &&
            after_unblock == rounds && async == rounds &&
            g_trap_log.wrong_data == 0 && g_trap_log.wrong_addr == 0 &&
            sync_after;
  r->Set(kInfo, ok,
         "%s: %d rounds of %d writes while blocked: delivered while blocked "
         "%ld, pending %ld, delivered after unblocking %ld (merged), flagged "
         "async %ld, wrong sig_data %ld; next trap synchronous: %s",
         ok ? "as expected" : "UNEXPECTED", rounds, kWritesPerRound,
         while_blocked, pending_seen, after_unblock, async,
         g_trap_log.wrong_data, sync_after ? "yes" : "no");
}

}  // namespace kcheck
