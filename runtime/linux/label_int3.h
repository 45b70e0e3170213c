// Label sites armed by patching text: where execution breakpoints do not
// deliver (the start-up self-test of labels.h saw no trap, or perf is
// refused), a check that runs out patches its label's 1-byte nop (0x90) to
// int3 (0xCC). The first thread to get there traps (SIGTRAP, si_code
// SI_KERNEL, RIP one past the int3): that thread takes the sample, puts
// the nop back and samples the access (its registers are what the label's note
// describes, whichever thread it is). Another thread that reached the int3
// before the nop was back is resumed past it (what the nop would have done)
// and counted in labels_passed.
//
// A label is patched once however many threads arm it (a table of patched
// labels, one entry per label, a generation per arming). Text is written by
// text_patch.h (/proc/thread-self/mem, else mprotect), only while the
// dynamic linker's list says the label's object is loaded (the write is made
// inside dl_iterate_phdr, which holds off dlclose): unmapped text is never
// written. The SIGTRAP handler writes nothing and takes no lock: the thread
// that takes the sample puts the nop back in __trapsan_label_resume's slow
// path, before sampling. A trap is ours only when RIP-1 is a label trapsan
// has patched (a lock-free set of every label ever patched: the handler of a
// thread preempted after its int3 may run after the nop was put back, or
// patched again); any other int3 is chained as before.
#ifndef TRAPSAN_RUNTIME_LINUX_LABEL_INT3_H_
#define TRAPSAN_RUNTIME_LINUX_LABEL_INT3_H_

#include <signal.h>

#include <cstdint>
#include <string>

namespace trapsan {

struct LabelAccess;  // labels.h

// Patches the label at `pc` for `access`, after restoring the calling
// thread's previous label if nobody reached it. True when the label is
// patched (by this call, or already for another thread's expiry, or its nop
// is being put back after a sample just taken there: expiries that meet on
// one label share its sample). False when it
// cannot be: not a nop, its object not loaded, mprotect refused, or every
// table entry in use.
bool Int3ArmLabel(uintptr_t pc, const LabelAccess& access);

// The SIGTRAP handler's part for si_code SI_KERNEL. True when the trap was
// at one of our patched labels (handled); false: not ours, chain it.
// Async-signal-safe.
bool Int3HandleTrap(const siginfo_t* si, void* ucontext);

// The stub of a thread that took a sample at a patched label puts its nop
// back (normal context), before sampling.
void Int3FinishSample(int patch, uint64_t generation);

// The self-test: patches the label at `pc` (a nop of trapsan's own), calls
// `run` twice (the first call must trap once, the second not at all, the
// nop being back) and checks the nop is back. *evidence says what it saw.
bool Int3Probe(uintptr_t pc, void (*run)(), std::string* evidence);

// Thread exit: restores the thread's label if nobody reached it.
void Int3DisarmThread();

// fork(), in the child: restores every patched label (the child's copy of
// the text), frees the table and the lock.
void Int3ResetInChild();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_LABEL_INT3_H_
