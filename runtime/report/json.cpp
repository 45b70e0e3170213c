#include "json.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace trapsan {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t Utf8Length(absl::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3
             : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  }
  return n;
}

std::string OrNull(const std::string& s) {
  return s.empty() ? "null" : JsonString(s);
}

std::string Bool(bool b) { return b ? "true" : "false"; }

std::string Frame1(const Frame& f, size_t index) {
  return absl::StrCat(
      "{\"index\":", index, ",\"pc\":", JsonHex(f.pc),
      ",\"function\":", OrNull(f.function), ",\"file\":", OrNull(f.file),
      ",\"line\":", f.line > 0 ? absl::StrCat(f.line) : "null",
      ",\"module\":", OrNull(f.module), ",\"offset\":",
      f.module.empty() ? "null" : JsonHex(f.module_offset), "}");
}

std::string Access(const AccessModel& a) {
  return absl::StrCat(
      "{\"kind\":", JsonString(a.kind),
      ",\"size\":", a.size > 0 ? absl::StrCat(a.size) : "null",
      ",\"address\":", JsonHex(a.addr),
      ",\"thread\":", a.thread_known ? absl::StrCat(a.thread_id) : "null",
      ",\"tid\":", a.tid, ",\"late\":", Bool(a.late),
      ",\"asynchronous\":", Bool(a.async), ",\"stack\":", JsonStack(a.frames),
      "}");
}

std::string Thread(const ThreadModel& t) {
  const char* origin = t.is_initial            ? "initial"
                       : t.existed_before_init ? "existed_before_init"
                                               : "created";
  const bool created = !t.is_initial && !t.existed_before_init;
  return absl::StrCat(
      "{\"id\":", t.id, ",\"tid\":", t.tid, ",\"name\":", OrNull(t.name),
      ",\"state\":", t.running ? "\"running\"" : "\"finished\"",
      ",\"origin\":\"", origin, "\",\"parent\":",
      created ? absl::StrCat(t.parent_id) : "null",
      ",\"creation_stack\":", created ? JsonStack(t.creation) : "null", "}");
}

// The first word of the location's description: global, stack, heap,
// mapping or unknown (location.cpp's phrases).
std::string LocationKind(const std::string& description) {
  for (const char* kind : {"global", "stack", "heap", "mapping"}) {
    if (description.rfind(kind, 0) == 0) return kind;
  }
  return "unknown";
}

std::string NameList(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", JsonString(names[i]));
  }
  return out + "]";
}

}  // namespace

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", std::string(1, static_cast<char>(c)));
      ++i;
      continue;
    }
    if (c == '\n') { out += "\\n"; ++i; continue; }
    if (c == '\t') { out += "\\t"; ++i; continue; }
    if (c < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, absl::StrFormat("\\u%04x", c));
      ++i;
      continue;
    }
    size_t n = Utf8Length(s, i);
    if (n == 0) {  // Not UTF-8: the byte as a Latin-1 code point.
      absl::StrAppend(&out, absl::StrFormat("\\u%04x", c));
      ++i;
      continue;
    }
    out.append(s.data() + i, n);
    i += n;
  }
  return out + "\"";
}

std::string JsonHex(uint64_t v) { return absl::StrFormat("\"0x%x\"", v); }

std::string JsonStack(const std::vector<Frame>& frames) {
  std::string out = "[";
  for (size_t i = 0; i < frames.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", Frame1(frames[i], i));
  }
  return out + "]";
}

std::vector<std::string> DedupNames(const ReportModel& m) {
  static const Frame kNoFrame;
  const Frame& first = m.first.frames.empty() ? kNoFrame : m.first.frames[0];
  const Frame& second = m.second.frames.empty() ? kNoFrame : m.second.frames[0];
  std::string a = m.watcher_known ? FrameName(first) : "<unknown watcher>";
  if (m.unknown_origin) return {a, "<unknown origin>"};
  std::string b = m.second.async ? kAsyncTrapName : FrameName(second);
  if (b < a) std::swap(a, b);
  return {a, b};
}

std::string FormatJsonReport(const ReportModel& m, const FormattedReport& text,
                             const JsonReportContext& c) {
  const uintptr_t addr = m.watcher_known ? m.first.addr : m.second.addr;
  std::string threads = "[";
  for (size_t i = 0; i < m.threads.size(); ++i) {
    absl::StrAppend(&threads, i ? "," : "", Thread(m.threads[i]));
  }
  threads += "]";
  return absl::StrCat(
      "{\"type\":\"race\",\"schema_version\":", kReportSchemaVersion,
      ",\"tool\":\"trapsan\",\"pid\":", m.pid, ",\"exe\":", JsonString(c.exe),
      ",\"report_index\":", c.report_index, ",\"title\":",
      JsonString(text.title), ",\"summary\":", JsonString(text.summary),
      ",\"functions\":", NameList(DedupNames(m)),
      ",\"unknown_origin\":", Bool(m.unknown_origin),
      ",\"asynchronous\":", Bool(!m.unknown_origin && m.second.async),
      ",\"late\":", Bool(!m.unknown_origin && m.second.late),
      ",\"sampled\":", m.watcher_known ? Access(m.first) : "null",
      ",\"concurrent\":", m.unknown_origin ? "null" : Access(m.second),
      ",\"location\":{\"kind\":\"", LocationKind(m.location),
      "\",\"address\":", JsonHex(addr),
      ",\"description\":", JsonString(m.location), "}",
      ",\"value_change\":",
      m.value_changed ? absl::StrCat("{\"old\":", JsonHex(m.old_value),
                                     ",\"new\":", JsonHex(m.new_value), "}")
                      : "null",
      ",\"threads\":", threads, "}\n");
}

std::string FormatJsonSummary(const RunSummary& s) {
  std::string races = "[";
  for (size_t i = 0; i < s.races.size(); ++i) {
    const RaceCount& r = s.races[i];
    absl::StrAppend(&races, i ? "," : "", "{\"title\":", JsonString(r.title),
                    ",\"functions\":", NameList(r.functions),
                    ",\"count\":", r.count, ",\"printed\":", Bool(r.printed),
                    "}");
  }
  races += "]";
  return absl::StrCat(
      "{\"type\":\"summary\",\"schema_version\":", kReportSchemaVersion,
      ",\"tool\":\"trapsan\",\"pid\":", s.pid, ",\"exe\":", JsonString(s.exe),
      ",\"races_found\":", s.races_found,
      ",\"races_reported\":", s.races_reported,
      ",\"duplicates\":", s.duplicates, ",\"suppressed\":", s.suppressed,
      ",\"races\":", races, "}\n");
}

}  // namespace trapsan
