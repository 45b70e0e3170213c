// Property 10, exit_exec_pending: threads and processes that exit, and
// processes that exec, while a SIGTRAP of a breakpoint event is pending (or
// being generated) neither crash nor hang. Each scenario runs in a child
// process with a timeout; its exit status is the verdict. Kernel bugs in this
// area (a use-after-free fixed in 6.1, event leaks fixed in 6.10) would show
// as a hang, a killed child or an oops in dmesg; leaks are not visible here.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tools/kcheck/kcheck.h"

namespace kcheck {
namespace {

alignas(64) volatile uint64_t g_spot;
std::atomic<bool> g_stop{false};
std::atomic<int> g_trapping{0};

enum {
  kOk = 0,
  kNotPendingAfterExec = 1,  // exec_pending new image: nothing pending (ok)
  kOpenFailed = 20,
  kNoTrapAfter = 21,
  kExecFailed = 22,
};

int OpenEvent() {
  InstallTrapLog();
  BpSpec s;
  s.addr = &g_spot;
  s.sig_data = 0x6b63686b0a000000ul;
  return OpenBp(s);
}

// Threads block SIGTRAP, trap, and exit with it pending; the event still
// works afterwards.
int ThreadExitPending(void*) {
  if (OpenEvent() < 0) return kOpenFailed;
  for (int round = 0; round < 4; ++round) {
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([] {
        BlockTrap(true);
        g_spot = 1;
        g_spot = 2;
      });
    }
    for (auto& t : threads) t.join();
  }
  long before = TrapCount();
  g_spot = 3;
  return TrapCount() == before + 1 ? kOk : kNoTrapAfter;
}

// The only thread exits with a trap pending.
int ProcessExitPending(void*) {
  if (OpenEvent() < 0) return kOpenFailed;
  BlockTrap(true);
  g_spot = 1;
  _exit(kOk);
}

int ExecSelf() {
  char name[] = "trapsan-kcheck";
  char internal[] = "--kcheck-internal";
  char mode[] = "exec_pending";
  char* argv[] = {name, internal, mode, nullptr};
  execv("/proc/self/exe", argv);
  return kExecFailed;
}

// exec with a trap pending (SIGTRAP blocked: the mask and the pending signal
// carry over to the new image, which exits without unblocking).
int ExecPending(void*) {
  if (OpenEvent() < 0) return kOpenFailed;
  BlockTrap(true);
  g_spot = 1;
  return ExecSelf();
}

void Hammer() {
  g_trapping.fetch_add(1);
  uint64_t i = 0;
  while (!g_stop.load(std::memory_order_relaxed)) g_spot = ++i;
}

// exit_group while threads are taking traps.
int ExitWhileTrapping(void*) {
  if (OpenEvent() < 0) return kOpenFailed;
  for (int i = 0; i < 3; ++i) std::thread(Hammer).detach();
  while (g_trapping.load() < 3) SleepSeconds(1e-4);
  SleepSeconds(0.003);
  _exit(kOk);
}

// exec (which kills the other threads) while threads are taking traps.
int ExecWhileTrapping(void*) {
  if (OpenEvent() < 0) return kOpenFailed;
  for (int i = 0; i < 3; ++i) std::thread(Hammer).detach();
  while (g_trapping.load() < 3) SleepSeconds(1e-4);
  SleepSeconds(0.003);
  // The handler stays: the hammering threads keep trapping until exec kills
  // them; exec resets it to SIG_DFL for the new image, which must not get
  // any of their SIGTRAPs.
  return ExecSelf();
}

struct Scenario {
  const char* name;
  int (*fn)(void*);
  bool exec;  // exit code 1 (nothing pending after exec) is fine too
};

}  // namespace

int ExecPendingNewImage(int, char**) {
  // Do not unblock SIGTRAP: a pending one would kill us (SIG_DFL), which is
  // POSIX behavior, not a kernel bug.
  return TrapPending() ? kOk : kNotPendingAfterExec;
}

void CheckExitExecPending(const Options& o, Report* r) {
  const Scenario scenarios[] = {
      {"thread_exit_pending", ThreadExitPending, false},
      {"process_exit_pending", ProcessExitPending, false},
      {"exec_pending", ExecPending, true},
      {"exit_while_trapping", ExitWhileTrapping, false},
      {"exec_while_trapping", ExecWhileTrapping, true},
  };
  const int runs = o.quick ? 4 : 25;
  int total = 0, good = 0;
  int pending_kept_over_exec = 0, exec_pending_runs = 0;
  std::string bad;
  for (const Scenario& sc : scenarios) {
    int sc_good = 0;
    for (int i = 0; i < runs; ++i) {
      ChildStatus st = RunInChild(sc.fn, nullptr, 5);
      ++total;
      bool ok = st.exited && (st.exit_code == kOk ||
                              (sc.exec && st.exit_code == kNotPendingAfterExec));
      if (sc.fn == ExecPending && st.exited) {
        ++exec_pending_runs;
        if (st.exit_code == kOk) ++pending_kept_over_exec;
      }
      if (ok) {
        ++good;
        ++sc_good;
      } else if (bad.size() < 300) {
        absl::StrAppend(&bad, bad.empty() ? "" : "; ", sc.name, ": ",
                        st.Describe());
      }
    }
    r->Num(sc.name, sc_good);
  }
  r->Num("runs", total);
  r->Num("clean", good);
  r->Num("sigtrap_still_pending_after_exec", pending_kept_over_exec);
  bool ok = good == total;
  r->Set(ok ? kPass : kFail, ok,
         "child processes exited cleanly %d/%d (5 scenarios x %d: threads "
         "exiting with a trap pending, process exit, exec, exit and exec "
         "while threads trap)%s%s; pending SIGTRAP kept over exec %d/%d",
         good, total, runs, bad.empty() ? "" : "; failures: ", bad.c_str(),
         pending_kept_over_exec, exec_pending_runs);
}

}  // namespace kcheck
