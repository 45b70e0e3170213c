#include "sarif.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace trapsan {
namespace {

constexpr char kRuleId[] = "data-race";

std::string Message(const std::string& text) {
  return absl::StrCat("{\"text\":", JsonString(text), "}");
}

// A frame as a SARIF location: where it is (its source file and line; for
// code without line information, its module: GitHub code scanning rejects
// a whole log with a result location that names no artifact) and what it is
// (function, module+offset).
std::string Location(const Frame& f, const std::string& message) {
  std::string out = "{";
  const std::string& artifact = !f.file.empty() ? f.file : f.module;
  if (!artifact.empty()) {
    absl::StrAppend(&out, "\"physicalLocation\":{\"artifactLocation\":{\"uri\":",
                    JsonString(ArtifactUri(artifact)), "}");
    if (!f.file.empty() && f.line > 0) {
      absl::StrAppend(&out, ",\"region\":{\"startLine\":", f.line, "}");
    }
    absl::StrAppend(&out, "},");
  }
  absl::StrAppend(&out, "\"logicalLocations\":[{\"fullyQualifiedName\":",
                  JsonString(FrameName(f)), ",\"kind\":\"function\"}]");
  if (!message.empty()) absl::StrAppend(&out, ",\"message\":", Message(message));
  if (!f.module.empty()) {
    absl::StrAppend(&out, ",\"properties\":{\"module\":", JsonString(f.module),
                    ",\"offset\":", JsonHex(f.module_offset), "}");
  }
  return out + "}";
}

std::string Capitalized(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = s[0] - 'a' + 'A';
  return s;
}

std::string SideLabel(const AccessModel& a, bool sampled) {
  std::string what = sampled ? Capitalized(a.kind)
                             : absl::StrCat("Concurrent ", a.kind);
  if (a.size > 0) absl::StrAppend(&what, " of size ", a.size);
  if (a.thread_known) {
    absl::StrAppend(&what, absl::StrFormat(" by thread T%d (tid=%d)",
                                           a.thread_id, a.tid));
  } else {
    absl::StrAppend(&what, absl::StrFormat(" by thread (tid=%d)", a.tid));
  }
  if (a.async) absl::StrAppend(&what, " (asynchronous trap: delivery stack)");
  if (a.late) absl::StrAppend(&what, " (trap arrived after the window closed)");
  return what;
}

// One side's stack as a thread flow, innermost frame first.
std::string ThreadFlow(const AccessModel& a, bool sampled) {
  const std::string label = SideLabel(a, sampled);
  std::string locations;
  for (size_t i = 0; i < a.frames.size(); ++i) {
    absl::StrAppend(&locations, i ? "," : "", "{\"location\":",
                    Location(a.frames[i], i == 0 ? label : ""),
                    ",\"nestingLevel\":", i, "}");
  }
  if (a.frames.empty()) {
    absl::StrAppend(&locations, "{\"location\":{\"message\":",
                    Message(absl::StrCat(label, ": empty stack")), "}}");
  }
  return absl::StrCat(
      "{\"id\":", JsonString(a.thread_known ? absl::StrCat("T", a.thread_id)
                                            : absl::StrCat("tid ", a.tid)),
      ",\"message\":", Message(label), ",\"locations\":[", locations, "]}");
}

// The frame a result points at for one side: the top frame when it has a
// source file, else the innermost frame of the stack that has one (the
// program's call into a library without line information), else the top
// frame (its module names the artifact).
const Frame& SourceFrame(const AccessModel& a) {
  for (const Frame& f : a.frames) {
    if (!f.file.empty()) return f;
  }
  return a.frames[0];
}

}  // namespace

std::string ArtifactUri(const std::string& path) {
  std::string out = path.rfind('/', 0) == 0 ? "file://" : "";
  for (unsigned char c : path) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '/' || c == '-' ||
                       c == '.' || c == '_' || c == '~' || c == '+';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, absl::StrFormat("%%%02X", c));
    }
  }
  return out;
}

std::string SarifLogHead(int pid, const std::string& exe) {
  std::string invocation = absl::StrCat(
      "{\"executionSuccessful\":true,\"processId\":", pid);
  if (!exe.empty()) {
    absl::StrAppend(&invocation, ",\"executableLocation\":{\"uri\":",
                    JsonString(ArtifactUri(exe)), "}");
  }
  invocation += "}";
  return absl::StrCat(
      "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\","
      "\"version\":\"2.1.0\",\"runs\":[{\"tool\":{\"driver\":{"
      "\"name\":\"trapsan\",\"rules\":[{\"id\":\"",
      kRuleId,
      "\",\"name\":\"DataRace\",\"shortDescription\":{\"text\":\"Data "
      "race\"},\"fullDescription\":{\"text\":\"Two threads accessed the same "
      "memory concurrently, at least one of them writing, without "
      "synchronization (found by a sampled watchpoint).\"},"
      "\"defaultConfiguration\":{\"level\":\"error\"}}]}},"
      "\"invocations\":[",
      invocation, "],\"results\":[\n");
}

std::string SarifLogTail() { return "\n]}]}\n"; }

std::string FormatSarifResult(const ReportModel& m, const FormattedReport& text,
                              const JsonReportContext& c) {
  // No stack at all: the executable is the artifact.
  Frame no_frame;
  no_frame.module = c.exe.empty() ? std::string("unknown") : Basename(c.exe);
  const std::vector<std::string> names = DedupNames(m);
  // The primary location: the sampled access's top frame, or the trapped
  // one's when the sampled access is unknown.
  const AccessModel& primary = m.watcher_known ? m.first : m.second;
  const Frame& top = primary.frames.empty() ? no_frame : SourceFrame(primary);
  std::string related;
  // (Left out when the other side's frame names no artifact, a pc in no
  // module: its stack is still in the code flow.)
  if (!m.unknown_origin && m.watcher_known && !m.second.frames.empty() &&
      (!SourceFrame(m.second).file.empty() || !SourceFrame(m.second).module.empty())) {
    related = absl::StrCat(",\"relatedLocations\":[",
                           "{\"id\":1,", Location(SourceFrame(m.second),
                                                  SideLabel(m.second, false))
                                             .substr(1),
                           "]");
  }
  std::string flows;
  if (m.watcher_known) flows = ThreadFlow(m.first, true);
  if (!m.unknown_origin) {
    absl::StrAppend(&flows, flows.empty() ? "" : ",", ThreadFlow(m.second, false));
  }
  std::string message = absl::StrCat(text.title, ": ", text.summary);
  if (!m.location.empty()) absl::StrAppend(&message, "; location is ", m.location);
  if (m.unknown_origin) {
    absl::StrAppend(&message, "; the value changed during the window but no "
                              "other access was trapped");
  }
  return absl::StrCat(
      "{\"ruleId\":\"", kRuleId, "\",\"ruleIndex\":0,\"level\":\"error\","
      "\"message\":", Message(message),
      ",\"locations\":[", Location(top, ""), "]", related,
      ",\"codeFlows\":[{\"message\":", Message(text.title),
      ",\"threadFlows\":[", flows, "]}]",
      ",\"partialFingerprints\":{\"trapsanRacePair/v1\":",
      JsonString(absl::StrCat(names[0], " / ", names[1])), "}",
      ",\"properties\":{\"pid\":", m.pid, ",\"reportIndex\":", c.report_index,
      ",\"unknownOrigin\":", m.unknown_origin ? "true" : "false",
      ",\"asynchronous\":",
      !m.unknown_origin && m.second.async ? "true" : "false",
      ",\"functions\":[", JsonString(names[0]), ",", JsonString(names[1]),
      "]}}");
}

}  // namespace trapsan
