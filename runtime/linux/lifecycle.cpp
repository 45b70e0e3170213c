// The runtime's life on Linux: initialization (options, backend choice,
// SIGTRAP handler, threads), fork() and exit.
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/core/budget.h"
#include "runtime/core/conflict_table.h"
#include "runtime/core/counters.h"
#include "runtime/core/options.h"
#include "runtime/core/release.h"
#include "runtime/core/scoped_window.h"
#include "runtime/core/sampler.h"
#include "runtime/core/slots.h"
#include "runtime/core/thread_state.h"
#include "runtime/core/window.h"
#include "runtime/linux/breakpoints.h"
#include "runtime/linux/cold_sites.h"
#include "runtime/linux/exit.h"
#include "runtime/linux/fd_reserve.h"
#include "runtime/linux/kernel.h"
#include "runtime/linux/labels.h"
#include "runtime/linux/probe.h"
#include "runtime/linux/sites.h"
#include "runtime/linux/sigtrap.h"
#include "runtime/linux/threads.h"
#include "runtime/preload/timer_sampling.h"
#include "runtime/report/sample_decode.h"
#include "runtime/report/reporter.h"

namespace trapsan {
namespace {

// The expected cost of arming and disarming, before one was measured.
constexpr uint64_t kFirstArmEstimateNs = 10000;  // 10 us

enum InitState { kNotStarted, kRunning, kDone };
std::atomic<int> g_init_state{kNotStarted};

void Say(const std::string& line) { PrintToSink(absl::StrCat("trapsan: ", line, "\n")); }
// An error: printed even with quiet=1.
void SayError(const std::string& line) {
  PrintToSink(MessageKind::kError, absl::StrCat("trapsan: ERROR: ", line, "\n"));
}

// What the start-up probe saw, for the start-up line.
std::string g_probe_evidence;
// How label sites are armed and why, for the start-up line.
std::string g_label_evidence;
// A debugger is attached (the hw self-test was skipped, or seen directly).
bool g_traced = false;
// The warning of a fallback to the soft backend (printed once the label
// mechanism is known, since it says what detection remains).
std::string g_fallback_why;

// Warnings that detection is degraded are printed once per process tree:
// the first process sets this in its environment, which exec'd children
// (a build tool's compilers and tests) inherit.
constexpr char kWarnedEnv[] = "TRAPSAN_DEGRADED_WARNED";

void WarnOncePerTree(const std::string& line) {
  if (getenv(kWarnedEnv) != nullptr) {
    if (GetOptions().verbosity >= 1) Say(line);
    return;
  }
  Say(line);
  setenv(kWarnedEnv, "1", 1);
}

// Opens the hardware backend and checks it with the start-up probe; on
// failure says why, closes what it opened and returns false.
bool StartHardware(std::string* why) {
  if (!InstallSigtrapHandler(why)) return false;
  sigset_t trap;  // The initializing thread too: see pthread_sigmask().
  sigemptyset(&trap);
  sigaddset(&trap, SIGTRAP);
  pthread_sigmask(SIG_UNBLOCK, &trap, nullptr);
  // Label sites need a debug register of their own in each thread.
  const bool labels = HaveLabelSites();
  int slots = OpenBreakpoints(labels ? kMaxSlots - 1 : kMaxSlots, why);
  if (slots == 0) return false;
  SetSlotCount(slots);
  ProbeResult probe = ProbeHardware();
  ResetStats();  // The probe's trap is not the program's.
  g_probe_evidence = probe.evidence;
  g_traced = probe.skipped;
  if (!probe.ok) {
    SetSlotCount(0);
    CloseBreakpoints();  // Nothing perf-related is kept.
    *why = absl::StrCat("watchpoints opened, but the start-up self-test "
                        "failed: ", probe.evidence);
    return false;
  }
  SetActiveBackend(Backend::kHw);
  return true;
}

void ChooseBackend() {
  const Options& o = GetOptions();
  std::string why;
  if (o.backend == "off") {
    SetActiveBackend(Backend::kOff);
    SetSlotCount(0);
  } else if (o.backend == "soft") {
    SetActiveBackend(Backend::kSoft);
    SetSlotCount(kMaxSlots);
  } else if (StartHardware(&why)) {
    // kHw, set by StartHardware.
  } else if (o.backend == "hw") {
    SayError(absl::StrCat("backend=hw but hardware watchpoints are "
                          "unavailable: ", why, "; race detection is OFF"));
    SetActiveBackend(Backend::kOff);
    SetSlotCount(0);
  } else {
    g_fallback_why = why;
    SetActiveBackend(Backend::kSoft);
    SetSlotCount(kMaxSlots);
  }
}

// Decides how label sites are armed (label_int3.h, labels.h): with label
// sites in the program now; otherwise at the first check that runs out.
void StartLabels() {
  if (ActiveBackend() == Backend::kOff) return;
  // (The hw self-test looked for a debugger already.)
  if (ActiveBackend() == Backend::kHw ? g_traced
                                      : HaveLabelSites() && BeingTraced()) {
    DisableLabels();
    g_label_evidence = "label sites not used under a debugger";
    return;
  }
  if (!HaveLabelSites()) return;
  std::string why;
  if (ActiveBackend() != Backend::kHw && !InstallSigtrapHandler(&why)) {
    DisableLabels();
    g_label_evidence = absl::StrCat("label sites not armed: ", why);
  } else {
    ProbeLabels(ActiveBackend() == Backend::kHw, &g_label_evidence);
    ResetStats();  // The self-tests' traps are not the program's.
  }
  if (CurrentLabelMechanism() == LabelMechanism::kNone) {
    WarnOncePerTree(absl::StrCat("WARNING: label sites of instrumented code "
                                 "will not be sampled: ", g_label_evidence));
  }
}

// The fallback to the soft backend, and what it still detects.
void WarnFallback() {
  if (g_fallback_why.empty()) return;
  const LabelMechanism labels = CurrentLabelMechanism();
  std::string sampled =
      labels == LabelMechanism::kInt3
          ? "instrumented code is still sampled (label sites by int3 "
            "patching)"
      : labels == LabelMechanism::kNone
          ? "label sites of instrumented code are not sampled"
          : "checked accesses are still sampled";
  WarnOncePerTree(absl::StrCat(
      "WARNING: hardware watchpoints unavailable (", g_fallback_why,
      "); falling back to backend=soft: ", sampled,
      ", and a race is reported when another thread's write changes a "
      "sampled value during its window (one stack) or another thread's "
      "checked access (-fsanitize=thread code, manual checks, "
      "compiler-plugin sites) meets the open window (both stacks); "
      "uninstrumented code's accesses are not seen"));
}

// What trapsan trusts on this kernel, in one line.
std::string TrustLine(const KernelVersion& kernel) {
  std::string missing;
  for (const KernelChange* c : MissingChanges(kernel)) {
    absl::StrAppend(&missing, missing.empty() ? "" : ", ", c->id, " (",
                    c->major, ".", c->minor, ")");
  }
  return absl::StrCat(
      "kernel ", kernel.release, ": hardware watchpoints trusted (",
      g_probe_evidence, "); ",
      missing.empty() ? "every known perf SIGTRAP fix is in by version"
                      : absl::StrCat("missing by version: ", missing,
                                     "; run trapsan-kcheck to measure"));
}

// A thread that existed before init: its watchpoints and its timer event.
bool AdoptThread(int tid, std::string* why) {
  if (ActiveBackend() == Backend::kHw && !AdoptExistingThread(tid, why)) {
    return false;
  }
  return AdoptThreadForTimer(tid, why);
}

// Timer sampling of code not built with trapsan (runtime/preload), and what
// it gives on this machine, said once per process tree (`warn`: no earlier
// process of the tree said it; the fallback warning may have just set the
// variable).
void StartPreloadSampling(bool warn) {
  const Options& o = GetOptions();
  if (ActiveBackend() == Backend::kOff || !TimerSamplingWanted()) return;
  std::string why;
  // (The decoder is loaded with the second thread: StartTimerReporterOnce.)
  if (InstallSigtrapHandler(&why) && StartTimerSampling(&why)) {
    why.clear();
  } else if (why.empty()) {
    why = "cannot install the SIGTRAP handler";
  }
  if (!why.empty()) {
    if (warn) {
      Say(absl::StrCat("WARNING: code not built with trapsan will not be "
                       "sampled: ", why));
    }
    return;
  }
  sigset_t trap;  // The initializing thread too: see pthread_sigmask().
  sigemptyset(&trap);
  sigaddset(&trap, SIGTRAP);
  pthread_sigmask(SIG_UNBLOCK, &trap, nullptr);
  if (ActiveBackend() == Backend::kSoft) {
    const std::string line =
        "WARNING: without hardware watchpoints, code not built with trapsan "
        "(sampled by its threads' CPU-time timer) gets little: a sampled "
        "access is reported only when its value changes during its window "
        "and its instruction cannot be an atomic (a read-modify-write "
        "without lock, a misaligned or wider than 8-byte store), with one "
        "stack, or when instrumented code meets its window; races between "
        "plain loads and stores of uninstrumented code are not found on "
        "this machine (docs/preload.md)";
    if (warn || o.verbosity >= 1) Say(line);
    setenv(kWarnedEnv, "1", 1);
  } else if (o.verbosity >= 1) {
    Say(absl::StrFormat(
        "sampling code not built with trapsan every %d us of each thread's "
        "CPU time; a race whose two instructions may both be atomics (plain "
        "moves) is counted as possible, not reported (report_possible=1)",
        o.preload_period_us));
  }
}

void StartThreads() {
  int adopted = 0, failed = 0;
  std::string why;
  bool hw = ActiveBackend() == Backend::kHw;
  RegisterInitialThreads(hw || TimerSamplingActive() ? AdoptThread : nullptr,
                         &adopted, &failed, &why);
  if (failed > 0) {
    Say(absl::StrFormat("WARNING: %d thread(s) that existed before trapsan "
                        "started got no watchpoints (%s): their accesses are "
                        "caught only as value changes", failed, why));
  } else if (adopted > 0 && GetOptions().verbosity >= 1) {
    Say(absl::StrFormat("%d thread(s) existed before trapsan started; each "
                        "got watchpoints of its own", adopted));
  }
}

void PrintStats() {
  std::string out = "trapsan: stats:\n";
#define TRAPSAN_COUNTER(Name, Description)                                 \
  absl::StrAppend(&out, absl::StrFormat("  %-22s %12d  %s\n", #Name,       \
                                        Stats().Name.load(), Description));
#include "runtime/core/counters.inc"
#undef TRAPSAN_COUNTER
  absl::StrAppend(&out, absl::StrFormat("  %-22s %12s\n", "backend",
                                        BackendName(ActiveBackend())));
  PrintToSink(MessageKind::kRequested, out);
}

}  // namespace

std::atomic<bool> g_finished{false};

bool FinishRun() {
  if (!RuntimeReady()) return false;
  if (g_finished.exchange(true)) return Stats().races_found.load() != 0;
  InRuntime guard;
  CloseAllHeldWindows();
  CloseAllScopedWindows();
  DrainLateConflicts();
  if (GetOptions().verbosity >= 1 || GetOptions().print_stats) {
    const std::string cold = ColdSiteSummary();
    if (!cold.empty()) Say(cold);
    const std::string held = HeldWindowSummary();
    if (!held.empty()) Say(held);
  }
  if (GetOptions().print_stats) PrintStats();
  // print_suppressions, the JSON summary, a SARIF log for stderr/stdout.
  FinishReports();
  uint64_t found = Stats().races_found.load();
  if (found == 0) return false;
  uint64_t shown = Stats().races_reported.load();
  Say(absl::StrFormat("reported %d data race(s) (%d duplicate(s) not shown)",
                      shown, found - shown));
  return true;
}

namespace {

// exit() and returning from main: the last atexit handler to run (it is
// registered first, at load). An exit() from the report callback keeps the
// callback's status: the exit goes on, with the summary printed.
void OnExit(int /*status*/, void*) {
  if (!FinishRun() || InReportCallback()) return;
  ExitAfterRaces();  // abort_on_error, else exit_group(exitcode)
}

void BeforeFork() {
  LockReporterForFork();
  LockThreadsForFork();
  LockForThreadCreation();
  LockFdReserveForFork();
}

void AfterForkInParent() {
  UnlockFdReserveAfterFork();
  UnlockForThreadCreation();
  UnlockThreadsAfterFork();
  UnlockReporterAfterFork();
}

// The child inherits none of the perf events: start over, keeping options.
void AfterForkInChild() {
  InRuntime guard;
  ResetFdReserveInChild();
  ResetReporterInChild();
  ResetThreadsInChild();
  ResetStats();
  ResetSlots();
  Conflicts().Reset();
  WindowBudget().Reset();
  t_thread.watching_cookie = 0;
  ResetLabelsInChild();
  RestartTimerSamplingInChild();  // (no reporter thread in the child)
  g_finished.store(false);
  std::string why;
  int slots = ReopenBreakpointsInChild(&why);  // Also frees the create lock.
  if (ActiveBackend() == Backend::kHw) {
    if (slots == 0) {
      Say(absl::StrCat("WARNING: fork child ", getpid(),
                       " could not reopen its watchpoints (", why,
                       "); falling back to backend=soft"));
      SetActiveBackend(Backend::kSoft);
      slots = kMaxSlots;
    }
    SetSlotCount(slots);
  }
}

void Initialize() {
  std::vector<std::string> errors;
  const bool first_in_tree = getenv(kWarnedEnv) == nullptr;
  const char* env = getenv("TRAPSAN_OPTIONS");
  // The program's __trapsan_default_options(), then TRAPSAN_OPTIONS.
  Options options = ParseOptions(OptionsText(env), &errors);
  SetOptions(options);
  ConfigureReporter();
  for (const std::string& e : errors) {
    SayError(absl::StrCat(e,
                          " in TRAPSAN_OPTIONS; ignored (TRAPSAN_OPTIONS=help=1 "
                          "lists the options)"));
  }
  if (options.help) PrintToSink(MessageKind::kRequested, OptionsHelp(options));
  KernelVersion kernel = RunningKernel();
  ChooseBackend();
  StartLabels();
  StartColdSites();  // cold_sites.h (cold_sites > 0): patch the sites
  WarnFallback();
  // The budget starts now: the self-tests above (however they ended) are
  // start-up work, not the program's sampling (issue 10, defect 7). Before
  // any window was measured, expect the stall plus arming.
  WindowBudget().Configure(options.max_overhead,
                           static_cast<uint64_t>(options.delay_us) * 1000 +
                               kFirstArmEstimateNs,
                           options.mode == "ci" ? Budget::kMinCpuNs
                                                : Budget::kProductionMinCpuNs);
  StartPreloadSampling(first_in_tree);
  StartThreads();
  if (OtherThreadsAdopted()) StartTimerReporterOnce();
  on_exit(OnExit, nullptr);
  pthread_atfork(BeforeFork, AfterForkInParent, AfterForkInChild);
  std::string warning = KernelWarning(kernel);
  if (!warning.empty() && ActiveBackend() == Backend::kHw) {
    Say(absl::StrCat("WARNING: ", warning));
  }
  if (options.verbosity >= 1) {
    Say(absl::StrFormat(
        "started: backend=%s, %d watchpoint slot(s), kernel %s, mode=%s, "
        "sample_rate=%d, delay_us=%d, max_overhead=%g%%",
        BackendName(ActiveBackend()), SlotCount(), kernel.release,
        options.mode.c_str(), options.sample_rate, options.delay_us,
        options.max_overhead));
    if (ActiveBackend() == Backend::kHw) Say(TrustLine(kernel));
    if (!g_label_evidence.empty()) Say(g_label_evidence);
  }
}

}  // namespace

bool InitializeRuntime() {
  int state = g_init_state.load(std::memory_order_acquire);
  if (state == kDone) return true;
  if (t_thread.in_runtime != 0) return false;  // Called from inside init.
  int expected = kNotStarted;
  if (g_init_state.compare_exchange_strong(expected, kRunning)) {
    InRuntime guard;
    Initialize();
    SetRuntimeReady(true);
    g_init_state.store(kDone, std::memory_order_release);
    return true;
  }
  while (g_init_state.load(std::memory_order_acquire) != kDone) sched_yield();
  return true;
}

}  // namespace trapsan

namespace trapsan {

void ExitImmediately(int status) {
  for (;;) syscall(SYS_exit_group, status);
}

}  // namespace trapsan

// _exit() and _Exit() skip atexit handlers; fork children often end with
// them. The run still ends with its summary and exit status.
namespace {
[[noreturn]] void ExitWithSummary(int status) {
  // (From the report callback: the callback's status.)
  if (trapsan::FinishRun() && !trapsan::InReportCallback())
    trapsan::ExitAfterRaces();
  trapsan::ExitImmediately(status);
}
}  // namespace

extern "C" __attribute__((visibility("default"))) void _exit(int status) {
  ExitWithSummary(status);
}

extern "C" __attribute__((visibility("default"))) void _Exit(int status) {
  ExitWithSummary(status);
}
