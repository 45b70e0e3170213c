#include "suppressions.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "runtime/core/options.h"

namespace trapsan {
namespace {

// '*' matches any run; everything else itself. Iterative, with one
// backtracking point (the last '*'): linear enough for names.
bool GlobMatch(absl::string_view p, absl::string_view s) {
  size_t pi = 0, si = 0, star = absl::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (pi < p.size() && p[pi] == s[si]) {
      ++pi;
      ++si;
    } else if (star != absl::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool FrameMatches(absl::string_view pattern, const SuppressionFrame& f) {
  return (!f.function.empty() && TemplateMatch(pattern, f.function)) ||
         (!f.file.empty() && TemplateMatch(pattern, f.file)) ||
         (!f.module.empty() && TemplateMatch(pattern, f.module));
}

}  // namespace

bool TemplateMatch(absl::string_view templ, absl::string_view text) {
  if (templ.empty()) return false;
  std::string glob;
  if (templ.front() == '^') {
    templ.remove_prefix(1);
  } else {
    glob = "*";
  }
  bool end_anchored = !templ.empty() && templ.back() == '$';
  if (end_anchored) templ.remove_suffix(1);
  absl::StrAppend(&glob, templ, end_anchored ? "" : "*");
  return GlobMatch(glob, text);
}

void Suppressions::Parse(absl::string_view text, absl::string_view file,
                         std::vector<std::string>* errors) {
  int line_number = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    absl::string_view line = text.substr(0, nl);
    text = nl == absl::string_view::npos ? absl::string_view()
                                         : text.substr(nl + 1);
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    auto error = [&](const std::string& why) {
      errors->push_back(absl::StrCat("suppressions file '",
                                     EscapeForMessage(file), "' line ",
                                     line_number, ": ", why, " (got '",
                                     EscapeForMessage(line), "')"));
    };
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      error("expected TYPE:PATTERN, e.g. race:my_function");
      continue;
    }
    Suppression s;
    s.type_name = std::string(absl::StripAsciiWhitespace(line.substr(0, colon)));
    s.pattern = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    s.line = line_number;
    if (s.type_name == "race") {
      s.type = SuppressionType::kRace;
    } else if (s.type_name == "race_top") {
      s.type = SuppressionType::kRaceTop;
    } else if (s.type_name == "called_from_lib") {
      s.type = SuppressionType::kCalledFromLib;
    } else if (s.type_name == "thread" || s.type_name == "mutex" ||
               s.type_name == "signal" || s.type_name == "deadlock") {
      s.type = SuppressionType::kNoEffect;
    } else {
      error(absl::StrCat("unknown suppression type '",
                         EscapeForMessage(s.type_name),
                         "' (expected race, race_top or called_from_lib)"));
      continue;
    }
    if (s.pattern.empty() || s.pattern == "^" || s.pattern == "$" ||
        s.pattern == "^$") {
      error("empty pattern");
      continue;
    }
    rules_.push_back(std::move(s));
  }
}

void Suppressions::Load(const std::string& path,
                        std::vector<std::string>* errors) {
  FILE* f = path.empty() ? nullptr : fopen(path.c_str(), "re");
  if (f == nullptr) {
    const int e = path.empty() ? ENOENT : errno;
    // A relative path is read from the working directory (in an include=
    // file, the options made it relative to that file's directory): say
    // which directory that was.
    std::string where;
    char cwd[512];
    if (!path.empty() && path[0] != '/' &&
        getcwd(cwd, sizeof(cwd)) != nullptr) {
      where = absl::StrCat(" (relative to the working directory '",
                           EscapeForMessage(cwd, 200), "')");
    }
    errors->push_back(absl::StrCat(
        "cannot read suppressions file '", EscapeForMessage(path, 300), "'",
        where, ": ", strerror(e), "; no race is suppressed"));
    return;
  }
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  fclose(f);
  Parse(text, path, errors);
}

int Suppressions::Match(const RaceNames& race) const {
  for (size_t i = 0; i < rules_.size(); ++i) {
    const Suppression& s = rules_[i];
    for (const std::vector<SuppressionFrame>& stack : race.stacks) {
      if (stack.empty()) continue;
      switch (s.type) {
        case SuppressionType::kRace:
          for (const SuppressionFrame& f : stack) {
            if (FrameMatches(s.pattern, f)) return static_cast<int>(i);
          }
          break;
        case SuppressionType::kRaceTop:
          if (FrameMatches(s.pattern, stack[0])) return static_cast<int>(i);
          break;
        case SuppressionType::kCalledFromLib:
          if (!stack[0].module.empty() &&
              TemplateMatch(s.pattern, stack[0].module)) {
            return static_cast<int>(i);
          }
          break;
        case SuppressionType::kNoEffect:
          break;
      }
    }
    if (s.type == SuppressionType::kRace && !race.global.empty() &&
        TemplateMatch(s.pattern, race.global)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

void Suppressions::ClearHits() {
  for (Suppression& s : rules_) s.hits = 0;
}

}  // namespace trapsan
