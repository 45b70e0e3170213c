// Property 2, inherit_thread: threads created after the event was opened
// (and threads those threads create) get the event: a write in the new thread
// traps in the new thread. A forked child inherits nothing (inherit_thread
// restricts inheritance to CLONE_THREAD); that part is INFO.
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <thread>

#include "tools/kcheck/kcheck.h"

namespace kcheck {
namespace {

alignas(64) volatile uint64_t g_spot;

struct Outcome {
  long writes = 0, trapped_once = 0, right_thread = 0;
};

void WriteOnce(Outcome* o) {
  pid_t tid = Tid();
  long before = TrapCount();
  g_spot = 1;
  long after = TrapCount();
  ++o->writes;
  if (after == before + 1) {
    ++o->trapped_once;
    if (before < kTrapLogSize && g_trap_log.rec[before].tid == tid &&
        g_trap_log.rec[before].code == TRAP_PERF) {
      ++o->right_thread;
    }
  }
}

int ForkChildWrites(void*) {
  long before = TrapCount();
  g_spot = 2;
  g_spot = 3;
  long n = TrapCount() - before;
  return n > 100 ? 100 : static_cast<int>(n);
}

}  // namespace

void CheckInheritThread(const Options& o, Report* r) {
  const unsigned long kSig = 0x6b63686b00000002ul;
  BpSpec s;
  s.addr = &g_spot;
  s.sig_data = kSig;
  int fd = OpenLoggedBp(s, kFail, r);
  if (fd < 0) return;
  const int kThreads = o.quick ? 20 : 100;
  Outcome direct, nested;
  for (int i = 0; i < kThreads; ++i) {
    std::thread t([&] {
      WriteOnce(&direct);
      // A thread created by a created thread.
      std::thread n([&] { WriteOnce(&nested); });
      n.join();
    });
    t.join();
  }
  ChildStatus fork_child = RunInChild(ForkChildWrites, nullptr, 5);
  close(fd);

  long fork_traps = fork_child.exited ? fork_child.exit_code : -1;
  r->Num("threads", direct.writes);
  r->Num("threads_trapped", direct.trapped_once);
  r->Num("threads_trapped_in_right_thread", direct.right_thread);
  r->Num("nested_threads", nested.writes);
  r->Num("nested_threads_trapped_in_right_thread", nested.right_thread);
  r->Num("wrong_sig_data", g_trap_log.wrong_data);
  r->Num("fork_child_traps", fork_traps);
  bool ok = direct.right_thread == direct.writes &&
            nested.right_thread == nested.writes &&
            direct.trapped_once == direct.writes &&
            nested.trapped_once == nested.writes &&
            g_trap_log.wrong_data == 0;
  r->Set(ok ? kPass : kFail, ok,
         "new threads trapped in the new thread %ld/%ld, threads of threads "
         "%ld/%ld, wrong sig_data %ld; fork child (INFO): %s, %s",
         direct.right_thread, direct.writes, nested.right_thread,
         nested.writes, g_trap_log.wrong_data,
         fork_traps == 0 ? "inherits nothing as expected"
                         : "UNEXPECTED: inherited the event or died",
         fork_child.Describe().c_str());
}

}  // namespace kcheck
