#include "label_int3.h"

#include <link.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/core/budget.h"
#include "runtime/core/clock.h"
#include "runtime/core/counters.h"
#include "labels.h"
#include "text_patch.h"

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
  kTaken = 2,      // a thread reached it and samples; it puts the nop back
  kRestoring = 3,  // the nop is being put back
};
constexpr uint64_t kPhaseMask = 3;

struct Patch {
  std::atomic<uint64_t> state{0};
  std::atomic<uintptr_t> pc{0};  // written while kFree, under g_arm_lock
  int prot = 0;                  // the text segment's protection
  LabelAccess access;            // written while kFree, under g_arm_lock
};

constexpr int kMaxPatches = 256;
Patch g_patches[kMaxPatches];
std::atomic<uint64_t> g_generation{0};
// Every label ever patched: a trap at one of them is ours, even when its
// handler runs after the nop was put back and the label was patched again
// (the thread can be preempted between the int3 and its signal). Open
// addressing, inserted under g_arm_lock, read by the handler without lock.
constexpr uint32_t kPatchedBits = 15;
constexpr uint32_t kPatchedSize = 1u << kPatchedBits;
std::atomic<uintptr_t> g_ever_patched[kPatchedSize];

uint32_t SlotOf(uintptr_t pc, uint32_t probe) {
  return static_cast<uint32_t>(((pc * 0x9e3779b97f4a7c15ull) >>
                                (64 - kPatchedBits)) + probe) &
         (kPatchedSize - 1);
}

// Async-signal-safe.
bool EverPatched(uintptr_t pc) {
  for (uint32_t probe = 0; probe < kPatchedSize; ++probe) {
    const uintptr_t v =
        g_ever_patched[SlotOf(pc, probe)].load(std::memory_order_acquire);
    if (v == pc) return true;
    if (v == 0) return false;
  }
  return false;
}

// Under g_arm_lock. False when the set is full (3/4: probes stay short).
bool RememberPatched(uintptr_t pc) {
  static uint32_t used = 0;
  for (uint32_t probe = 0; probe < kPatchedSize; ++probe) {
    std::atomic<uintptr_t>& slot = g_ever_patched[SlotOf(pc, probe)];
    const uintptr_t v = slot.load(std::memory_order_relaxed);
    if (v == pc) return true;
    if (v != 0) continue;
    if (used >= kPatchedSize / 4 * 3) return false;
    ++used;
    slot.store(pc, std::memory_order_release);
    return true;
  }
  return false;
}

// Serializes armings (finding a label's entry, or a free one). Never taken
// by the SIGTRAP handler; a signal handler's arming that interrupted its own
// thread's gives up instead of waiting (t_arming).
std::atomic<bool> g_arm_lock{false};
thread_local bool t_arming __attribute__((tls_model("initial-exec")));
// Hits of the self-test's label.
std::atomic<int> g_probe_hits{0};

// The calling thread's armed entry.
struct ThreadPatch {
  int index = -1;
  uint64_t generation = 0;
};
thread_local ThreadPatch t_patch __attribute__((tls_model("initial-exec")));

int ProtOf(ElfW(Word) flags) {
  return ((flags & PF_R) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0) |
         ((flags & PF_X) ? PROT_EXEC : 0);
}

// Runs f(prot) while the dynamic linker's list has an object with a
// readable, executable segment holding `pc` (its lock keeps dlclose from
// unmapping it meanwhile). False if none has, or f returned false.
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

// Puts entry `index`'s nop back if it is in `phase` of `generation`, and
// frees it. Normal context.
void Settle(int index, uint64_t generation, Phase phase) {
  if (index < 0) return;
  Patch& p = g_patches[index];
  uint64_t expected = generation << 2 | phase;
  if (!p.state.compare_exchange_strong(expected, generation << 2 | kRestoring,
                                       std::memory_order_acq_rel))
    return;  // Taken (its taker puts it back), or gone already.
  const uintptr_t pc = p.pc.load(std::memory_order_relaxed);
  // An object no longer loaded (dlclose) has nothing to put back.
  WithLoadedText(pc, [&](int) { return PatchTextByte(pc, kInt3, kNop, p.prot); });
  p.state.store(generation << 2 | kFree, std::memory_order_release);
}

// Taken by one arming at a time, for a bounded wait: the holder may be held
// up by a thread that runs instrumented code while holding a lock the holder
// needs (the dynamic linker's, in a dl_iterate_phdr callback), so a waiter
// gives up after 100 ms (its expiry arms nothing) rather than wait for ever.
class ArmLock {
 public:
  ArmLock() {
    if (t_arming) return;  // A signal handler interrupted this thread's arming.
    uint64_t deadline = 0;
    while (g_arm_lock.exchange(true, std::memory_order_acquire)) {
      const uint64_t now = MonotonicNs();
      if (deadline == 0) deadline = now + kMaxWaitNs;
      if (now > deadline) return;
      sched_yield();
    }
    t_arming = held_ = true;
  }
  ~ArmLock() {
    if (!held_) return;
    t_arming = false;
    g_arm_lock.store(false, std::memory_order_release);
  }
  bool held() const { return held_; }

 private:
  static constexpr uint64_t kMaxWaitNs = 100000000;
  bool held_ = false;
};

}  // namespace

bool Int3ArmLabel(uintptr_t pc, const LabelAccess& access) {
  ArmLock lock;
  if (!lock.held()) return false;
  Settle(t_patch.index, t_patch.generation, kArmed);  // the previous label
  t_patch.index = -1;
  int free_index = -1;
  for (int i = 0; i < kMaxPatches; ++i) {
    Patch& p = g_patches[i];
    const uint64_t phase = p.state.load(std::memory_order_acquire) & kPhaseMask;
    if (phase == kFree) {
      if (free_index < 0) free_index = i;
    } else if (p.pc.load(std::memory_order_relaxed) == pc) {
      // Patched already for another thread (or being put back after its
      // sample): the expiries share it, whoever gets there first samples.
      return true;
    }
  }
  if (free_index < 0 || !RememberPatched(pc)) return false;
  Patch& p = g_patches[free_index];
  const uint64_t generation =
      g_generation.fetch_add(1, std::memory_order_relaxed) + 1;
  p.pc.store(pc, std::memory_order_relaxed);
  p.access = access;
  // Armed before the int3 is there: a thread that reaches it finds it.
  p.state.store(generation << 2 | kArmed, std::memory_order_seq_cst);
  const bool patched = WithLoadedText(pc, [&](int prot) {
    p.prot = prot;
    return PatchTextByte(pc, kNop, kInt3, prot);
  });
  if (!patched) {
    p.state.store(generation << 2 | kFree, std::memory_order_release);
    return false;
  }
  t_patch.index = free_index;
  t_patch.generation = generation;
  return true;
}

// A thread that reached a label another thread took waits, briefly, for the
// taker to put the nop back, instead of going on at once: a thread in a hot
// loop would reach the int3 again on its next iteration, and again, each time
// a trap, for as long as the taker is not running (more threads than CPUs:
// a time slice). pigz -11 -p 4 (zopfli, 4 threads on 2 CPUs, mode=ci, soft
// backend): 1.2 million such traps, 13 s of system time in a 20 s run. The
// wait yields the CPU (the taker may be waiting for it), ends as soon as the
// entry's state word changes, and lasts at most kTakenWaitNs; it is charged
// to the window budget, as the taker's window is.
constexpr uint64_t kTakenWaitNs = 1000000;

void WaitWhileTaken(const Patch& p, uint64_t state) {
  const uint64_t phase = state & kPhaseMask;
  if (phase != kTaken && phase != kRestoring) return;
  const uint64_t start = MonotonicNs();
  uint64_t now = start;
  while (p.state.load(std::memory_order_acquire) == state &&
         now - start < kTakenWaitNs) {
    sched_yield();
    now = MonotonicNs();
  }
  WindowBudget().Charge(now - start);
}

bool Int3HandleTrap(const siginfo_t* si, void* ucontext) {
  if (si->si_code != SI_KERNEL) return false;
  mcontext_t& m = static_cast<ucontext_t*>(ucontext)->uc_mcontext;
  // Past the int3 is where the nop would have let the thread go on.
  const uintptr_t next = static_cast<uintptr_t>(m.gregs[REG_RIP]);
  const uintptr_t pc = next - 1;
  for (int i = 0; i < kMaxPatches; ++i) {
    Patch& p = g_patches[i];
    uint64_t state = p.state.load(std::memory_order_acquire);
    if ((state & kPhaseMask) == kFree ||
        p.pc.load(std::memory_order_acquire) != pc)
      continue;
    // Being put back, or this thread has a sample waiting for the stub (a
    // signal handler it runs reached the int3), or another thread took it
    // just now: go on as past the nop.
    if ((state & kPhaseMask) != kArmed || LabelSampleWaiting() ||
        !p.state.compare_exchange_strong(state,
                                         (state & ~kPhaseMask) | kTaken,
                                         std::memory_order_acq_rel)) {
      Count(Stats().labels_passed);
      // (state: as the failed CAS left it, the word it saw last. Not when
      // this thread's own sample waits: the taker may be this thread.)
      if (!LabelSampleWaiting()) WaitWhileTaken(p, state);
      return true;
    }
    if (p.access.probe) {
      g_probe_hits.fetch_add(1, std::memory_order_relaxed);
      return true;  // Int3Probe puts the nop back.
    }
    // This thread samples; the stub puts the nop back first
    // (Int3FinishSample), outside this handler.
    LabelAccess access = p.access;
    access.patch = i;
    access.patch_generation = state >> 2;
    TakeLabelSample(ucontext, pc, next, access);
    return true;
  }
  // A late trap: the int3 this thread ran was put back (and maybe patched
  // again) before its handler ran. Labels are 1-byte nops: going on past it
  // is what the nop would have done. Any other int3 is somebody else's.
  if (EverPatched(pc)) {
    Count(Stats().labels_passed);
    return true;
  }
  return false;
}

void Int3FinishSample(int patch, uint64_t generation) {
  Settle(patch, generation, kTaken);
}

bool Int3Probe(uintptr_t pc, void (*run)(), std::string* evidence) {
  std::string why;
  TextWriter writer = TextWriter::kNone;
  WithLoadedText(pc, [&](int prot) {
    writer = ChooseTextWriter(pc, prot, &why);
    return true;
  });
  if (writer == TextWriter::kNone) {
    *evidence = why.empty() ? "cannot find trapsan's own text" : why;
    return false;
  }
  LabelAccess probe;
  probe.probe = true;
  g_probe_hits.store(0);
  const uint64_t start = MonotonicNs();
  if (!Int3ArmLabel(pc, probe)) {
    *evidence = absl::StrCat("cannot patch a label's nop to int3 (through ",
                             TextWriterName(writer), ")");
    return false;
  }
  const ThreadPatch mine = t_patch;
  run();  // traps once: the handler counts it
  Settle(mine.index, mine.generation, kTaken);
  run();  // no trap: the nop is back
  const int hits = g_probe_hits.load();
  const bool nop_back = *reinterpret_cast<volatile uint8_t*>(pc) == kNop;
  Settle(mine.index, mine.generation, kArmed);  // (when it did not trap)
  t_patch.index = -1;
  if (hits == 1 && nop_back) {
    *evidence = absl::StrCat("int3 self-test trap delivered in ",
                             (MonotonicNs() - start) / 1000, " us; text "
                             "written through ", TextWriterName(writer));
    return true;
  }
  *evidence = absl::StrCat("an int3 patched on a label produced ", hits,
                           " SIGTRAPs, not 1",
                           nop_back ? "" : ", and its nop was not put back");
  return false;
}

void Int3DisarmThread() {
  Settle(t_patch.index, t_patch.generation, kArmed);
  t_patch.index = -1;
}

void Int3ResetInChild() {
  // Only this thread lives on: locks held by other threads are free, and
  // every patch, whoever armed it, is put back in the child's text.
  g_arm_lock.store(false, std::memory_order_relaxed);
  t_arming = false;
  ResetTextPatchInChild();
  t_patch = ThreadPatch();
  // Not through dl_iterate_phdr: the dynamic linker's lock may have been
  // held by another thread of the parent. The child's text is the parent's
  // at the fork, where these labels were patched (an int3 is checked for).
  for (Patch& p : g_patches) {
    const uint64_t state = p.state.load(std::memory_order_relaxed);
    if ((state & kPhaseMask) == kFree) continue;
    const uintptr_t pc = p.pc.load(std::memory_order_relaxed);
    PatchTextByte(pc, kInt3, kNop, p.prot);
    p.state.store((state & ~kPhaseMask) | kFree, std::memory_order_relaxed);
  }
}

}  // namespace trapsan
