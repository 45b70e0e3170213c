// The reporter: turns RaceEvents (runtime/core/race_event.h) into printed
// reports. Applies the suppressions, symbolizes both stacks, describes the
// location and the threads, deduplicates, enforces max_reports, formats
// (text, json or sarif) and writes to the sink (sink.h: stderr, stdout or
// the process's log_path file), then calls the report callback and honours
// halt_on_error.
//
// Thread-safe: one report at a time, under the reporter's lock; the callback
// runs after the report was printed, without that lock (one at a time too),
// so that it may exit().
#ifndef TRAPSAN_RUNTIME_REPORT_REPORTER_H_
#define TRAPSAN_RUNTIME_REPORT_REPORTER_H_

#include <string>

#include "trapsan/trapsan.h"
#include "runtime/report/sink.h"

namespace trapsan {

void ConfigureReporter();  // from the options in effect
void SetReportCallback(trapsan_report_callback callback, void* user_data);

// Writes a line (or several) to the sink: start-up and exit messages,
// warnings (MessageKind::kInfo, which quiet=1 drops); errors and output the
// user asked for (stats, help) with their kind.
void PrintToSink(const std::string& text);
void PrintToSink(MessageKind kind, const std::string& text);

// At exit, once per process: print_suppressions, the JSON summary line, a
// SARIF log kept for stderr/stdout.
void FinishReports();

// The calling thread runs the report callback: a process it ends (exit(),
// _exit()) ends with the status the callback chose, not with `exitcode`.
bool InReportCallback();

// Ends a process that reported a race: abort() with abort_on_error, else
// exit_group(exitcode). stdio is flushed first.
[[noreturn]] void ExitAfterRaces();

// Races reported (printed) so far, and found (including duplicates).
uint64_t RacesFound();

// How races were looked up in the suppressions: by symbolizing both stacks
// (the first time a pair of stacks is seen), or from the decision kept for
// that pair (no symbolization); the wall time each way took. For trapsan's
// tests (__trapsan_testonly_suppression_lookups).
struct SuppressionLookupCounts {
  uint64_t symbolized = 0, symbolized_ns = 0;
  uint64_t cached = 0, cached_ns = 0;
};
SuppressionLookupCounts SuppressionLookups();

// fork(): the reporter is locked across fork(); the child rebuilds it, with
// its own sink file and no races of its parent's.
void LockReporterForFork();
void UnlockReporterAfterFork();
void ResetReporterInChild();  // unlocks too

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_REPORTER_H_
