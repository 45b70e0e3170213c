#include "format.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace trapsan {
namespace {

constexpr char kRule[] = "==================\n";

std::string Capitalized(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = s[0] - 'a' + 'A';
  return s;
}

std::string ThreadLabel(uint32_t id, int tid, bool known) {
  if (!known) return absl::StrFormat("thread (tid=%d)", tid);
  return absl::StrFormat("thread T%d (tid=%d)", id, tid);
}

void AppendStack(std::string* out, const std::vector<Frame>& frames) {
  if (frames.empty()) {
    absl::StrAppend(out, "    <empty stack>\n");
    return;
  }
  for (size_t i = 0; i < frames.size(); ++i) {
    absl::StrAppend(out, "    ", FormatFrame(static_cast<int>(i), frames[i]),
                    "\n");
  }
}

void AppendAccess(std::string* out, const std::string& prefix,
                  const AccessModel& a) {
  std::string size = a.size > 0 ? absl::StrCat(" of size ", a.size) : "";
  absl::StrAppend(out, "  ", prefix, size, absl::StrFormat(" at 0x%x by ", a.addr),
                  ThreadLabel(a.thread_id, a.tid, a.thread_known),
                  a.late ? " (trap arrived after the window closed)" : "",
                  ":\n");
  if (a.async) {
    absl::StrAppend(out,
                    "    (SIGTRAP was blocked when the access trapped; the stack "
                    "below is where it was delivered, not the access)\n");
  }
  AppendStack(out, a.frames);
}

std::string Location(const Frame& f) {
  if (!f.file.empty()) return absl::StrCat(f.file, ":", f.line);
  if (!f.module.empty()) {
    return absl::StrFormat("(%s+0x%x)", f.module, f.module_offset);
  }
  return absl::StrFormat("0x%x", f.pc);
}

}  // namespace

std::string FrameName(const Frame& f) {
  if (!f.function.empty()) return f.function;
  if (!f.module.empty()) {
    return absl::StrFormat("%s+0x%x", f.module, f.module_offset);
  }
  return absl::StrFormat("0x%x", f.pc);
}

std::string FormatFrame(int index, const Frame& f) {
  std::string out = absl::StrCat("#", index);
  if (!f.function.empty()) absl::StrAppend(&out, " ", f.function);
  if (!f.file.empty()) absl::StrAppend(&out, " ", f.file, ":", f.line);
  if (!f.module.empty()) {
    absl::StrAppend(&out,
                    absl::StrFormat(" (%s+0x%x)", f.module, f.module_offset));
  } else {
    absl::StrAppend(&out, absl::StrFormat(" (0x%x)", f.pc));
  }
  return out;
}

FormattedReport FormatReport(const ReportModel& m) {
  FormattedReport r;
  static const Frame kNoFrame;
  const Frame& first_top = m.first.frames.empty() ? kNoFrame : m.first.frames[0];
  const Frame& second_top =
      m.second.frames.empty() ? kNoFrame : m.second.frames[0];
  std::string first_name =
      m.watcher_known ? FrameName(first_top) : "<unknown watcher>";
  if (m.unknown_origin) {
    r.title = absl::StrCat("data race in ", first_name, " / <unknown origin>");
  } else {
    std::string a = first_name,
                b = m.second.async ? kAsyncTrapName : FrameName(second_top);
    if (b < a) std::swap(a, b);
    r.title = absl::StrCat("data race in ", a, " / ", b);
  }
  // The summary names the sampled access, or the trapped one when the
  // watcher is unknown (its delivery stack, if asynchronous: better than
  // nothing).
  const Frame& summary_frame = m.watcher_known ? first_top : second_top;
  r.summary = absl::StrCat("data race ", Location(summary_frame), " in ",
                           FrameName(summary_frame));

  std::string& out = r.text;
  absl::StrAppend(&out, kRule, "WARNING: trapsan: ", r.title,
                  absl::StrFormat(" (pid=%d)\n", m.pid));
  if (m.watcher_known) {
    AppendAccess(&out, Capitalized(m.first.kind), m.first);
  } else {
    absl::StrAppend(&out,
                    "  The sampled access is unknown: its window was reused "
                    "before this late trap was handled.\n");
  }
  if (m.unknown_origin) {
    absl::StrAppend(&out,
                    "  The value changed during the window but no other "
                    "access was trapped (race at unknown origin).\n");
  } else {
    AppendAccess(&out, absl::StrCat("Concurrent ", m.second.kind), m.second);
  }
  if (!m.location.empty()) {
    absl::StrAppend(&out, "  Location is ", m.location, "\n");
  }
  if (m.value_changed) {
    absl::StrAppend(&out,
                    absl::StrFormat("  Value changed during the window: 0x%x "
                                    "-> 0x%x\n",
                                    m.old_value, m.new_value));
  }
  for (const ThreadModel& t : m.threads) {
    absl::StrAppend(&out, absl::StrFormat("  Thread T%d", t.id));
    if (!t.name.empty()) absl::StrAppend(&out, " '", t.name, "'");
    absl::StrAppend(&out, absl::StrFormat(" (tid=%d, %s)", t.tid,
                                          t.running ? "running" : "finished"));
    if (t.is_initial) {
      absl::StrAppend(&out, " is the thread that started trapsan\n");
    } else if (t.existed_before_init) {
      absl::StrAppend(&out, " existed before trapsan started\n");
    } else {
      absl::StrAppend(&out, absl::StrFormat(" created by thread T%d at:\n",
                                            t.parent_id));
      AppendStack(&out, t.creation);
    }
  }
  absl::StrAppend(&out, "SUMMARY: trapsan: ", r.summary, "\n", kRule);
  return r;
}

}  // namespace trapsan
