// The JSON form of a report (format=json, docs/report-format.md): one object
// per line (JSON Lines), so a process killed between reports leaves only
// complete lines. Pure: no I/O, no global state; tests pin it.
#ifndef TRAPSAN_RUNTIME_REPORT_JSON_H_
#define TRAPSAN_RUNTIME_REPORT_JSON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "runtime/report/format.h"

namespace trapsan {

// The schema's version, in every object ("schema_version"). Bumped only when
// a field changes meaning or goes away; new fields may appear without it.
inline constexpr int kReportSchemaVersion = 1;

// What a report object says besides the model.
struct JsonReportContext {
  std::string exe;          // the executable's path
  uint64_t report_index = 0;  // 1 for the process's first printed report
};

// `s` as a JSON string literal, quotes included. Invalid UTF-8 bytes and
// control characters are escaped (\u00XX), so the line stays valid JSON.
std::string JsonString(absl::string_view s);

// "0x1a2b": addresses, pcs, offsets and values, which may exceed 2^53.
std::string JsonHex(uint64_t v);

// The two names a race is deduplicated by (format.h: DedupNames), as the
// "functions" field: sorted, except for a race at unknown origin.
std::vector<std::string> DedupNames(const ReportModel& model);

// One "race" object on one line, ending in '\n'.
std::string FormatJsonReport(const ReportModel& model,
                             const FormattedReport& text,
                             const JsonReportContext& context);

// The end of a process's run: counters and each deduplicated race's count.
struct RaceCount {
  std::string title;
  std::vector<std::string> functions;
  uint64_t count = 0;      // times found, the printed one included
  bool printed = false;    // false: over max_reports
};
struct RunSummary {
  int pid = 0;
  std::string exe;
  uint64_t races_found = 0;
  uint64_t races_reported = 0;
  uint64_t duplicates = 0;
  uint64_t suppressed = 0;
  std::vector<RaceCount> races;
};

// One "summary" object on one line, ending in '\n'.
std::string FormatJsonSummary(const RunSummary& summary);

// A stack as a JSON array of frame objects (shared with the SARIF writer's
// properties).
std::string JsonStack(const std::vector<Frame>& frames);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_JSON_H_
