// The running kernel's version, the table of perf/signal changes trapsan
// depends on, and what it can trust on a given kernel.
//
// A version tells what mainline contained; distributions backport fixes to
// older series, so "missing by version" means "not known to be there":
// tools/kcheck (trapsan-kcheck) measures the properties themselves.
#ifndef TRAPSAN_RUNTIME_LINUX_KERNEL_H_
#define TRAPSAN_RUNTIME_LINUX_KERNEL_H_

#include <string>
#include <vector>

namespace trapsan {

struct KernelVersion {
  int major = 0, minor = 0, patch = 0;
  std::string release;  // uname -r
};

KernelVersion RunningKernel();
// Parses "6.1.0-13-amd64" and the like. False if it does not start with N.N.
bool ParseKernelRelease(const std::string& release, KernelVersion* out);

bool AtLeast(const KernelVersion& v, int major, int minor);

// One mainline change trapsan's hardware backend depends on.
struct KernelChange {
  const char* id;        // short name, stable: used in kcheck's JSON
  const char* commit;    // mainline commit (12 hex digits)
  const char* title;     // its subject line
  int major, minor;      // first mainline release that has it
  // What goes wrong without it, as trapsan sees it.
  const char* without;
  // Without it trapsan cannot run its hardware backend at all (a feature),
  // rather than run with a known risk (a fix).
  bool required;
};

// Every change, oldest first.
const std::vector<KernelChange>& KernelChanges();

// The changes a kernel of version `v` lacks by its version.
std::vector<const KernelChange*> MissingChanges(const KernelVersion& v);

// One line on what the kernel offers trapsan, e.g. a warning before 6.1.
// Empty when there is nothing to warn about.
std::string KernelWarning(const KernelVersion& v);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_KERNEL_H_
