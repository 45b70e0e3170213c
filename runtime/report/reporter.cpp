#include "reporter.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <new>

#include "absl/strings/str_cat.h"
#include "runtime/core/counters.h"
#include "runtime/core/options.h"
#include "runtime/core/race_event.h"
#include "runtime/linux/exit.h"
#include "runtime/linux/fd_reserve.h"
#include "runtime/linux/threads.h"
#include "runtime/report/decode.h"
#include "runtime/report/dedup.h"
#include "runtime/report/format.h"
#include "runtime/report/location.h"
#include "runtime/report/symbolizer.h"

namespace trapsan {
namespace {

struct Reporter {
  std::mutex mu;  // A pthread mutex: it survives fork().
  // One report callback at a time; not held with `mu` (the callback may
  // exit(), and trapsan's exit handler prints under `mu`).
  std::mutex callback_mu;
  Deduplicator dedup;
  int fd = 2;
  bool fd_opened = false;  // fd is our log file
  int fd_pid = 0;          // the process the log file was opened for
  int failed_pid = 0;      // the process that cannot open it (said once)
  int said_pid = 0;        // the process that said it could not
  int transient_fd = -1;   // opened for one write (no descriptor reserve)
};

// Never destroyed: reports can happen during exit. Built on first use:
// initialization runs from a constructor, before dynamic initializers.
Reporter& GetReporter() {
  static Reporter* reporter = new Reporter;
  return *reporter;
}

std::atomic<trapsan_report_callback> g_callback{nullptr};
std::atomic<void*> g_callback_data{nullptr};

// The sink, opened lazily so a fork child writes to its own <prefix>.<pid>.
int SinkFd(Reporter& r) {
  const Options& o = GetOptions();
  if (o.log_path == "stderr") return 2;
  if (o.log_path == "stdout") return 1;
  int pid = getpid();
  if (r.fd_opened && r.fd_pid == pid) return r.fd;
  if (r.fd_opened) close(r.fd);
  r.fd_opened = false;
  // The error is said once per process; later writes go to stderr without
  // trying again, unless it was for want of a free descriptor.
  if (r.failed_pid == pid) return 2;
  std::string path = absl::StrCat(o.log_path.c_str(), ".", pid);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  // Kept in the descriptor reserve (linux/fd_reserve.h); where there is
  // none, opened for each write (WriteToSink closes it).
  std::string no_reserve;
  const bool keep = fd >= 0 && HaveFdReserve(&no_reserve);
  if (keep) fd = ReserveFd(fd);
  if (fd < 0) {
    const int e = errno;
    if (r.said_pid != pid) {
      std::string msg = absl::StrCat(
          "trapsan: ERROR: cannot open log_path '",
          EscapeForMessage(path, sizeof(o.log_path.text) + 16), "': ",
          strerror(e), "; reporting to stderr\n");
      (void)!write(2, msg.data(), msg.size());
      r.said_pid = pid;
    }
    if (e != EMFILE && e != ENFILE) r.failed_pid = pid;
    return 2;
  }
  if (!keep) {
    r.transient_fd = fd;
    return fd;
  }
  r.fd = fd;
  r.fd_opened = true;
  r.fd_pid = pid;
  return fd;
}

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Writes to the sink; closes a log file that is not kept (no reserve).
void WriteToSink(Reporter& r, const std::string& text) {
  const int fd = SinkFd(r);
  WriteAll(fd, text);
  if (fd == r.transient_fd) {
    close(fd);
    r.transient_fd = -1;
  }
}

std::vector<Frame> SymbolizeStack(const StackTrace& stack) {
  std::vector<Frame> frames;
  for (int i = 0; i < stack.depth; ++i) {
    // Every pc is one past an instruction of interest: a return address, or
    // the instruction after a trapping access. Look up the byte before it.
    uintptr_t pc = stack.pcs[i];
    for (Frame& f : GetSymbolizer().SymbolizeCode(pc - 1)) {
      f.pc = pc;
      frames.push_back(std::move(f));
    }
  }
  return frames;
}

const char* KindName(AccessKind kind) {
  switch (kind) {
    case AccessKind::kRead: return "read";
    case AccessKind::kWrite: return "write";
    default: return "access";
  }
}

// `watch`: the watched bytes, for decoding a trapped access; null otherwise.
AccessModel ModelAccess(const AccessInfo& a, bool late, bool async,
                        const WindowInfo* watch) {
  AccessModel m;
  AccessKind kind = a.kind;
  uint32_t size = a.size;
  m.async = async;
  if (a.pc_after_access && watch != nullptr && !async) {
    // A hardware trap: the instruction before pcs[0] says what it did.
    AccessKind decoded_kind;
    uint32_t decoded_size;
    if (DecodeTrappedAccess(a, watch->watch_addr, watch->watch_len,
                            &decoded_kind, &decoded_size) &&
        (kind == AccessKind::kUnknown || kind == decoded_kind)) {
      kind = decoded_kind;
      size = decoded_size;
    }
  }
  m.kind = KindName(kind);
  m.size = size;
  m.addr = a.addr;
  m.tid = a.tid;
  m.late = late;
  ThreadRecord thread;
  m.thread_known = FindThreadByTid(a.tid, &thread);
  m.thread_id = thread.id;
  m.frames = SymbolizeStack(a.stack);
  if (a.line != 0 && !m.frames.empty() && m.frames[0].line != 0) {
    m.frames[0].line = static_cast<int>(a.line);
  }
  return m;
}

void AddThread(int tid, ReportModel* model) {
  ThreadRecord t;
  if (!FindThreadByTid(tid, &t)) return;
  for (const ThreadModel& existing : model->threads) {
    if (existing.id == t.id) return;
  }
  ThreadModel m;
  m.id = t.id;
  m.tid = t.tid;
  m.name = ThreadName(t);
  m.running = t.running;
  m.existed_before_init = t.existed_before_init;
  m.is_initial = t.is_initial;
  m.parent_id = t.parent_id;
  m.creation = SymbolizeStack(t.creation);
  model->threads.push_back(std::move(m));
}

ReportModel BuildModel(const RaceEvent& e) {
  ReportModel m;
  m.pid = getpid();
  m.unknown_origin = e.unknown_origin;
  m.watcher_known = e.watcher_known;
  if (e.watcher_known) {
    m.first = ModelAccess(e.window.access, false, false, nullptr);
  }
  if (!e.unknown_origin) {
    m.second = ModelAccess(e.racer.access, e.late, e.racer.async,
                           e.watcher_known ? &e.window : nullptr);
  }
  uintptr_t addr = e.watcher_known ? e.window.access.addr : e.racer.access.addr;
  m.location = DescribeLocation(addr);
  m.value_changed = e.value_changed;
  m.old_value = e.old_value;
  m.new_value = e.new_value;
  if (e.watcher_known) AddThread(e.window.access.tid, &m);
  if (!e.unknown_origin) AddThread(e.racer.access.tid, &m);
  return m;
}

// The dedup key of one side: the function of its top frame (the innermost
// inlined one). Not the line: the same race is seen at the check call's line
// when a check meets an open window and at the access's line when a
// watchpoint traps, and the title (KCSAN style) names functions too.
std::string TopKey(const AccessInfo& a) {
  if (a.stack.depth == 0) return "<none>";
  std::vector<Frame> top = GetSymbolizer().SymbolizeCode(a.stack.pcs[0] - 1);
  return top.empty() ? "<none>" : FrameName(top[0]);
}

}  // namespace

void ConfigureReporter() {
  const Options& o = GetOptions();
  GetSymbolizer().Configure(o.symbolize, o.symbolizer_path.c_str());
}

void SetReportCallback(trapsan_report_callback callback, void* user_data) {
  g_callback_data.store(user_data, std::memory_order_relaxed);
  g_callback.store(callback, std::memory_order_release);
}

void PrintToSink(const std::string& text) {
  Reporter& r = GetReporter();
  std::lock_guard<std::mutex> lock(r.mu);
  WriteToSink(r, text);
}

uint64_t RacesFound() {
  return Stats().races_found.load(std::memory_order_relaxed);
}

void SubmitRace(const RaceEvent& event) {
  Reporter& r = GetReporter();
  const Options& o = GetOptions();
  Count(Stats().races_found);
  if (event.unknown_origin) Count(Stats().races_unknown_origin);

  std::unique_lock<std::mutex> lock(r.mu);
  std::string first_key =
      event.watcher_known ? TopKey(event.window.access) : "<unknown watcher>";
  std::string second_key =
      event.unknown_origin ? "<unknown origin>"
      : event.racer.async  ? kAsyncTrapName
                           : TopKey(event.racer.access);
  if (!r.dedup.FirstTime(first_key, second_key)) {
    Count(Stats().duplicates);
    GetSymbolizer().ReleaseDescriptors();
    return;
  }
  if (o.max_reports > 0 &&
      Stats().races_reported.load(std::memory_order_relaxed) >=
          static_cast<uint64_t>(o.max_reports)) {
    Count(Stats().duplicates);
    GetSymbolizer().ReleaseDescriptors();
    return;
  }
  ReportModel model = BuildModel(event);
  FormattedReport text = FormatReport(model);
  // Symbolized: no descriptor of the program's is held past this point.
  GetSymbolizer().ReleaseDescriptors();
  std::string warning = GetSymbolizer().TakeWarning();
  if (!warning.empty()) {
    WriteToSink(r, absl::StrCat("trapsan: WARNING: ", warning, "\n"));
  }
  // Printed before the callback runs, and the callback runs without the
  // reporter's lock: it may exit() (trapsan's exit handler prints the
  // summary under that lock), print or take as long as it likes.
  WriteToSink(r, text.text);
  Count(Stats().races_reported);
  trapsan_report_callback callback = g_callback.load(std::memory_order_acquire);
  if (callback != nullptr) {
    lock.unlock();
    std::lock_guard<std::mutex> callback_lock(r.callback_mu);
    trapsan_report report;
    report.kind = event.unknown_origin ? TRAPSAN_REPORT_UNKNOWN_ORIGIN
                                       : TRAPSAN_REPORT_DATA_RACE;
    report.title = text.title.c_str();
    report.summary = text.summary.c_str();
    report.text = text.text.c_str();
    report.address = event.window.watch_addr != 0 ? event.window.watch_addr
                                                  : event.racer.access.addr;
    report.watcher_tid = event.watcher_known ? event.window.access.tid : 0;
    report.racer_tid = event.unknown_origin ? 0 : event.racer.access.tid;
    report.late = event.late ? 1 : 0;
    callback(&report, g_callback_data.load(std::memory_order_relaxed));
  }
  if (o.halt_on_error) {
    if (!lock.owns_lock()) lock.lock();
    WriteToSink(r, "trapsan: halt_on_error=1: exiting after the first "
                        "report\n");
    fflush(nullptr);
    ExitImmediately(static_cast<int>(o.exitcode));
  }
}

void LockReporterForFork() { GetReporter().mu.lock(); }
void UnlockReporterAfterFork() { GetReporter().mu.unlock(); }
void ResetReporterInChild() {
  Reporter& r = GetReporter();
  r.dedup.Clear();
  GetSymbolizer().ForgetProcess();
  // The sink reopens for the child's pid on its first write; the log file
  // fd of the parent stays with the parent.
  if (r.fd_opened) {
    close(r.fd);
    r.fd_opened = false;
  }
  // Taken by LockReporterForFork() in the parent; a fresh one here. The
  // callback lock is not taken across fork (a callback may fork): a thread
  // of the parent's may have held it.
  new (&r.mu) std::mutex();
  new (&r.callback_mu) std::mutex();
}

}  // namespace trapsan
