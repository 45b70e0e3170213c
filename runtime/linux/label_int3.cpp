#include "label_int3.h"

#include <link.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/core/clock.h"
#include "runtime/core/counters.h"
#include "labels.h"

namespace trapsan {
namespace {

constexpr uint8_t kNop = 0x90;
constexpr uint8_t kInt3 = 0xcc;
#ifndef SI_KERNEL
#define SI_KERNEL 0x80
#endif

// An entry's state word: generation << 2 | phase. The generation grows with
// every arming, so a CAS from a word read earlier fails once the entry was
// freed and reused.
enum Phase : uint64_t {
  kFree = 0,       // no patch (pc: the last label it had, for late traps)
  kArmed = 1,      // the int3 is there, or about to be
  kTaken = 2,      // a thread reached it: it is putting the nop back
  kRestoring = 3,  // its arming thread (or a fork child) puts the nop back
};
constexpr uint64_t kPhaseMask = 3;

struct Patch {
  std::atomic<uint64_t> state{0};
  std::atomic<uintptr_t> pc{0};  // written while kFree, under the lock
  int prot = 0;                  // the text segment's protection
  LabelAccess access;            // written while kFree, under the lock
};

constexpr int kMaxPatches = 256;
Patch g_patches[kMaxPatches];
std::atomic<uint64_t> g_generation{0};
// Labels whose nop was put back lately: a thread that ran the int3 just
// before may see its trap handled only now.
constexpr int kRetired = 1024;
std::atomic<uintptr_t> g_retired[kRetired];
std::atomic<uint32_t> g_retired_next{0};
// Serializes every text write (mprotect, store, mprotect). Taken with every
// signal blocked, so its holder is never interrupted by our handler.
std::atomic<bool> g_text_lock{false};
// Hits of the self-test's label.
std::atomic<int> g_probe_hits{0};

// The calling thread's armed entry.
struct ThreadPatch {
  int index = -1;
  uint64_t generation = 0;
};
thread_local ThreadPatch t_patch __attribute__((tls_model("initial-exec")));
// Why the calling thread's last patch failed (mprotect's errno), for the
// self-test's evidence.
thread_local int t_poke_errno __attribute__((tls_model("initial-exec")));

long PageSize() {
  static const long size = sysconf(_SC_PAGESIZE);
  return size;
}

void LockText() {
  while (g_text_lock.exchange(true, std::memory_order_acquire)) sched_yield();
}
void UnlockText() { g_text_lock.store(false, std::memory_order_release); }

// Every signal blocked for the scope (raw: the interposed sigprocmask keeps
// SIGTRAP deliverable, which is right for the program but not needed here).
class SignalsBlocked {
 public:
  SignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old_, sizeof(long));
  }
  ~SignalsBlocked() {
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old_, nullptr, sizeof(long));
  }

 private:
  sigset_t old_;
};

// Stores `value` at `pc` if `expect` is there. Text lock held.
// Async-signal-safe (the handler's restore comes here too).
bool Poke(uintptr_t pc, uint8_t expect, uint8_t value, int prot) {
  volatile uint8_t* byte = reinterpret_cast<volatile uint8_t*>(pc);
  if (*byte != expect) return false;
  void* page = reinterpret_cast<void*>(pc & ~static_cast<uintptr_t>(PageSize() - 1));
  if (mprotect(page, static_cast<size_t>(PageSize()),
               PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
    t_poke_errno = errno;
    return false;
  }
  // One byte at an instruction's start: another CPU runs either the nop or
  // the int3, both meaning what they should.
  __atomic_store_n(const_cast<uint8_t*>(byte), value, __ATOMIC_SEQ_CST);
  mprotect(page, static_cast<size_t>(PageSize()), prot);
  return true;
}

int ProtOf(ElfW(Word) flags) {
  return ((flags & PF_R) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0) |
         ((flags & PF_X) ? PROT_EXEC : 0);
}

// Runs f(prot) while the dynamic linker's list has an object with a
// readable, executable segment holding `pc` (its lock keeps dlclose from
// unmapping it meanwhile). False if none has.
template <typename F>
bool WithLoadedText(uintptr_t pc, F f) {
  struct Data {
    uintptr_t pc;
    F* f;
    bool found, result;
  } data{pc, &f, false, false};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* p) {
        Data& d = *static_cast<Data*>(p);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) ||
              !(ph.p_flags & PF_R))
            continue;
          const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
          if (d.pc < start || d.pc >= start + ph.p_memsz) continue;
          d.found = true;
          d.result = (*d.f)(ProtOf(ph.p_flags));
          return 1;
        }
        return 0;
      },
      &data);
  return data.found && data.result;
}

void Retire(uintptr_t pc) {
  const uint32_t i = g_retired_next.fetch_add(1, std::memory_order_relaxed);
  g_retired[i % kRetired].store(pc, std::memory_order_release);
}

// Puts entry `index`'s nop back, if it is still armed with `generation`.
// Normal context, signals blocked, text lock not held.
void Restore(int index, uint64_t generation) {
  Patch& p = g_patches[index];
  uint64_t armed = generation << 2 | kArmed;
  if (!p.state.compare_exchange_strong(armed, generation << 2 | kRestoring,
                                       std::memory_order_acq_rel))
    return;  // Reached (its taker restores it) or gone already.
  const uintptr_t pc = p.pc.load(std::memory_order_relaxed);
  // Not loaded any more (dlclose): nothing to put back.
  WithLoadedText(pc, [&](int) {
    LockText();
    Poke(pc, kInt3, kNop, p.prot);
    UnlockText();
    return true;
  });
  Retire(pc);
  p.state.store(generation << 2 | kFree, std::memory_order_release);
}

void RestoreMine() {
  ThreadPatch& t = t_patch;
  if (t.index >= 0) Restore(t.index, t.generation);
  t.index = -1;
}

}  // namespace

bool Int3ArmLabel(uintptr_t pc, const LabelAccess& access) {
  SignalsBlocked blocked;
  RestoreMine();
  bool patched = false;
  WithLoadedText(pc, [&](int prot) {
    LockText();
    int free_index = -1;
    for (int i = 0; i < kMaxPatches; ++i) {
      Patch& p = g_patches[i];
      const uint64_t phase = p.state.load(std::memory_order_acquire) & kPhaseMask;
      if (phase == kFree) {
        if (free_index < 0) free_index = i;
      } else if (p.pc.load(std::memory_order_relaxed) == pc) {
        // Patched already, for another thread: whoever gets there first
        // samples it.
        patched = phase == kArmed;
        UnlockText();
        return true;
      }
    }
    if (free_index >= 0) {
      Patch& p = g_patches[free_index];
      const uint64_t generation =
          g_generation.fetch_add(1, std::memory_order_relaxed) + 1;
      p.pc.store(pc, std::memory_order_relaxed);
      p.prot = prot;
      p.access = access;
      // Armed before the int3 is there: a thread that reaches it finds it.
      p.state.store(generation << 2 | kArmed, std::memory_order_seq_cst);
      if (Poke(pc, kNop, kInt3, prot)) {
        patched = true;
        t_patch.index = free_index;
        t_patch.generation = generation;
      } else {
        p.state.store(generation << 2 | kFree, std::memory_order_release);
      }
    }
    UnlockText();
    return true;
  });
  return patched;
}

bool Int3HandleTrap(const siginfo_t* si, void* ucontext) {
  if (si->si_code != SI_KERNEL) return false;
  mcontext_t& m = static_cast<ucontext_t*>(ucontext)->uc_mcontext;
  const uintptr_t next = static_cast<uintptr_t>(m.gregs[REG_RIP]);
  const uintptr_t pc = next - 1;
  // Past the int3 is where the nop would have let the thread go on.
  bool known = false;  // a label we patched once, its nop back now
  for (int i = 0; i < kMaxPatches; ++i) {
    Patch& p = g_patches[i];
    uint64_t state = p.state.load(std::memory_order_acquire);
    if (p.pc.load(std::memory_order_acquire) != pc) continue;
    if ((state & kPhaseMask) == kFree) {
      known = true;
      continue;
    }
    if ((state & kPhaseMask) != kArmed || LabelSampleWaiting()) {
      // Being put back, or this thread has a sample waiting for the stub
      // (a signal handler it runs reached the int3): go on as past the nop;
      // an armed label stays armed for the next thread.
      Count(Stats().labels_passed);
      return true;
    }
    if (!p.state.compare_exchange_strong(state,
                                         (state & ~kPhaseMask) | kTaken,
                                         std::memory_order_acq_rel)) {
      Count(Stats().labels_passed);  // Another thread took it just now.
      return true;
    }
    const LabelAccess access = p.access;
    LockText();
    Poke(pc, kInt3, kNop, p.prot);
    UnlockText();
    Retire(pc);
    p.state.store((state & ~kPhaseMask) | kFree, std::memory_order_release);
    if (access.probe) {
      g_probe_hits.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    if (!TakeLabelSample(ucontext, pc, next, access))
      Count(Stats().labels_passed);
    return true;
  }
  for (int i = 0; !known && i < kRetired; ++i)
    known = g_retired[i].load(std::memory_order_acquire) == pc;
  // A late trap of a label whose nop is back (the thread ran the int3 just
  // before). An int3 there now, with no patch of ours, is somebody else's.
  if (known && *reinterpret_cast<volatile uint8_t*>(pc) == kNop) {
    Count(Stats().labels_passed);
    return true;
  }
  return false;
}

bool Int3Probe(uintptr_t pc, void (*run)(), std::string* evidence) {
  LabelAccess probe;
  probe.probe = true;
  g_probe_hits.store(0);
  const uint64_t start = MonotonicNs();
  t_poke_errno = 0;
  if (!Int3ArmLabel(pc, probe)) {
    *evidence = t_poke_errno != 0
                    ? absl::StrCat("cannot make text writable to patch a "
                                   "label's nop to int3 (mprotect: ",
                                   strerror(t_poke_errno), ")")
                    : "cannot patch a label's nop to int3";
    return false;
  }
  run();  // traps once: the handler counts it and puts the nop back
  run();  // no trap: the nop is back
  const int hits = g_probe_hits.load();
  const bool nop_back = *reinterpret_cast<volatile uint8_t*>(pc) == kNop;
  {
    SignalsBlocked blocked;
    RestoreMine();  // (nothing left to restore when it worked)
  }
  if (hits == 1 && nop_back) {
    *evidence = absl::StrCat("int3 self-test trap delivered in ",
                             (MonotonicNs() - start) / 1000, " us");
    return true;
  }
  *evidence = absl::StrCat("an int3 patched on a label produced ", hits,
                           " SIGTRAPs, not 1",
                           nop_back ? "" : ", and its nop was not put back");
  return false;
}

void Int3DisarmThread() {
  SignalsBlocked blocked;
  RestoreMine();
}

void Int3ResetInChild() {
  // Only this thread lives on: a lock held by another thread is free, and
  // every patch, whoever armed it, is put back in the child's text.
  g_text_lock.store(false, std::memory_order_relaxed);
  t_patch = ThreadPatch();
  SignalsBlocked blocked;
  for (Patch& p : g_patches) {
    const uint64_t state = p.state.load(std::memory_order_relaxed);
    if ((state & kPhaseMask) == kFree) continue;
    const uintptr_t pc = p.pc.load(std::memory_order_relaxed);
    WithLoadedText(pc, [&](int) {
      LockText();
      Poke(pc, kInt3, kNop, p.prot);
      UnlockText();
      return true;
    });
    Retire(pc);
    p.state.store((state & ~kPhaseMask) | kFree, std::memory_order_relaxed);
  }
}

}  // namespace trapsan
