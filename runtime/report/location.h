// Describes where an address lives: a global variable, a thread's stack, the
// heap or another mapping. For the "Location is ..." line of a report.
#ifndef TRAPSAN_RUNTIME_REPORT_LOCATION_H_
#define TRAPSAN_RUNTIME_REPORT_LOCATION_H_

#include <cstdint>
#include <string>

namespace trapsan {

// E.g. "global 'counter' of size 4 at 0x55d0c0a0e014 (racy+0x4014)".
std::string DescribeLocation(uintptr_t addr);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_LOCATION_H_
