#include "unwind.h"

#include <ucontext.h>

#include "absl/debugging/stacktrace.h"
#include "runtime/linux/safe_read.h"

namespace trapsan {
namespace {

// Reads two words at `fp` without faulting. Async-signal-safe.
bool ReadFrame(uintptr_t fp, uintptr_t stack_lo, uintptr_t stack_hi,
               uintptr_t out[2]) {
  if (stack_hi != 0) {
    if (fp < stack_lo || fp + 2 * sizeof(uintptr_t) > stack_hi) return false;
    out[0] = reinterpret_cast<const uintptr_t*>(fp)[0];
    out[1] = reinterpret_cast<const uintptr_t*>(fp)[1];
    return true;
  }
  return SafeRead(fp, out, 2 * sizeof(uintptr_t));
}

}  // namespace

void UnwindFromSignalContext(const void* ucontext, uintptr_t stack_lo,
                             uintptr_t stack_hi, StackTrace* out) {
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  out->depth = 0;
#if defined(__x86_64__)
  uintptr_t pc = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  uintptr_t fp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RBP]);
  uintptr_t sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  out->pcs[out->depth++] = pc;
  // Frames lie above the interrupted stack pointer.
  if (stack_hi != 0 && sp > stack_lo) stack_lo = sp;
  while (out->depth < kMaxFrames) {
    if (fp % sizeof(uintptr_t) != 0 || fp < sp) break;
    uintptr_t frame[2];  // saved rbp, return address
    if (!ReadFrame(fp, stack_lo, stack_hi, frame)) break;
    if (frame[1] < 4096) break;
    out->pcs[out->depth++] = frame[1];
    if (frame[0] <= fp || frame[0] - fp > (uintptr_t{1} << 24)) break;
    fp = frame[0];
  }
#else
  (void)uc;
  (void)stack_lo;
  (void)stack_hi;
#endif
}

void CopyRegisters(const void* ucontext, uint64_t out[16]) {
#if defined(__x86_64__)
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  static constexpr int kOrder[16] = {
      REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
      REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};
  for (int i = 0; i < 16; ++i) {
    out[i] = static_cast<uint64_t>(uc->uc_mcontext.gregs[kOrder[i]]);
  }
#else
  (void)ucontext;
  for (int i = 0; i < 16; ++i) out[i] = 0;
#endif
}

void CaptureStack(uintptr_t from_pc, StackTrace* out) {
  void* frames[kMaxFrames + 8];
  int n = absl::GetStackTrace(frames, kMaxFrames + 8, 0);
  int start = -1;
  for (int i = 0; i < n; ++i) {
    if (reinterpret_cast<uintptr_t>(frames[i]) == from_pc) {
      start = i;
      break;
    }
  }
  out->depth = 0;
  if (start < 0) {  // Not found (tail call?): keep from_pc alone on top.
    out->pcs[out->depth++] = from_pc;
    start = n;
  }
  for (int i = start; i < n && out->depth < kMaxFrames; ++i) {
    out->pcs[out->depth++] = reinterpret_cast<uintptr_t>(frames[i]);
  }
}

}  // namespace trapsan
