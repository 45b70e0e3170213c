#include "kernel.h"

#include <sys/utsname.h>

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace trapsan {

bool ParseKernelRelease(const std::string& release, KernelVersion* out) {
  int major = 0, minor = 0, patch = 0;
  int n = sscanf(release.c_str(), "%d.%d.%d", &major, &minor, &patch);
  if (n < 2) return false;
  out->major = major;
  out->minor = minor;
  out->patch = n >= 3 ? patch : 0;
  out->release = release;
  return true;
}

KernelVersion RunningKernel() {
  KernelVersion v;
  utsname u;
  if (uname(&u) == 0) ParseKernelRelease(u.release, &v);
  return v;
}

bool AtLeast(const KernelVersion& v, int major, int minor) {
  return v.major > major || (v.major == major && v.minor >= minor);
}

std::string KernelWarning(const KernelVersion& v) {
  if (v.major == 0) return "";
  if (!AtLeast(v, 5, 13)) {
    return absl::StrCat("kernel ", v.release,
                        " predates perf sigtrap (Linux 5.13): no hardware "
                        "watchpoints");
  }
  if (!AtLeast(v, 6, 1)) {
    return absl::StrCat(
        "kernel ", v.release,
        " predates Linux 6.1's fix of lost SIGTRAPs (commit ca6c21327c6a "
        "\"perf: Fix missing SIGTRAPs\"): some races can be missed and a "
        "trap can be lost for good after an event is re-armed");
  }
  return "";
}

}  // namespace trapsan
