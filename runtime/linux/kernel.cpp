#include "kernel.h"

#include <sys/utsname.h>

#include <cstdio>

#include "absl/strings/str_cat.h"

namespace trapsan {

bool ParseKernelRelease(const std::string& release, KernelVersion* out) {
  int major = 0, minor = 0, patch = 0;
  int n = sscanf(release.c_str(), "%d.%d.%d", &major, &minor, &patch);
  if (n < 2 || major <= 0 || minor < 0) return false;
  out->major = major;
  out->minor = minor;
  out->patch = n >= 3 && patch >= 0 ? patch : 0;
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

const std::vector<KernelChange>& KernelChanges() {
  static const std::vector<KernelChange>* changes = new std::vector<KernelChange>{
      {"sigtrap", "97ba62b27867",
       "perf: Add support for SIGTRAP on perf events", 5, 13,
       "no synchronous SIGTRAP from perf events: no hardware backend", true},
      {"remove_on_exec", "2e498d0a74e5",
       "perf: Add support for event removal on exec", 5, 13,
       "sigtrap events cannot be opened (sigtrap requires remove_on_exec)",
       true},
      {"inherit_thread", "2b26f0aa0049",
       "perf: Support only inheriting events if cloned with CLONE_THREAD", 5,
       13, "threads created later would not share the watchpoints", true},
      {"sigtrap_permissions", "9d7a6c95f62b",
       "perf: Fix required permissions if sigtrap is requested", 5, 14,
       "sigtrap events on other tasks were allowed without the permission to "
       "signal them (no effect on trapsan's own threads)",
       false},
      {"async_sigtrap", "78ed93d72ded",
       "signal: Deliver SIGTRAP on perf event asynchronously if blocked", 5, 18,
       "a trap in a thread with SIGTRAP blocked is forced through: the "
       "process can be killed instead of the trap being deferred",
       false},
      {"missing_sigtraps", "ca6c21327c6a", "perf: Fix missing SIGTRAPs", 6, 1,
       "SIGTRAPs can be lost (a pending disable consumed by a racing "
       "sched-out, after which every later trap of the event is lost too) or "
       "reach the wrong task after a migration: races go unreported",
       false},
      {"pending_task_uaf", "517e6a301f34", "perf: Fix perf_pending_task() UaF",
       6, 1,
       "a task exiting with a SIGTRAP pending can use freed memory in the "
       "kernel",
       false},
      {"exit_leak", "2fd5ad3f310d", "perf: Fix event leak upon exit", 6, 10,
       "a thread exiting with a SIGTRAP pending leaks its event",
       false},
      {"exec_leak", "3a5465418f5f",
       "perf: Fix event leak upon exec and file release", 6, 10,
       "exec with a SIGTRAP pending leaks the event", false},
  };
  return *changes;
}

std::vector<const KernelChange*> MissingChanges(const KernelVersion& v) {
  std::vector<const KernelChange*> missing;
  for (const KernelChange& c : KernelChanges()) {
    if (!AtLeast(v, c.major, c.minor)) missing.push_back(&c);
  }
  return missing;
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
