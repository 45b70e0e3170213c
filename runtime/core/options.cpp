#include "options.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace trapsan {
namespace {

// --- Parsing one value into each option type. Return an error or "". ---

std::string ParseValue(absl::string_view value, bool* out) {
  if (value == "1" || value == "true" || value == "yes") {
    *out = true;
  } else if (value == "0" || value == "false" || value == "no") {
    *out = false;
  } else {
    return "expects 0 or 1";
  }
  return "";
}

std::string ParseValue(absl::string_view value, int64_t* out) {
  std::string s(value);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE) return "expects an integer";
  *out = v;
  return "";
}

std::string ParseValue(absl::string_view value, double* out) {
  std::string s(value);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v)) {
    return "expects a number";
  }
  *out = v;
  return "";
}

std::string ParseValue(absl::string_view value, String* out) {
  if (value.size() >= sizeof(out->text)) return "is too long";
  out->Set(value);
  return "";
}

// --- Range checks, per option, after the type parsed. ---

bool OneOf(const String& s, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (s == a) return true;
  }
  return false;
}

std::string Validate(const Options& o, absl::string_view name) {
  if (name == "mode" && !OneOf(o.mode, {"production", "ci"})) {
    return "expects production or ci";
  }
  if (name == "backend" && !OneOf(o.backend, {"auto", "hw", "soft", "off"})) {
    return "expects auto, hw, soft or off";
  }
  if (name == "sample_rate" && o.sample_rate < 1) return "must be >= 1";
  if (name == "delay_us" && (o.delay_us < 0 || o.delay_us > 1000000)) {
    return "must be within 0..1000000";
  }
  if (name == "max_overhead" && (o.max_overhead < 0 || o.max_overhead > 100)) {
    return "must be within 0..100";
  }
  if (name == "exitcode" && (o.exitcode < 0 || o.exitcode > 255)) {
    return "must be within 0..255";
  }
  if (name == "verbosity" && (o.verbosity < 0 || o.verbosity > 3)) {
    return "must be within 0..3";
  }
  if (name == "max_reports" && o.max_reports < 0) return "must be >= 0";
  if (name == "log_path" && o.log_path.text[0] == '\0') {
    return "must not be empty";
  }
  if (name == "format" && !OneOf(o.format, {"text", "json", "sarif"})) {
    return "expects text, json or sarif";
  }
  return "";
}

// ThreadSanitizer's names for options trapsan names otherwise: a user's
// TSan option text works here too (docs/options.md). {alias, option}.
constexpr const char* kAliases[][2] = {
    {"external_symbolizer_path", "symbolizer_path"},
};

// The option `name` stands for: itself, or what an alias names.
absl::string_view OptionFor(absl::string_view name) {
  for (const auto& alias : kAliases) {
    if (name == alias[0]) return alias[1];
  }
  return name;
}

// Sets option `name` (or the one an alias names) from `value`; returns an
// error message, which says `name` as the user wrote it, or "".
std::string SetOption(Options* o, absl::string_view name,
                      absl::string_view value) {
  const absl::string_view option = OptionFor(name);
#define TRAPSAN_OPTION(Type, Name, Default, Description)           \
  if (option == #Name) {                                            \
    Type parsed = o->Name;                                          \
    std::string error = ParseValue(value, &parsed);                 \
    if (error.empty()) {                                            \
      Options candidate = *o;                                       \
      candidate.Name = parsed;                                      \
      error = Validate(candidate, option);                          \
      if (error.empty()) o->Name = parsed;                          \
    }                                                               \
    return error.empty()                                            \
               ? ""                                                 \
               : absl::StrCat("option '", name, "' ", error,        \
                              " (got '", EscapeForMessage(value),   \
                              "')");                                \
  }
#include "options.inc"
#undef TRAPSAN_OPTION
  return absl::StrCat("unknown option '", EscapeForMessage(name), "'");
}

struct Item {
  absl::string_view name, value;
  bool has_value;
};

std::vector<Item> SplitItems(absl::string_view text) {
  std::vector<Item> items;
  size_t i = 0;
  auto is_sep = [](char c) {
    return c == ':' || c == ' ' || c == '\t' || c == '\n' || c == ',';
  };
  while (i < text.size()) {
    while (i < text.size() && is_sep(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && !is_sep(text[i])) ++i;
    if (i == start) break;
    absl::string_view item = text.substr(start, i - start);
    size_t eq = item.find('=');
    if (eq == absl::string_view::npos) {
      items.push_back({item, {}, false});
    } else {
      items.push_back({item.substr(0, eq), item.substr(eq + 1), true});
    }
  }
  return items;
}

// include=FILE items replaced by the items of FILE ('#' starts a comment
// there), recursively up to kMaxIncludeDepth. The files' text is kept in
// *storage, which the items point into.
constexpr int kMaxIncludeDepth = 8;

// The items naming a file (suppressions=, include=) in the options file
// `path` with a relative path: made relative to that file's directory, as a
// file that sits beside it is meant (docs/options.md).
void RebaseRelativePaths(const std::string& path, std::vector<Item>* items,
                         std::deque<std::string>* storage) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return;  // in the working directory
  const std::string dir = path.substr(0, slash + 1);
  for (Item& item : *items) {
    if (item.name != "suppressions" && item.name != "include") continue;
    if (!item.has_value || item.value.empty() || item.value[0] == '/') continue;
    storage->push_back(absl::StrCat(dir, item.value));
    item.value = storage->back();
  }
}

void ExpandIncludes(const std::vector<Item>& items, int depth,
                    std::deque<std::string>* storage, std::vector<Item>* out,
                    std::vector<std::string>* errors) {
  for (const Item& item : items) {
    if (item.name != "include" || !item.has_value) {
      out->push_back(item);
      continue;
    }
    std::string path(item.value);
    if (depth >= kMaxIncludeDepth) {
      errors->push_back(absl::StrCat("include '", EscapeForMessage(path),
                                     "' nested more than ", kMaxIncludeDepth,
                                     " deep; not read"));
      continue;
    }
    FILE* f = path.empty() ? nullptr : fopen(path.c_str(), "re");
    if (f == nullptr) {
      errors->push_back(absl::StrCat("cannot read include file '",
                                     EscapeForMessage(path), "': ",
                                     strerror(path.empty() ? ENOENT : errno)));
      continue;
    }
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
    fclose(f);
    // Comments: from '#' to the end of the line.
    std::string kept;
    bool comment = false;
    for (char c : text) {
      if (c == '#') comment = true;
      if (c == '\n') comment = false;
      kept.push_back(comment ? ' ' : c);
    }
    storage->push_back(std::move(kept));
    std::vector<Item> included = SplitItems(storage->back());
    RebaseRelativePaths(path, &included, storage);
    ExpandIncludes(included, depth + 1, storage, out, errors);
  }
}

void ApplyPreset(Options* o, absl::string_view mode) {
#define TRAPSAN_PRESET(Mode, Name, Value) \
  if (mode == #Mode) SetOption(o, #Name, Value);
#include "presets.inc"
#undef TRAPSAN_PRESET
}

std::string Describe(bool v) { return v ? "1" : "0"; }
std::string Describe(int64_t v) { return absl::StrCat(v); }
std::string Describe(double v) { return absl::StrFormat("%g", v); }
std::string Describe(const String& v) {
  return EscapeForMessage(v.c_str(), sizeof(v.text));
}

const char* TypeName(bool*) { return "bool"; }
const char* TypeName(int64_t*) { return "int"; }
const char* TypeName(double*) { return "number"; }
const char* TypeName(String*) { return "string"; }

// Constant-initialized (constexpr Options()), unlike anything dynamic.
Options g_options;

}  // namespace

std::string EscapeForMessage(absl::string_view text, size_t max_bytes) {
  std::string out;
  size_t n = text.size() < max_bytes ? text.size() : max_bytes;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, absl::StrFormat("\\x%02x", c));
    }
  }
  if (n < text.size()) out += "...";
  return out;
}

Options ParseOptions(absl::string_view text,
                     std::vector<std::string>* errors_out) {
  // Every message, then the first kMaxOptionErrors of them in *errors_out.
  std::vector<std::string> all_errors;
  std::vector<std::string>* errors = &all_errors;
  Options o;
  std::deque<std::string> included;
  std::vector<Item> items;
  ExpandIncludes(SplitItems(text), 0, &included, &items, errors);
  // The preset first, so explicit options override it wherever they appear.
  for (const Item& item : items) {
    if (item.name == "mode" && item.has_value) {
      std::string error = SetOption(&o, "mode", item.value);
      if (!error.empty()) errors->push_back(error);
    }
  }
  ApplyPreset(&o, o.mode.c_str());
  for (const Item& item : items) {
    if (item.name == "mode" && item.has_value) continue;  // Applied above.
    if (item.name.empty() || !item.has_value) {
      errors->push_back(absl::StrCat("malformed option '",
                                     EscapeForMessage(item.name),
                                     "': expected name=value"));
      continue;
    }
    std::string error = SetOption(&o, item.name, item.value);
    if (!error.empty()) errors->push_back(error);
  }
  for (size_t i = 0; i < all_errors.size() && i < kMaxOptionErrors; ++i) {
    errors_out->push_back(std::move(all_errors[i]));
  }
  if (all_errors.size() > kMaxOptionErrors) {
    errors_out->push_back(absl::StrCat(
        all_errors.size() - kMaxOptionErrors, " more bad item(s), not shown,"));
  }
  return o;
}

std::string OptionsHelp(const Options& current) {
  std::string out = "trapsan options (TRAPSAN_OPTIONS=name=value:name=value):\n";
  Options defaults;
#define TRAPSAN_OPTION(Type, Name, Default, Description)                     \
  {                                                                          \
    absl::StrAppend(&out, "  ", #Name, " (",                                 \
                    TypeName(static_cast<Type*>(nullptr)), ", default ",     \
                    Describe(defaults.Name), ", now ",                       \
                    Describe(current.Name), ")\n      ", Description, "\n"); \
  }
#include "options.inc"
#undef TRAPSAN_OPTION
  absl::StrAppend(&out, "  presets of 'mode=ci':");
#define TRAPSAN_PRESET(Mode, Name, Value) \
  absl::StrAppend(&out, " ", #Name, "=", Value);
#include "presets.inc"
#undef TRAPSAN_PRESET
  absl::StrAppend(&out, "\n  ThreadSanitizer's names, accepted too:");
  for (const auto& alias : kAliases) {
    absl::StrAppend(&out, " ", alias[0], " (", alias[1], ")");
  }
  absl::StrAppend(&out, "\n");
  return out;
}

std::string OptionsText(const char* env) {
  std::string text;
  if (&__trapsan_default_options != nullptr) {
    const char* defaults = __trapsan_default_options();
    if (defaults != nullptr) text = defaults;
  }
  if (env != nullptr) absl::StrAppend(&text, text.empty() ? "" : ":", env);
  return text;
}

const Options& GetOptions() { return g_options; }
void SetOptions(const Options& options) { g_options = options; }

}  // namespace trapsan
