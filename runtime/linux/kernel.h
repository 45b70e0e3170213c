// The running kernel's version, and what trapsan can trust on it.
#ifndef TRAPSAN_RUNTIME_LINUX_KERNEL_H_
#define TRAPSAN_RUNTIME_LINUX_KERNEL_H_

#include <string>

namespace trapsan {

struct KernelVersion {
  int major = 0, minor = 0, patch = 0;
  std::string release;  // uname -r
};

KernelVersion RunningKernel();
// Parses "6.1.0-13-amd64" and the like. False if it does not start with N.N.
bool ParseKernelRelease(const std::string& release, KernelVersion* out);

bool AtLeast(const KernelVersion& v, int major, int minor);

// One line on what the kernel offers trapsan, e.g. a warning before 6.1.
// Empty when there is nothing to warn about.
std::string KernelWarning(const KernelVersion& v);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_KERNEL_H_
