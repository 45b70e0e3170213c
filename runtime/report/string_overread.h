// A trapped vector load of a C library string routine: it may have read past
// the end of its data. glibc's string scanners (strlen, rawmemchr, strchr,
// strcmp, ... in their SSE/AVX/EVEX variants) load whole aligned vectors and
// look for the terminator in them, so the bytes after a string's end are
// loaded too, up to the vector's end: another object there, watched, traps.
// Natively, leveldb's suite reported "data race in __rawmemchr_evex /
// std::__insertion_sort": a 32-byte load of one thread's string, against an
// element of another thread's vector being sorted in the next heap chunk.
// Such a pair is only a possible race (races_possible; reported with
// report_possible=1). Other vector loads (memcpy's, a vectorized loop's) read
// what they were asked to, and stay races.
#ifndef TRAPSAN_RUNTIME_REPORT_STRING_OVERREAD_H_
#define TRAPSAN_RUNTIME_REPORT_STRING_OVERREAD_H_

#include "runtime/core/race_event.h"

namespace trapsan {

// For the reporter (ordinary context: symbolizes, decodes code memory).
bool MayBeStringOverread(const RaceEvent& event);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_STRING_OVERREAD_H_
