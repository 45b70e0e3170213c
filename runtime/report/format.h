// The text of a report (docs/report-format.md), from an already symbolized
// model. Pure: no I/O, no global state, so tests pin it line by line.
#ifndef TRAPSAN_RUNTIME_REPORT_FORMAT_H_
#define TRAPSAN_RUNTIME_REPORT_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/report/symbolizer.h"

namespace trapsan {

struct AccessModel {
  std::string kind;   // "write", "read" or "access"
  uint32_t size = 0;  // 0: unknown
  uintptr_t addr = 0;
  uint32_t thread_id = 0;
  int tid = 0;
  bool thread_known = true;  // thread_id is valid
  bool late = false;         // the trap arrived after the window closed
  // The trap's SIGTRAP was blocked and delivered later: the stack is where
  // it was delivered, not where the access was made.
  bool async = false;
  std::vector<Frame> frames;
};

struct ThreadModel {
  uint32_t id = 0;
  int tid = 0;
  std::string name;
  bool running = true;
  bool existed_before_init = false;
  bool is_initial = false;
  uint32_t parent_id = 0;
  std::vector<Frame> creation;
};

struct ReportModel {
  int pid = 0;
  bool unknown_origin = false;
  bool watcher_known = true;  // false: a late trap whose window was forgotten
  AccessModel first;          // the sampled access (the watcher)
  AccessModel second;         // the other access, unless unknown_origin
  std::string location;
  bool value_changed = false;
  uint64_t old_value = 0, new_value = 0;
  std::vector<ThreadModel> threads;
};

struct FormattedReport {
  std::string title;    // "data race in f / g"
  std::string summary;  // "data race file.c:12 in f"
  std::string text;     // the whole report, ending in a newline
};

FormattedReport FormatReport(const ReportModel& model);

// "#3 function file:line (module+0xoff)"; the parts that are known.
std::string FormatFrame(int index, const Frame& frame);

// The name a frame goes by in titles and dedup keys: its function, else
// module+offset, else its pc.
std::string FrameName(const Frame& frame);

// What a side of a race is called in the title: its top frame's name, or
// kAsyncTrapName for an asynchronous trap, whose stack is not the access's.
inline constexpr char kAsyncTrapName[] = "<asynchronous trap>";

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_FORMAT_H_
