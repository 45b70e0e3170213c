// Stack walking from a signal's ucontext, async-signal-safe: the frame-pointer
// chain starting at the interrupted RIP/RBP, every step checked against the
// thread's stack bounds (or, when those are unknown, read with
// process_vm_readv so a bad pointer cannot fault). Code built without frame
// pointers loses frames but never crashes the walk.
#ifndef TRAPSAN_RUNTIME_LINUX_UNWIND_H_
#define TRAPSAN_RUNTIME_LINUX_UNWIND_H_

#include <cstdint>

#include "runtime/core/access.h"

namespace trapsan {

// pcs[0] = the interrupted instruction pointer, then return addresses.
void UnwindFromSignalContext(const void* ucontext, uintptr_t stack_lo,
                             uintptr_t stack_hi, StackTrace* out);

// Copies rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8-r15 from the context.
void CopyRegisters(const void* ucontext, uint64_t out[16]);

// The calling code's stack, starting at return address `from_pc` if it is
// found among the frames (the frames above it, trapsan's own, are dropped).
void CaptureStack(uintptr_t from_pc, StackTrace* out);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_UNWIND_H_
