// The SARIF 2.1.0 form of reports (format=sarif, docs/report-format.md): one
// log per process, one result per deduplicated race, each side's stack as a
// thread flow of the result's code flow (what code scanning shows as the
// race's steps), the other side's top frame as a related location. Pure: no
// I/O; the sink (sink.h) assembles head + results + tail.
#ifndef TRAPSAN_RUNTIME_REPORT_SARIF_H_
#define TRAPSAN_RUNTIME_REPORT_SARIF_H_

#include <string>

#include "runtime/report/format.h"
#include "runtime/report/json.h"

namespace trapsan {

// The log up to the first result: "{...,"results":[" (no newline at the end).
std::string SarifLogHead(int pid, const std::string& exe);
// What closes the log after the last result.
std::string SarifLogTail();

// One result object, on one line.
std::string FormatSarifResult(const ReportModel& model,
                              const FormattedReport& text,
                              const JsonReportContext& context);

// A file path as a SARIF artifact URI: absolute paths as file:// URIs,
// relative ones (after strip_path_prefix) as relative references; bytes
// outside the unreserved set percent-encoded.
std::string ArtifactUri(const std::string& path);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_SARIF_H_
