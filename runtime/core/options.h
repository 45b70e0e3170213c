// trapsan's options: a struct generated from options.inc, its parser and help.
//
// Parsing never fails as a whole: an unknown or malformed option yields a
// one-line error naming it, the option is ignored and the others still apply.
#ifndef TRAPSAN_RUNTIME_CORE_OPTIONS_H_
#define TRAPSAN_RUNTIME_CORE_OPTIONS_H_

#include <cstdint>
#include <cstring>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

// Defined by a program that wants options of its own (trapsan.h).
extern "C" __attribute__((weak)) const char* __trapsan_default_options();

namespace trapsan {

// A fixed-size string, so Options stays trivially copyable (it is read from
// the signal handler and copied across fork).
struct String {
  char text[256] = {};
  constexpr String() = default;
  // Implicit, for defaults in options.inc. constexpr: the options are
  // constant-initialized, so they are valid before any constructor runs.
  constexpr String(const char* s) {  // NOLINT
    for (size_t i = 0; s[i] != '\0' && i < sizeof(text) - 1; ++i) text[i] = s[i];
  }
  void Set(absl::string_view s) {
    size_t n = s.size() < sizeof(text) - 1 ? s.size() : sizeof(text) - 1;
    std::memcpy(text, s.data(), n);
    text[n] = '\0';
  }
  const char* c_str() const { return text; }
  bool operator==(absl::string_view other) const { return other == text; }
};

struct Options {
#define TRAPSAN_OPTION(Type, Name, Default, Description) Type Name = Default;
#include "options.inc"
#undef TRAPSAN_OPTION
};

// Parses `text` ("name=value" items separated by ':' or whitespace) over the
// defaults. The `mode` preset applies first, wherever it appears, then every
// other item in order. Each bad item appends one message to *errors (the name
// and value escaped, EscapeForMessage), the first kMaxOptionErrors of them; one
// more message counts the rest.
Options ParseOptions(absl::string_view text, std::vector<std::string>* errors);

// At most this many bad items are described, one line each; the others are
// counted in one more line.
inline constexpr size_t kMaxOptionErrors = 10;

// `text` as it may be echoed in a message: bytes outside printable ASCII (and
// the backslash) as \xNN, and no more than `max_bytes` of it ("..." after).
std::string EscapeForMessage(absl::string_view text, size_t max_bytes = 80);

// The help text printed by help=1: every option, its type, value and meaning.
std::string OptionsHelp(const Options& current);

// The text to parse: the program's __trapsan_default_options() (trapsan.h),
// if it defines one, then `env` (TRAPSAN_OPTIONS), which wins.
std::string OptionsText(const char* env);

// The options in effect, set once by the runtime's initialization.
const Options& GetOptions();
void SetOptions(const Options& options);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_CORE_OPTIONS_H_
