#include "sigtrap.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "runtime/core/clock.h"
#include "runtime/core/conflict_table.h"
#include "runtime/core/past_release.h"
#include "runtime/core/cookie.h"
#include "runtime/core/release.h"
#include "runtime/core/scoped_window.h"
#include "runtime/core/counters.h"
#include "runtime/core/slots.h"
#include "runtime/core/thread_state.h"
#include "runtime/core/window.h"
#include "runtime/linux/cancel.h"
#include "runtime/linux/label_int3.h"
#include "runtime/linux/labels.h"
#include "runtime/linux/trap_audit.h"
#include "runtime/linux/unwind.h"
#include "runtime/preload/data_lure.h"
#include "runtime/preload/timer_sampling.h"

namespace trapsan {
namespace {

#ifndef TRAP_PERF
#define TRAP_PERF 6
#endif
constexpr uint32_t kPerfTypeBreakpoint = 5;  // PERF_TYPE_BREAKPOINT
constexpr uint32_t kPerfFlagAsync = 1;       // TRAP_PERF_FLAG_ASYNC

// glibc's siginfo_t has no names for the perf fields yet; the kernel's layout
// (asm-generic/siginfo.h) puts them right after si_addr in _sigfault.
struct PerfFields {
  unsigned long data;
  uint32_t type;
  uint32_t flags;
};
constexpr size_t kPerfOffset = offsetof(siginfo_t, si_addr) + sizeof(void*);

PerfFields ReadPerfFields(const siginfo_t* si) {
  PerfFields f;
  memcpy(&f, reinterpret_cast<const char*>(si) + kPerfOffset, sizeof(f));
  return f;
}

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
using SigmaskFn = int (*)(int, const sigset_t*, sigset_t*);

// libc's functions behind our interposers, resolved when the handler is
// installed (dlsym is not async-signal-safe).
SigactionFn RealSigaction() {
  static SigactionFn fn =
      reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction"));
  return fn;
}
SigmaskFn RealPthreadSigmask() {
  static SigmaskFn fn =
      reinterpret_cast<SigmaskFn>(dlsym(RTLD_NEXT, "pthread_sigmask"));
  return fn;
}
SigmaskFn RealSigprocmask() {
  static SigmaskFn fn =
      reinterpret_cast<SigmaskFn>(dlsym(RTLD_NEXT, "sigprocmask"));
  return fn;
}

// The chained (previous or later-installed user) disposition. Written by
// sigaction() under the seqlock `g_chain_seq` (odd while writing); read by
// the handler, which retries until it sees a stable copy.
std::atomic<uint32_t> g_chain_seq{0};
struct sigaction g_chain;
std::atomic<bool> g_installed{false};

struct sigaction ReadChain() {
  struct sigaction copy;
  for (;;) {
    uint32_t s1 = g_chain_seq.load(std::memory_order_acquire);
    if (s1 & 1) continue;
    memcpy(&copy, &g_chain, sizeof(copy));
    std::atomic_thread_fence(std::memory_order_acquire);
    if (g_chain_seq.load(std::memory_order_relaxed) == s1) return copy;
  }
}

void WriteChain(const struct sigaction& act) {
  // Writers are rare (sigaction calls); they serialize on the seqlock itself.
  uint32_t s = g_chain_seq.load(std::memory_order_relaxed);
  while ((s & 1) || !g_chain_seq.compare_exchange_weak(
                        s, s + 1, std::memory_order_acquire)) {
    s = g_chain_seq.load(std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_release);
  memcpy(&g_chain, &act, sizeof(act));
  g_chain_seq.store(s + 2, std::memory_order_release);
}

// Killed by SIGTRAP's default action (a core dump), as the kernel does for
// a trap of an instruction that nothing handles.
void DieOfSigtrap() {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  RealSigaction()(SIGTRAP, &dfl, nullptr);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, SIGTRAP);
  RealPthreadSigmask()(SIG_UNBLOCK, &unblock, nullptr);
  syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGTRAP);
}

// The program's handler runs with SIGTRAP unblocked (unlike under the
// kernel): trapsan's own traps in it must get through (an int3 of a label in
// its instrumented code, blocked, killed the process). The block the
// program expects is kept here instead, per thread: while its handler runs
// (without SA_NODEFER), a foreign SIGTRAP is what the kernel makes of a
// blocked one: a trap of an instruction (int3: forced) kills, a sent one
// (raise, kill) waits until the handler returns (one, as a pending bit).
thread_local int t_program_blocked __attribute__((tls_model("initial-exec")));
thread_local bool t_program_pending __attribute__((tls_model("initial-exec")));
thread_local siginfo_t t_program_pending_info
    __attribute__((tls_model("initial-exec")));
// The program blocked SIGTRAP with pthread_sigmask/sigprocmask (kept here,
// never in the kernel's mask: see Sigmask below); the same rules apply.
thread_local bool t_program_masked __attribute__((tls_model("initial-exec")));

// A SIGTRAP that is not ours: behave as if trapsan were not there.
void Chain(int sig, siginfo_t* si, void* uc) {
  Count(Stats().traps_foreign);
  if (t_program_blocked != 0 || t_program_masked) {
    if (si->si_code > 0) {
      DieOfSigtrap();
    } else if (!t_program_pending) {
      t_program_pending_info = *si;
      t_program_pending = true;
    }
    return;
  }
  struct sigaction act = ReadChain();
  const bool has_handler = (act.sa_flags & SA_SIGINFO)
                               ? act.sa_sigaction != nullptr
                               : act.sa_handler != SIG_IGN &&
                                     act.sa_handler != SIG_DFL;
  // A trap the kernel raised for an instruction (int3, a debug exception:
  // si_code > 0) is forced: an ignored SIGTRAP would not stop it from
  // killing the process. One sent by kill/raise (si_code <= 0) is ignored.
  const bool ignored = !has_handler && act.sa_handler == SIG_IGN;
  if (ignored && si->si_code <= 0) return;
  if (!has_handler) {
    // The default action terminates with a core dump. Returning would skip
    // it (an int3 is not re-executed), so reinstate it and re-raise.
    DieOfSigtrap();
    return;
  }
  if (act.sa_flags & SA_RESETHAND) {  // As the kernel does, before the call.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    WriteChain(dfl);
  }
  // The mask the kernel would have given it: the interrupted code's, plus
  // its sa_mask, plus SIGTRAP itself unless SA_NODEFER (kept as
  // t_program_blocked, above).
  sigset_t mask = static_cast<const ucontext_t*>(uc)->uc_sigmask;
  sigset_t old;
  sigorset(&mask, &mask, &act.sa_mask);
  const bool blocks = !(act.sa_flags & SA_NODEFER) || sigismember(&mask, SIGTRAP);
  sigdelset(&mask, SIGTRAP);
  RealPthreadSigmask()(SIG_SETMASK, &mask, &old);
  if (blocks) ++t_program_blocked;
  if (act.sa_flags & SA_SIGINFO) {
    act.sa_sigaction(sig, si, uc);
  } else {
    act.sa_handler(sig);
  }
  if (blocks) --t_program_blocked;
  RealPthreadSigmask()(SIG_SETMASK, &old, nullptr);
  if (blocks && t_program_blocked == 0 && t_program_pending) {
    // Unblocked by the handler's return: the kernel delivers it now.
    siginfo_t pending = t_program_pending_info;
    t_program_pending = false;
    Chain(sig, &pending, uc);
  }
}

// This thread's fs base: glibc's thread control block starts with a pointer
// to itself (tcbhead_t.tcb), at fs:0. For the decoding of an fs:-relative
// trapped access (report/decode.h).
uint64_t ThreadPointer() {
  uint64_t self;
  __asm__("mov %%fs:0, %0" : "=r"(self));
  return self;
}

void HandleOurTrap(uint64_t cookie, Cookie c, bool async, uintptr_t watched,
                   void* uc) {
  ThreadState& t = CurrentThread();
  // A masked window (TRAPSAN_ASSERT_EXCLUSIVE_BITS): did this write change
  // its bits? (Every trap, the owner's too, moves the value it compares.)
  bool changed_masked_bits = NoteMaskedTrap(c.slot, cookie);
  if (t.watching_cookie == cookie || OwnHeldWindowTrap(cookie) ||
      OwnScopedWindowTrap(cookie)) {
    // The watcher itself touched its bytes (its own signal handler did, or
    // its code after a held window's sample: core/release.h).
    Slot& own = GetSlot(c.slot);
    // Unless si_addr is not this window's address: si_addr is the bp_addr
    // the slot had when it fired, the cookie is read when the signal is
    // sent (core/window_conflicts.cpp, JudgeTrap), so this is an earlier
    // window's trap that came with this window's cookie. It touched neither
    // this window's bytes nor another window's there, and is not redirected
    // (whose report names the other window's address, so JudgeTrap's own
    // si_addr check could not catch it): natively, DataRaceBench's DRB105
    // (race-free) reported a push of __trapsan_return_all's on the
    // trapping thread's own stack, its si_addr, as a race on another
    // thread's window on this window's heap or stack address, 1-2 runs in 3.
    if (watched != own.watch_addr.load(std::memory_order_relaxed)) {
      Count(Stats().traps_stale);
      return;
    }
    own.self_traps.fetch_add(1, std::memory_order_relaxed);
    Count(Stats().traps_self);
    // The same access then hit every window of another thread that watches
    // all of these bytes (and reads, if this one does), whose trap the
    // kernel dropped (one SIGTRAP: core/slots.h): the trap is that window's.
    // Not an asynchronous one (delivered away from its instruction: the
    // access is not known to be this thread's own).
    if (async) return;
    uintptr_t other_addr = 0;
    const uint64_t other = OtherOpenWindowOn(
        own.watch_addr.load(std::memory_order_relaxed),
        own.watch_len.load(std::memory_order_relaxed),
        own.watch_reads.load(std::memory_order_relaxed), cookie, t.tid,
        &other_addr);
    if (other == 0 || !DecodeCookie(other, &c) || c.slot >= SlotCount()) {
      return;
    }
    cookie = other;
    watched = other_addr;
    changed_masked_bits = NoteMaskedTrap(c.slot, cookie);
    Count(Stats().traps_self_redirected);
  }
  Slot& slot = GetSlot(c.slot);
  slot.handlers_in_flight.fetch_add(1, std::memory_order_acq_rel);
  Count(Stats().traps);
  ++t.traps_received;
  AccessInfo access;
  if (t.in_runtime != 0 && t.current_access != nullptr) {
    // Trapped inside trapsan (reading a value this thread was about to
    // sample): the access that matters is the user's, recorded on entry.
    access = *t.current_access;
  } else {
    access.tid = t.tid;
    access.thread_id = t.thread_id;
    access.addr = watched;  // si_addr: the watchpoint's address
    access.size = 0;
    access.kind = AccessKind::kUnknown;
    access.pc_after_access = true;
    UnwindFromSignalContext(uc, t.stack_lo, t.stack_hi, &access.stack);
    access.has_registers = true;
    CopyRegisters(uc, access.registers);
    access.fs_base = ThreadPointer();
  }
  access.time_ns = MonotonicNs();
  access.changed_masked_bits = changed_masked_bits;
  if (t.ignore_reads != 0 && t.ignore_writes != 0) {
    // TRAPSAN_DATA_RACE or an ignore region (abi/annotations.cpp): an
    // intended race, not reported; the value it changed is not news either.
    slot.self_traps.fetch_add(1, std::memory_order_relaxed);
    slot.handlers_in_flight.fetch_sub(1, std::memory_order_acq_rel);
    return;
  }
  // A window kept past its owner's release (core/past_release.h): only a
  // thread that made no acquire since races with it.
  if (OrderedAfterRelease(slot, cookie, t.thread_id)) {
    Count(Stats().traps_ordered);
    slot.handlers_in_flight.fetch_sub(1, std::memory_order_acq_rel);
    return;
  }
  if (!Conflicts().Record(cookie, access, async)) Count(Stats().traps_dropped);
  slot.handlers_in_flight.fetch_sub(1, std::memory_order_acq_rel);
}

void OnSigtrap(int sig, siginfo_t* si, void* uc) {
  int saved_errno = errno;
  Cookie c;
  PerfFields perf = ReadPerfFields(si);
  if ((si->si_code == TRAP_PERF && perf.data == kTimerCookie) ||
      IsTickTimerSignal(si)) {
    // A timer sample (runtime/preload): known by sig_data alone, as
    // si_perf_type is unreliable for software events; or a tick timer's.
    HandleTimerSample(uc);
  } else if (si->si_code == TRAP_PERF && perf.type == kPerfTypeBreakpoint &&
             perf.data == kLabelCookie) {
    HandleLabelTrap(uc);
  } else if (si->si_code == TRAP_PERF && perf.type == kPerfTypeBreakpoint &&
             DecodeCookie(perf.data, &c) && c.slot < SlotCount()) {
    // For the trap audit (trap_audit.h).
    NoteSlotTrap(c.slot, reinterpret_cast<uintptr_t>(si->si_addr));
    uint64_t cookie = perf.data;
    uintptr_t watched = reinterpret_cast<uintptr_t>(si->si_addr);
    // A data lure's trap (runtime/preload/data_lure.h), or another
    // window's that came with a lure's cookie.
    if (!HandleLureTrap(&cookie, &watched, uc) && DecodeCookie(cookie, &c)) {
      HandleOurTrap(cookie, c, (perf.flags & kPerfFlagAsync) != 0, watched,
                    uc);
    }
  } else if (Int3HandleTrap(si, uc)) {
    // An int3 of a label site (label_int3.h): sampled or resumed past it.
  } else {
    Chain(sig, si, uc);
  }
  errno = saved_errno;
}

}  // namespace

bool InstallSigtrapHandler(std::string* why) {
  if (g_installed.load()) return true;
  RealPthreadSigmask();
  RealSigprocmask();
  struct sigaction previous;
  if (RealSigaction() == nullptr ||
      RealSigaction()(SIGTRAP, nullptr, &previous) != 0) {
    *why = "cannot read the current SIGTRAP disposition";
    return false;
  }
  WriteChain(previous);
  struct sigaction act;
  memset(&act, 0, sizeof(act));
  act.sa_sigaction = OnSigtrap;
  // SA_RESTART: a trap never interrupts a system call of the trapping thread
  // (it is raised by a user-mode access), but keep restarting semantics.
  act.sa_flags = SA_SIGINFO | SA_RESTART;
  // Every signal blocked while the handler runs: another handler nesting in
  // it would run instrumented code with SIGTRAP blocked, so that a label it
  // reaches could only trap after it returned, too late (a 20 us timer whose
  // handler is instrumented lost every label that way). A chained handler
  // gets the mask it asked for (Chain).
  sigfillset(&act.sa_mask);
  // SIGCANCEL too (which sigfillset leaves out): a thread cancelled inside
  // the handler would leave a slot's handler count raised (cancel.h).
  AddCancelSignal(&act.sa_mask);
  if (RealSigaction()(SIGTRAP, &act, nullptr) != 0) {
    *why = std::string("sigaction(SIGTRAP): ") + strerror(errno);
    return false;
  }
  g_installed.store(true);
  return true;
}

}  // namespace trapsan

// --- Interposed for SIGTRAP; everything else goes straight to libc. ---

extern "C" __attribute__((visibility("default"))) int sigaction(
    int sig, const struct sigaction* act, struct sigaction* old) {
  using namespace trapsan;
  if (sig != SIGTRAP || !g_installed.load(std::memory_order_acquire)) {
    SigactionFn real = RealSigaction();
    if (real == nullptr) {
      errno = ENOSYS;
      return -1;
    }
    struct sigaction copy;
    if (act != nullptr && g_installed.load(std::memory_order_acquire)) {
      // Keep our traps deliverable while the program's handlers run.
      copy = *act;
      sigdelset(&copy.sa_mask, SIGTRAP);
      act = &copy;
    }
    return real(sig, act, old);
  }
  struct sigaction current = ReadChain();
  if (act != nullptr) WriteChain(*act);
  if (old != nullptr) *old = current;
  return 0;
}

extern "C" __attribute__((visibility("default"))) sighandler_t signal(
    int sig, sighandler_t handler) {
  struct sigaction act, old;
  memset(&act, 0, sizeof(act));
  act.sa_handler = handler;
  sigemptyset(&act.sa_mask);
  act.sa_flags = SA_RESTART;  // glibc's signal() has BSD semantics.
  if (sigaction(sig, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

// SIGTRAP stays unblocked: a blocked perf SIGTRAP waits until the thread
// unblocks it (forever, for a worker that blocks every signal so that one
// thread handles them all), and trapsan would miss every race of that
// thread. Only SIGTRAP is removed from the masks the program sets.
namespace {
int Sigmask(trapsan::SigmaskFn real, int how, const sigset_t* set,
            sigset_t* old) {
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  using namespace trapsan;
  const bool installed = g_installed.load(std::memory_order_acquire);
  const bool was_masked = t_program_masked;
  sigset_t copy;
  if (set != nullptr && installed) {
    // The program's block of SIGTRAP is kept as t_program_masked: a foreign
    // SIGTRAP meanwhile waits (a sent one) or kills (a forced one), as the
    // kernel would do with a blocked one (Chain).
    const bool trap = sigismember(set, SIGTRAP) == 1;
    if (how == SIG_SETMASK) {
      t_program_masked = trap;
    } else if (trap) {
      t_program_masked = how == SIG_BLOCK;
    }
    if (how != SIG_UNBLOCK) {
      copy = *set;
      sigdelset(&copy, SIGTRAP);
      set = &copy;
    }
  }
  const int result = real(how, set, old);
  if (result == 0 && old != nullptr && installed && was_masked) {
    sigaddset(old, SIGTRAP);
  }
  if (was_masked && !t_program_masked && t_program_blocked == 0 &&
      t_program_pending) {
    // Unblocked: the kernel delivers it before returning; sent again to
    // this thread with its own siginfo (allowed to oneself).
    siginfo_t pending = t_program_pending_info;
    t_program_pending = false;
    syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), SIGTRAP,
            &pending);
  }
  return result;
}
}  // namespace

extern "C" __attribute__((visibility("default"))) int pthread_sigmask(
    int how, const sigset_t* set, sigset_t* old) {
  return Sigmask(trapsan::RealPthreadSigmask(), how, set, old);
}

extern "C" __attribute__((visibility("default"))) int sigprocmask(
    int how, const sigset_t* set, sigset_t* old) {
  return Sigmask(trapsan::RealSigprocmask(), how, set, old);
}

// A SIGTRAP the program sent itself while it kept SIGTRAP blocked waits in
// trapsan (Chain), not in the kernel: it is pending all the same.
extern "C" __attribute__((visibility("default"))) int sigpending(
    sigset_t* set) {
  if (syscall(SYS_rt_sigpending, set, _NSIG / 8) != 0) return -1;
  if (trapsan::t_program_pending) sigaddset(set, SIGTRAP);
  return 0;
}
