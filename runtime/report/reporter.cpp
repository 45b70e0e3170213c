#include "reporter.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/core/clock.h"
#include "runtime/core/counters.h"
#include "runtime/core/options.h"
#include "runtime/core/race_event.h"
#include "runtime/core/suppressions.h"
#include "runtime/linux/exit.h"
#include "runtime/linux/fd_reserve.h"
#include "runtime/linux/threads.h"
#include "runtime/report/decode.h"
#include "runtime/report/dedup.h"
#include "runtime/report/format.h"
#include "runtime/report/json.h"
#include "runtime/report/sarif.h"
#include "runtime/report/sink.h"
#include "runtime/report/location.h"
#include "runtime/report/string_overread.h"
#include "runtime/report/symbolizer.h"

namespace trapsan {
namespace {

struct Reporter {
  std::mutex mu;  // A pthread mutex: it survives fork().
  // One report callback at a time; not held with `mu` (the callback may
  // exit(), and trapsan's exit handler prints under `mu`).
  std::mutex callback_mu;
  Deduplicator dedup;
  Suppressions suppressions;
  // Pairs of stacks already matched against the suppressions: the rule that
  // suppressed them, or -1. A suppressed race is symbolized once.
  std::unordered_map<uint64_t, int> suppressed_stacks;
  // Races looked up in the suppressions: matched by symbolizing their
  // stacks, or answered by suppressed_stacks; and the time each way took
  // (trapsan's tests read these: SuppressionLookups()).
  SuppressionLookupCounts lookups;
  uint64_t suppressed = 0;
  uint64_t report_index = 0;
  bool finished = false;
};

// Never destroyed: reports can happen during exit. Built on first use:
// initialization runs from a constructor, before dynamic initializers.
Reporter& GetReporter() {
  static Reporter* reporter = new Reporter;
  return *reporter;
}

std::atomic<trapsan_report_callback> g_callback{nullptr};
// The calling thread is in the report callback: an exit from there is the
// callback's (its status stands).
thread_local bool t_in_callback = false;
std::atomic<void*> g_callback_data{nullptr};

// strip_path_prefix: the path after the prefix's first occurrence.
std::string StripPath(const std::string& file) {
  const char* prefix = GetOptions().strip_path_prefix.c_str();
  if (prefix[0] == '\0') return file;
  size_t at = file.find(prefix);
  return at == std::string::npos ? file : file.substr(at + strlen(prefix));
}

std::vector<Frame> SymbolizeStack(const StackTrace& stack) {
  std::vector<Frame> frames;
  for (int i = 0; i < stack.depth; ++i) {
    // Every pc is one past an instruction of interest: a return address, or
    // the instruction after a trapping access. Look up the byte before it.
    uintptr_t pc = stack.pcs[i];
    if (InThreadTrampoline(pc - 1)) continue;  // trapsan's, not the program's
    for (Frame& f : GetSymbolizer().SymbolizeCode(pc - 1)) {
      f.pc = pc;
      f.file = StripPath(f.file);
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
  Reporter& r = GetReporter();
  GetSink().Configure();
  if (o.suppressions.text[0] != '\0') {
    std::vector<std::string> errors;
    r.suppressions.Load(o.suppressions.c_str(), &errors);
    for (const std::string& e : errors) {
      GetSink().WriteMessage(MessageKind::kError,
                             absl::StrCat("trapsan: ERROR: ", e, "\n"));
    }
  }
}

void SetReportCallback(trapsan_report_callback callback, void* user_data) {
  g_callback_data.store(user_data, std::memory_order_relaxed);
  g_callback.store(callback, std::memory_order_release);
}

void PrintToSink(const std::string& text) {
  PrintToSink(MessageKind::kInfo, text);
}

void PrintToSink(MessageKind kind, const std::string& text) {
  Reporter& r = GetReporter();
  std::lock_guard<std::mutex> lock(r.mu);
  GetSink().WriteMessage(kind, text);
}

uint64_t RacesFound() {
  return Stats().races_found.load(std::memory_order_relaxed);
}

namespace {

// A hash of both stacks (unordered), for the suppression cache.
uint64_t StackPairHash(const RaceEvent& e) {
  auto one = [](const AccessInfo& a) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < a.stack.depth; ++i) {
      h = (h ^ a.stack.pcs[i]) * 1099511628211ull;
    }
    return h;
  };
  uint64_t a = e.watcher_known ? one(e.window.access) : 0;
  uint64_t b = e.unknown_origin ? 1 : e.racer.async ? 2 : one(e.racer.access);
  return (a < b ? a * 31 + b : b * 31 + a) ^ (e.unknown_origin ? 0x5bd1e995 : 0);
}

std::vector<SuppressionFrame> NamesOf(const StackTrace& stack) {
  std::vector<SuppressionFrame> out;
  for (int i = 0; i < stack.depth; ++i) {
    if (InThreadTrampoline(stack.pcs[i] - 1)) continue;
    std::string module_path;
    uintptr_t offset;
    FindModule(stack.pcs[i] - 1, &module_path, &offset);
    for (const Frame& f : GetSymbolizer().SymbolizeCode(stack.pcs[i] - 1)) {
      out.push_back({f.function, f.file,
                     module_path.empty() ? f.module : module_path});
    }
  }
  return out;
}

// The rule that suppresses `e`, or -1; symbolizes only the first time a
// pair of stacks is seen.
int SuppressingRule(Reporter& r, const RaceEvent& e) {
  if (r.suppressions.empty()) return -1;
  const uint64_t start_ns = MonotonicNs();
  const uint64_t key = StackPairHash(e);
  auto it = r.suppressed_stacks.find(key);
  if (it != r.suppressed_stacks.end()) {
    ++r.lookups.cached;
    r.lookups.cached_ns += MonotonicNs() - start_ns;
    return it->second;
  }
  RaceNames names;
  if (e.watcher_known) names.stacks[0] = NamesOf(e.window.access.stack);
  if (!e.unknown_origin && !e.racer.async) {
    names.stacks[1] = NamesOf(e.racer.access.stack);
  }
  DataSymbol global;
  uintptr_t addr = e.watcher_known ? e.window.access.addr : e.racer.access.addr;
  if (GetSymbolizer().SymbolizeData(addr, &global)) names.global = global.name;
  int rule = r.suppressions.Match(names);
  r.suppressed_stacks[key] = rule;
  ++r.lookups.symbolized;
  r.lookups.symbolized_ns += MonotonicNs() - start_ns;
  return rule;
}

// The JSON summary's races, from the deduplicator.
RunSummary Summary(const Reporter& r) {
  RunSummary s;
  s.pid = getpid();
  s.exe = ExePath();
  s.races_found = Stats().races_found.load();
  s.races_reported = Stats().races_reported.load();
  s.duplicates = Stats().duplicates.load();
  s.suppressed = r.suppressed;
  for (const Deduplicator::Entry& e : r.dedup.Entries()) {
    RaceCount c;
    std::string a = e.first, b = e.second;
    if (b != "<unknown origin>" && b < a) std::swap(a, b);
    c.title = absl::StrCat("data race in ", a, " / ", b);
    c.functions = {a, b};
    c.count = e.count;
    c.printed = e.printed;
    s.races.push_back(std::move(c));
  }
  return s;
}

// Under the lock, once per process: what closes the report stream.
void FinishLocked(Reporter& r) {
  if (r.finished) return;
  r.finished = true;
  const Options& o = GetOptions();
  if (o.print_suppressions && !r.suppressions.empty()) {
    std::string lines;
    for (const Suppression& s : r.suppressions.rules()) {
      if (s.hits == 0) continue;
      absl::StrAppend(&lines, absl::StrFormat("  %5d  %s:%s (line %d)\n",
                                              s.hits, s.type_name, s.pattern,
                                              s.line));
    }
    std::string out =
        lines.empty()
            ? "trapsan: suppressions used: none\n"
            : absl::StrCat("trapsan: suppressions used: ", r.suppressed,
                           " race(s) suppressed\n  count  rule\n", lines);
    GetSink().WriteMessage(MessageKind::kRequested, out);
  }
  const ReportFormat format = CurrentFormat();
  if (format == ReportFormat::kJson && r.report_index > 0) {
    GetSink().WriteReport(FormatJsonSummary(Summary(r)));
  }
  if (format == ReportFormat::kSarif) GetSink().Finish();
}

}  // namespace

void FinishReports() {
  Reporter& r = GetReporter();
  std::lock_guard<std::mutex> lock(r.mu);
  FinishLocked(r);
}

[[noreturn]] void ExitAfterRaces() {
  fflush(nullptr);
  if (GetOptions().abort_on_error) {
    // SIGABRT by default action, whatever the program set for it.
    signal(SIGABRT, SIG_DFL);
    sigset_t abrt;
    sigemptyset(&abrt);
    sigaddset(&abrt, SIGABRT);
    pthread_sigmask(SIG_UNBLOCK, &abrt, nullptr);
    raise(SIGABRT);
  }
  ExitImmediately(static_cast<int>(GetOptions().exitcode));
}

void SubmitRace(const RaceEvent& event) {
  Reporter& r = GetReporter();
  const Options& o = GetOptions();

  std::unique_lock<std::mutex> lock(r.mu);
  const int rule = SuppressingRule(r, event);
  if (rule >= 0) {
    r.suppressions.Hit(rule);
    ++r.suppressed;
    Count(Stats().races_suppressed);
    GetSymbolizer().ReleaseDescriptors();
    return;
  }
  // A string routine's vector load past its data (string_overread.h).
  if (MayBeStringOverread(event)) {
    Count(Stats().races_possible);
    if (!o.report_possible) {
      GetSymbolizer().ReleaseDescriptors();
      return;
    }
  }
  Count(Stats().races_found);
  if (event.unknown_origin) Count(Stats().races_unknown_origin);
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
  r.dedup.MarkPrinted(first_key, second_key);
  ReportModel model = BuildModel(event);
  FormattedReport text = FormatReport(model);
  // Symbolized: no descriptor of the program's is held past this point.
  GetSymbolizer().ReleaseDescriptors();
  std::string warning = GetSymbolizer().TakeWarning();
  if (!warning.empty()) {
    GetSink().WriteMessage(MessageKind::kInfo,
                           absl::StrCat("trapsan: WARNING: ", warning, "\n"));
  }
  // Printed before the callback runs, and the callback runs without the
  // reporter's lock: it may exit() (trapsan's exit handler prints the
  // summary under that lock), print or take as long as it likes.
  JsonReportContext context;
  context.exe = ExePath();
  context.report_index = ++r.report_index;
  switch (CurrentFormat()) {
    case ReportFormat::kText:
      GetSink().WriteReport(text.text);
      break;
    case ReportFormat::kJson:
      GetSink().WriteReport(FormatJsonReport(model, text, context));
      break;
    case ReportFormat::kSarif:
      GetSink().WriteSarifResult(FormatSarifResult(model, text, context));
      break;
  }
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
    struct InCallback {
      InCallback() { t_in_callback = true; }
      ~InCallback() { t_in_callback = false; }
    } in_callback;
    callback(&report, g_callback_data.load(std::memory_order_relaxed));
  }
  if (o.halt_on_error) {
    if (!lock.owns_lock()) lock.lock();
    GetSink().WriteMessage(MessageKind::kInfo,
                           "trapsan: halt_on_error=1: exiting after the "
                           "first report\n");
    FinishLocked(r);
    lock.unlock();
    ExitAfterRaces();
  }
}

bool InReportCallback() { return t_in_callback; }

SuppressionLookupCounts SuppressionLookups() {
  Reporter& r = GetReporter();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.lookups;
}

void LockReporterForFork() { GetReporter().mu.lock(); }
void UnlockReporterAfterFork() { GetReporter().mu.unlock(); }
void ResetReporterInChild() {
  Reporter& r = GetReporter();
  r.dedup.Clear();
  r.suppressions.ClearHits();
  r.lookups = SuppressionLookupCounts();
  r.suppressed = 0;
  r.report_index = 0;
  r.finished = false;
  GetSymbolizer().ForgetProcess();
  // The sink reopens for the child's pid on its first report; the log file
  // fd of the parent stays with the parent.
  GetSink().ResetInChild();
  // Taken by LockReporterForFork() in the parent; a fresh one here. The
  // callback lock is not taken across fork (a callback may fork): a thread
  // of the parent's may have held it.
  new (&r.mu) std::mutex();
  new (&r.callback_mu) std::mutex();
}

}  // namespace trapsan
