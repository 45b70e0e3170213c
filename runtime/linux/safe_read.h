// Reading this process's memory without faulting, through the kernel
// (process_vm_readv on ourselves): an unmapped address fails instead of
// raising SIGSEGV, and a watchpoint does not see the read (its events
// exclude the kernel). Async-signal-safe; costs a system call.
#ifndef TRAPSAN_RUNTIME_LINUX_SAFE_READ_H_
#define TRAPSAN_RUNTIME_LINUX_SAFE_READ_H_

#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace trapsan {

// True if all `len` bytes at `addr` were copied to `out`.
inline bool SafeRead(uintptr_t addr, void* out, size_t len) {
  iovec local{out, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) ==
         static_cast<ssize_t>(len);
}

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_SAFE_READ_H_
