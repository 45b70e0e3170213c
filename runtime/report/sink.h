// Where reports and trapsan's other messages go: log_path and format
// (docs/options.md, docs/report-format.md).
//
//   log_path=stderr|stdout   reports there
//   log_path=/dev/null       reports (and messages) discarded
//   log_path=<char device or FIFO that exists>  written as is (/dev/tty)
//   log_path=PREFIX          PREFIX[.EXE].PID[.EXT], created at the process's
//                            first report: a process with nothing to report
//                            leaves no file. EXT: none (text), jsonl, sarif.
//                            A file an earlier process of the same pid left
//                            is emptied first; an exec'd image adds to the
//                            file of the image before it (SARIF: its results
//                            join that log).
//
// Messages (start-up lines, warnings, stats, the exit line) go to the report
// file once it exists in text format, else to stderr; in json and sarif
// formats always to stderr, so the report stream holds only JSON or SARIF.
// quiet=1 drops every message of kind kInfo: by
// construction, only reports, errors and what was asked for (stats, help,
// print_suppressions) are printed. (Also the symbolizer's own stderr then
// goes to /dev/null: symbolizer.cpp.)
//
// Not thread-safe: the reporter calls it under its lock.
#ifndef TRAPSAN_RUNTIME_REPORT_SINK_H_
#define TRAPSAN_RUNTIME_REPORT_SINK_H_

#include <cstdint>
#include <string>

namespace trapsan {

enum class ReportFormat { kText, kJson, kSarif };

// What a message is, for quiet=1: an error (a bad option, an unreadable
// file), output the user asked for, or anything else (start-up lines,
// warnings, the exit summary), which quiet drops.
enum class MessageKind { kInfo, kError, kRequested };

// quiet=1 in the options in effect.
bool QuietOutput();
ReportFormat CurrentFormat();  // from the options in effect

// This process's executable (/proc/self/exe), or "" if unknown.
const std::string& ExePath();

// When this process started (fork or clone; an exec keeps it), in
// CLOCK_REALTIME nanoseconds, to the kernel's clock tick (10 ms); 0 if
// unknown.
int64_t ProcessStartRealtimeNs();

// How much earlier than the process's start a file may have been written
// and still be the process's own: the start is rounded down to a tick, file
// times lag by up to a jiffy. A pid reused within this long is unheard of.
constexpr int64_t kLogFileTimeSlackNs = 100 * 1000000;

// A report file last modified at `file_mtime_ns` (CLOCK_REALTIME) was left
// by an earlier process with this pid, not by this process's earlier image
// (exec): it was written before this process started. False when the start
// is unknown (0).
bool LogFileOfEarlierProcess(int64_t file_mtime_ns, int64_t process_start_ns);

// The report file's name for process `pid` (PREFIX[.EXE].PID[.EXT]).
std::string LogFileName(const std::string& prefix, const std::string& exe,
                        bool with_exe, int pid, ReportFormat format);

class Sink {
 public:
  // From the options in effect. Says once if a log_path file could not be
  // created (its directory is missing or not writable); reports then go to
  // stderr.
  void Configure();

  // A text report or a JSON line: appended to the report stream.
  void WriteReport(const std::string& text);

  // One SARIF result object (sarif.h). Into a file: the file is rewritten in
  // place so that it is a complete SARIF log after every result (one
  // pwrite). Into a stream: kept, and written as one log by Finish().
  void WriteSarifResult(const std::string& result);

  // A message (not a report); see the header comment.
  void WriteMessage(MessageKind kind, const std::string& text);

  // At exit: a SARIF log kept for stderr/stdout is written.
  void Finish();

  // fork(): the child writes its own file; nothing of its parent's.
  void ResetInChild();

 private:
  int ReportFd(bool* transient);  // -1: discard
  void Done(int fd, bool transient);
  // The SARIF file `fd` of `size` bytes ends as a log this runtime writes
  // (the image before an exec left it): its results are continued.
  bool ContinueSarifLog(int fd, int64_t size);

  bool discard_ = false;
  bool fixed_ = false;        // stderr/stdout/device: fixed_fd_
  int fixed_fd_ = 2;
  int fd_ = -1;               // the report file, once created
  int fd_pid_ = 0;            // ...for this process
  bool created_ = false;      // this process's file exists
  int failed_pid_ = 0;        // cannot create it (said once)
  int said_pid_ = 0;
  uint64_t sarif_tail_at_ = 0;  // offset of the SARIF log's closing part
  bool sarif_continued_ = false;  // this image's results follow an earlier's
  std::string sarif_results_;   // SARIF results kept for a stream
};

Sink& GetSink();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_SINK_H_
