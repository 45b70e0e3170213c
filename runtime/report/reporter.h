// The reporter: turns RaceEvents (runtime/core/race_event.h) into printed
// reports. Symbolizes both stacks, describes the location and the threads,
// deduplicates, enforces max_reports, writes to the sink (stderr, stdout or
// log_path.<pid>), then calls the report callback and honours halt_on_error.
//
// Thread-safe: one report at a time, under the reporter's lock; the callback
// runs after the report was printed, without that lock (one at a time too),
// so that it may exit().
#ifndef TRAPSAN_RUNTIME_REPORT_REPORTER_H_
#define TRAPSAN_RUNTIME_REPORT_REPORTER_H_

#include <string>

#include "trapsan/trapsan.h"

namespace trapsan {

void ConfigureReporter();  // from the options in effect
void SetReportCallback(trapsan_report_callback callback, void* user_data);

// Writes a line (or several) to the sink: for start-up and exit messages.
void PrintToSink(const std::string& text);

// Races reported (printed) so far, and found (including duplicates).
uint64_t RacesFound();

// fork(): the reporter is locked across fork(); the child rebuilds it, with
// its own sink file and no races of its parent's.
void LockReporterForFork();
void UnlockReporterAfterFork();
void ResetReporterInChild();  // unlocks too

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_REPORTER_H_
