// trapsan-kcheck: the kernel conformance checker. See tools/kcheck/README.md.
#include <errno.h>
#include <algorithm>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "runtime/linux/kernel.h"
#include "tools/kcheck/kcheck.h"

namespace kcheck {
namespace {

// The properties, in the order they run. Timeouts are generous: a check that
// hangs is a finding, not something to wait for.
const Property kProperties[] = {
    {1, "sigtrap",
     "a breakpoint event with sigtrap sends SIGTRAP (TRAP_PERF, si_perf_data, "
     "si_perf_type, si_addr) to the accessing thread",
     true, CheckSigtrap, 10},
    {2, "inherit_thread",
     "threads created after the event was opened inherit it; a fork child "
     "does not",
     true, CheckInheritThread, 10},
    {3, "remove_on_exec",
     "the event does not survive exec (the new image is not killed by "
     "SIGTRAP)",
     true, CheckRemoveOnExec, 10},
    {4, "modify_reaches_threads",
     "PERF_EVENT_IOC_MODIFY_ATTRIBUTES changes address and sig_data in "
     "existing threads",
     true, CheckModifyReachesThreads, 10},
    {5, "exactly_once",
     "every expected SIGTRAP arrives exactly once, in the accessing thread, "
     "with the current sig_data, under migrations, context switches and "
     "concurrent enable/disable/modify",
     true, CheckExactlyOnce, 20},
    {6, "many_overflows", "an event keeps firing after many overflows", true,
     CheckManyOverflows, 20},
    {7, "refresh",
     "PERF_EVENT_IOC_REFRESH(N) with sigtrap: exactly N traps, then the "
     "event stops (broken before 6.1)",
     false, CheckRefresh, 10},
    {8, "blocked_async",
     "a trap while SIGTRAP is blocked is delivered after unblocking, flagged "
     "TRAP_PERF_FLAG_ASYNC",
     false, CheckBlockedAsync, 10},
    {9, "create_during_modify",
     "threads created while another thread modifies the event: how many "
     "keep stale settings",
     false, CheckCreateDuringModify, 15},
    {10, "exit_exec_pending",
     "threads and processes that exit, and processes that exec, with a "
     "SIGTRAP pending neither crash nor hang",
     true, CheckExitExecPending, 30},
    {11, "exec_breakpoint",
     "a thread's own execution breakpoint traps once, before the "
     "instruction, in that thread; DISABLE and MODIFY_ATTRIBUTES work on it",
     true, CheckExecBreakpoint, 10},
};

struct Outcome {
  const Property* p;
  Verdict verdict;
  bool ok;
  std::string evidence;
  std::vector<std::pair<std::string, double>> numbers;
  double seconds;
};

void Usage(FILE* f) {
  fprintf(f,
          "usage: trapsan-kcheck [--quick] [--stress SECONDS] [--json] "
          "[--help]\n"
          "\n"
          "Checks that the running kernel delivers perf breakpoint SIGTRAPs "
          "the way\n"
          "trapsan's hardware backend needs (see tools/kcheck/README.md).\n"
          "\n"
          "  --quick           the whole run within ~5 s (for CI)\n"
          "  --stress SECONDS  run the exactly_once property that long and "
          "print how\n"
          "                    many watched accesses were checked\n"
          "  --json            machine-readable output on stdout\n"
          "  --only ID[,ID...] run only these properties (e.g. --only "
          "sigtrap: does\n"
          "                    this machine deliver debug traps at all?)\n"
          "  --help            this text\n"
          "\n"
          "Exit status: 0 when every property trapsan relies on passes, 1 "
          "when one\n"
          "fails (or cannot be checked), 2 on a usage error.\n");
}

Outcome RunProperty(const Property& p, const Options& o) {
  Outcome out{&p, kFail, false, "", {}, 0};
  void* mem = mmap(nullptr, sizeof(Report), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    out.evidence = absl::StrCat("mmap: ", strerror(errno));
    return out;
  }
  Report* r = static_cast<Report*>(mem);
  memset(r, 0, sizeof(*r));
  double timeout = p.timeout_seconds;
  if (p.run == CheckExactlyOnce) timeout += ExactlyOnceSeconds(o);
  double start = Now();
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    out.evidence = absl::StrCat("fork: ", strerror(errno));
    munmap(mem, sizeof(Report));
    return out;
  }
  if (pid == 0) {
    alarm(static_cast<unsigned>(timeout + 2));  // watchdog (SIGALRM kills)
    p.run(o, r);
    __atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
    fflush(stderr);
    _exit(0);
  }
  ChildStatus st = WaitChild(pid, timeout);
  out.seconds = Now() - start;
  bool done = __atomic_load_n(&r->done, __ATOMIC_SEQ_CST) != 0;
  if (done && st.exited && st.exit_code == 0) {
    out.verdict = static_cast<Verdict>(r->verdict);
    out.ok = r->ok != 0;
    out.evidence = r->evidence;
  } else {
    // The check's process died: that is the finding.
    out.verdict = p.relied_on ? kFail : kInfo;
    out.ok = false;
    out.evidence = absl::StrCat("the checking process ", st.Describe(),
                                done ? " after the check" : "",
                                r->evidence[0] ? ": " : "", r->evidence);
  }
  for (int i = 0; i < r->n_numbers && i < Report::kMaxNumbers; ++i) {
    out.numbers.emplace_back(r->numbers[i].name, r->numbers[i].value);
  }
  munmap(mem, sizeof(Report));
  return out;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string JsonNumber(double v) {
  char buf[64];
  if (v == static_cast<double>(static_cast<long long>(v)) && v < 1e18 &&
      v > -1e18) {
    snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(v));
  } else {
    snprintf(buf, sizeof(buf), "%.6g", v);
  }
  return buf;
}

int ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      Usage(stdout);
      exit(0);
    } else if (a == "--quick") {
      o->quick = true;
    } else if (a == "--json") {
      o->json = true;
    } else if (a == "--only" || a.rfind("--only=", 0) == 0) {
      std::string v;
      if (a == "--only") {
        if (i + 1 >= argc) {
          fprintf(stderr, "trapsan-kcheck: --only needs property ids\n");
          return 2;
        }
        v = argv[++i];
      } else {
        v = a.substr(7);
      }
      for (absl::string_view id : absl::StrSplit(v, ',')) {
        bool known = false;
        for (const Property& p : kProperties) known |= id == p.id;
        if (!known) {
          fprintf(stderr,
                  "trapsan-kcheck: --only: no property '%.*s' (the ids are "
                  "in the second column of a run)\n",
                  static_cast<int>(id.size()), id.data());
          return 2;
        }
        o->only.emplace_back(id);
      }
    } else if (a == "--stress" || a.rfind("--stress=", 0) == 0) {
      std::string v;
      if (a == "--stress") {
        if (i + 1 >= argc) {
          fprintf(stderr,
                  "trapsan-kcheck: --stress needs a number of seconds "
                  "(try --help)\n");
          return 2;
        }
        v = argv[++i];
      } else {
        v = a.substr(9);
      }
      char* end = nullptr;
      errno = 0;
      double s = strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || errno != 0 || !(s > 0) || s > 86400) {
        fprintf(stderr,
                "trapsan-kcheck: --stress wants seconds in (0, 86400], got "
                "'%s'\n",
                v.c_str());
        return 2;
      }
      o->stress_seconds = s;
    } else {
      fprintf(stderr, "trapsan-kcheck: unknown argument '%s' (try --help)\n",
              argv[i]);
      return 2;
    }
  }
  if (o->quick && o->stress_seconds > 0) {
    fprintf(stderr,
            "trapsan-kcheck: --quick and --stress cannot be combined\n");
    return 2;
  }
  return 0;
}

// Can this process open a sigtrap breakpoint at all? Empty if so.
std::string Preflight(int* err) {
  static volatile uint64_t spot;
  BpSpec s;
  s.addr = &spot;
  s.disabled = true;
  int fd = OpenBp(s);
  if (fd >= 0) {
    close(fd);
    *err = 0;
    return "";
  }
  *err = errno;
  int e = errno;
  std::string why = absl::StrCat(
      "perf_event_open(PERF_TYPE_BREAKPOINT, sigtrap) failed: ", strerror(e));
  errno = e;
  if (errno == EACCES || errno == EPERM) {
    FILE* f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
    int level = 0;
    if (f != nullptr) {
      if (fscanf(f, "%d", &level) == 1) {
        absl::StrAppend(&why, " (perf_event_paranoid=", level,
                        "; seccomp or a container can also forbid it)");
      }
      fclose(f);
    }
  } else if (errno == EINVAL || errno == E2BIG) {
    absl::StrAppend(&why, " (no perf sigtrap: kernel older than 5.13?)");
  } else if (errno == ENOSPC) {
    absl::StrAppend(&why, " (debug registers in use, a debugger?)");
  }
  return why;
}

int Main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], kInternalArg) == 0) {
    return RunInternalMode(argc, argv);
  }
  Options o;
  if (int rc = ParseArgs(argc, argv, &o)) return rc;
  double start = Now();
  setvbuf(stdout, nullptr, _IOLBF, 0);

  trapsan::KernelVersion kv = trapsan::RunningKernel();
  const auto& changes = trapsan::KernelChanges();
  if (!o.json) {
    std::string mode = o.quick ? ", --quick"
                       : o.stress_seconds > 0
                           ? absl::StrCat(", --stress ", o.stress_seconds)
                           : "";
    printf("trapsan-kcheck: kernel %s (%d.%d), %d CPUs%s\n",
           kv.release.c_str(), kv.major, kv.minor, CpuCount(), mode.c_str());
    printf("Kernel changes trapsan depends on (judged by version; "
           "distributions backport):\n");
    for (const auto& c : changes) {
      bool present = trapsan::AtLeast(kv, c.major, c.minor);
      printf("  %-8s %2d.%-2d %s %-20s %s%s\n",
             present ? "present" : "MISSING", c.major, c.minor, c.commit, c.id,
             c.title, c.required ? " [required]" : "");
    }
    std::string warning = trapsan::KernelWarning(kv);
    if (!warning.empty()) printf("warning: %s\n", warning.c_str());
    printf("\n");
  }

  int err = 0;
  std::string preflight = Preflight(&err);
  std::vector<Outcome> outcomes;
  for (const Property& p : kProperties) {
    if (!o.only.empty() &&
        std::find(o.only.begin(), o.only.end(), p.id) == o.only.end()) {
      continue;
    }
    Outcome out{&p, kSkip, false, "", {}, 0};
    if (!preflight.empty()) {
      if (p.index == 1 && err != EACCES && err != EPERM) {
        out.verdict = kFail;
        out.evidence = preflight;
      } else {
        out.evidence = p.index == 1 ? preflight
                                    : "perf sigtrap breakpoints unavailable";
      }
    } else {
      if (!o.json && p.run == CheckExactlyOnce) {
        fprintf(stderr, "trapsan-kcheck: running exactly_once for %.3g s...\n",
                ExactlyOnceSeconds(o));
      }
      out = RunProperty(p, o);
    }
    if (!o.json) {
      printf("%2d %-22s %-4s %-7s %s\n", p.index, p.id,
             VerdictName(out.verdict),
             p.relied_on ? "relied" : "info",
             out.evidence.c_str());
    }
    outcomes.push_back(std::move(out));
  }

  int failed = 0;
  for (const Outcome& out : outcomes) {
    if (out.p->relied_on && out.verdict != kPass) ++failed;
  }
  int rc = failed ? 1 : 0;
  double wall = Now() - start;

  if (o.json) {
    std::string j = "{\n";
    absl::StrAppend(&j, "  \"tool\": \"trapsan-kcheck\",\n");
    absl::StrAppend(&j, "  \"mode\": ",
                    JsonString(o.quick ? "quick"
                               : o.stress_seconds > 0 ? "stress"
                                                      : "default"),
                    ",\n");
    absl::StrAppend(&j, "  \"stress_seconds\": ", JsonNumber(o.stress_seconds),
                    ",\n");
    absl::StrAppend(&j, "  \"kernel\": {\"release\": ", JsonString(kv.release),
                    ", \"major\": ", kv.major, ", \"minor\": ", kv.minor,
                    ", \"patch\": ", kv.patch,
                    ", \"cpus\": ", CpuCount(), ", \"warning\": ",
                    JsonString(trapsan::KernelWarning(kv)), "},\n");
    absl::StrAppend(&j, "  \"changes\": [\n");
    for (size_t i = 0; i < changes.size(); ++i) {
      const auto& c = changes[i];
      absl::StrAppend(
          &j, "    {\"id\": ", JsonString(c.id), ", \"commit\": ",
          JsonString(c.commit), ", \"title\": ", JsonString(c.title),
          ", \"since\": ", JsonString(absl::StrCat(c.major, ".", c.minor)),
          ", \"required\": ", c.required ? "true" : "false",
          ", \"present_by_version\": ",
          trapsan::AtLeast(kv, c.major, c.minor) ? "true" : "false",
          ", \"without\": ", JsonString(c.without), "}",
          i + 1 < changes.size() ? ",\n" : "\n");
    }
    absl::StrAppend(&j, "  ],\n  \"properties\": [\n");
    for (size_t i = 0; i < outcomes.size(); ++i) {
      const Outcome& out = outcomes[i];
      absl::StrAppend(
          &j, "    {\"index\": ", out.p->index, ", \"id\": ",
          JsonString(out.p->id), ", \"title\": ", JsonString(out.p->title),
          ", \"verdict\": ", JsonString(VerdictName(out.verdict)),
          ", \"relied_on\": ", out.p->relied_on ? "true" : "false",
          ", \"as_expected\": ",
          out.verdict == kPass || (out.verdict == kInfo && out.ok) ? "true"
                                                                   : "false",
          ", \"seconds\": ", JsonNumber(out.seconds), ",\n     \"evidence\": ",
          JsonString(out.evidence), ",\n     \"numbers\": {");
      for (size_t k = 0; k < out.numbers.size(); ++k) {
        absl::StrAppend(&j, k ? ", " : "", JsonString(out.numbers[k].first),
                        ": ", JsonNumber(out.numbers[k].second));
      }
      absl::StrAppend(&j, "}}", i + 1 < outcomes.size() ? ",\n" : "\n");
    }
    absl::StrAppend(&j, "  ],\n  \"failed_relied_on\": ", failed,
                    ",\n  \"exit_status\": ", rc, ",\n  \"wall_seconds\": ",
                    JsonNumber(wall), "\n}\n");
    fputs(j.c_str(), stdout);
  } else {
    printf("\n%s: %d of the properties trapsan relies on failed; %.2f s\n",
           failed ? "FAIL" : "OK", failed, wall);
  }
  return rc;
}

}  // namespace
}  // namespace kcheck

int main(int argc, char** argv) { return kcheck::Main(argc, argv); }
