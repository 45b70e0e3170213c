// Suppressions in ThreadSanitizer's syntax (docs/options.md, suppressions=):
//
//   # a comment
//   race:^mylib_*_unlocked$     any frame of either stack, or the global
//   race_top:counter.c          the top frame of either stack only
//   called_from_lib:libfoo.so   either side's top frame is in that module
//
// A pattern matches a function, file or module name (and, for race:, the
// name of the global variable raced on): a substring, unless anchored with
// '^' (start) and/or '$' (end); '*' matches any run of characters. TSan's
// other types (thread, mutex, signal, deadlock) are accepted and do nothing:
// trapsan reports none of those.
//
// Thread-compatible: parsed once at start-up, matched under the reporter's
// lock.
#ifndef TRAPSAN_RUNTIME_CORE_SUPPRESSIONS_H_
#define TRAPSAN_RUNTIME_CORE_SUPPRESSIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace trapsan {

// TSan's template match: substring unless anchored, '*' any run.
bool TemplateMatch(absl::string_view templ, absl::string_view text);

// The names a race offers to suppressions: each side's stack (innermost
// frame first) and the global variable raced on ("" if none).
struct SuppressionFrame {
  std::string function, file, module;
};
struct RaceNames {
  std::vector<SuppressionFrame> stacks[2];
  std::string global;
};

enum class SuppressionType { kRace, kRaceTop, kCalledFromLib, kNoEffect };

struct Suppression {
  SuppressionType type = SuppressionType::kRace;
  std::string type_name;  // as written: "race", "race_top", ...
  std::string pattern;
  int line = 0;
  uint64_t hits = 0;      // races suppressed by it
};

class Suppressions {
 public:
  // Adds the rules of `text`, read from `file` (named in messages). Each bad
  // line appends one message "file 'F' line N: why" to *errors and is
  // skipped; the others apply.
  void Parse(absl::string_view text, absl::string_view file,
             std::vector<std::string>* errors);
  // Reads and parses `path`; an unreadable file is one message.
  void Load(const std::string& path, std::vector<std::string>* errors);

  bool empty() const { return rules_.empty(); }
  // The first rule that suppresses `race`, or -1.
  int Match(const RaceNames& race) const;
  void Hit(int rule) { ++rules_[static_cast<size_t>(rule)].hits; }
  const std::vector<Suppression>& rules() const { return rules_; }
  void ClearHits();

 private:
  std::vector<Suppression> rules_;
};

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_SUPPRESSIONS_H_
