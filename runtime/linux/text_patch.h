// Writing one byte of this process's own code (label_int3.h patches label
// nops to int3 and back). Two ways, chosen once by a self-test:
//  - /proc/thread-self/mem: the kernel writes read-only text as it does for
//    a debugger (FOLL_FORCE), with no change of protection. The file is
//    kept open in the descriptor reserve (KeptProcMemFd: checked before each
//    write, since a program may close every fd; a fork child opens its own),
//    else opened for each write and closed at once. About 9 us here.
//  - mprotect: the page is made RWX for the one-byte store and given its
//    segment's protection back, under a spin lock taken with every signal
//    blocked (two threads patching one page must not interleave). Used where
//    the kernel refuses forced writes (proc_mem.force_override=never,
//    /proc not mounted). About 35 us here (a VMA split and a TLB flush).
// Neither is used from a signal handler.
#ifndef TRAPSAN_RUNTIME_LINUX_TEXT_PATCH_H_
#define TRAPSAN_RUNTIME_LINUX_TEXT_PATCH_H_

#include <cstdint>
#include <string>

namespace trapsan {

enum class TextWriter { kNone, kProcMem, kMprotect };

// The self-test: rewrites the byte at `pc` (a nop of trapsan's own, in a
// segment of protection `prot`) with itself, by /proc/thread-self/mem, else
// by mprotect; the first way that works is used from then on. kNone (and
// *why) when neither does. TRAPSAN_TESTONLY_TEXT_WRITER=mprotect in the
// environment skips the first way (for tests).
TextWriter ChooseTextWriter(uintptr_t pc, int prot, std::string* why);
const char* TextWriterName(TextWriter w);

// Replaces the byte `expect` at `pc` with `value` (`prot`: the protection of
// its segment). False if `expect` is not there or the write failed.
bool PatchTextByte(uintptr_t pc, uint8_t expect, uint8_t value, int prot);

// fork(), in the child: a lock held by another thread of the parent is free.
void ResetTextPatchInChild();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_TEXT_PATCH_H_
