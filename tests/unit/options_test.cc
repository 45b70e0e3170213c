// Option parsing (runtime/core/options.h): TRAPSAN_OPTIONS text -> Options,
// the `mode` presets, one-line errors naming each bad item (which is
// ignored while the others apply), and the help=1 text.
#include "runtime/core/options.h"

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace trapsan {
namespace {

// Field-by-field equality, for every option in options.inc.
bool Same(bool a, bool b) { return a == b; }
bool Same(int64_t a, int64_t b) { return a == b; }
bool Same(double a, double b) { return a == b; }
bool Same(const String& a, const String& b) {
  return std::string(a.c_str()) == b.c_str();
}

// The names of the options whose values differ.
std::vector<std::string> Differences(const Options& a, const Options& b) {
  std::vector<std::string> out;
#define TRAPSAN_OPTION(Type, Name, Default, Description) \
  if (!Same(a.Name, b.Name)) out.push_back(#Name);
#include "runtime/core/options.inc"
#undef TRAPSAN_OPTION
  return out;
}

Options Parse(const std::string& text, std::vector<std::string>* errors) {
  errors->clear();
  return ParseOptions(text, errors);
}

Options ParseClean(const std::string& text) {
  std::vector<std::string> errors;
  Options o = ParseOptions(text, &errors);
  EXPECT_TRUE(errors.empty()) << "'" << text << "': " << errors.front();
  return o;
}

TEST(OptionsTest, DefaultsAreTheProductionPreset) {
  Options o = ParseClean("");
  EXPECT_EQ(std::string(o.mode.c_str()), "production");
  EXPECT_EQ(o.sample_rate, 20000);
  EXPECT_EQ(o.delay_us, 50);
  EXPECT_EQ(o.max_overhead, 1.0);
  EXPECT_EQ(std::string(o.backend.c_str()), "auto");
  EXPECT_EQ(std::string(o.log_path.c_str()), "stderr");
  EXPECT_EQ(o.exitcode, 66);
  EXPECT_FALSE(o.halt_on_error);
  EXPECT_EQ(o.verbosity, 0);
  EXPECT_EQ(o.max_reports, 100);
  EXPECT_FALSE(o.print_stats);
  EXPECT_TRUE(o.symbolize);
  EXPECT_EQ(std::string(o.symbolizer_path.c_str()), "");
  EXPECT_FALSE(o.help);
  EXPECT_TRUE(Differences(o, Options{}).empty());
}

TEST(OptionsTest, ParsesEveryType) {
  Options o = ParseClean(
      "sample_rate=1:delay_us=2000:max_overhead=0.25:backend=soft:"
      "log_path=/tmp/trapsan-log:exitcode=3:halt_on_error=1:verbosity=2:"
      "max_reports=7:print_stats=true:symbolize=0:"
      "symbolizer_path=/usr/bin/llvm-symbolizer:help=yes");
  EXPECT_EQ(o.sample_rate, 1);
  EXPECT_EQ(o.delay_us, 2000);
  EXPECT_EQ(o.max_overhead, 0.25);
  EXPECT_EQ(std::string(o.backend.c_str()), "soft");
  EXPECT_EQ(std::string(o.log_path.c_str()), "/tmp/trapsan-log");
  EXPECT_EQ(o.exitcode, 3);
  EXPECT_TRUE(o.halt_on_error);
  EXPECT_EQ(o.verbosity, 2);
  EXPECT_EQ(o.max_reports, 7);
  EXPECT_TRUE(o.print_stats);
  EXPECT_FALSE(o.symbolize);
  EXPECT_EQ(std::string(o.symbolizer_path.c_str()), "/usr/bin/llvm-symbolizer");
  EXPECT_TRUE(o.help);
}

TEST(OptionsTest, BoolSpellings) {
  EXPECT_TRUE(ParseClean("print_stats=1").print_stats);
  EXPECT_TRUE(ParseClean("print_stats=true").print_stats);
  EXPECT_TRUE(ParseClean("print_stats=yes").print_stats);
  EXPECT_FALSE(ParseClean("symbolize=0").symbolize);
  EXPECT_FALSE(ParseClean("symbolize=false").symbolize);
  EXPECT_FALSE(ParseClean("symbolize=no").symbolize);
}

TEST(OptionsTest, WhitespaceAlsoSeparates) {
  Options o = ParseClean("sample_rate=3 delay_us=4\tmax_reports=5\nverbosity=1");
  EXPECT_EQ(o.sample_rate, 3);
  EXPECT_EQ(o.delay_us, 4);
  EXPECT_EQ(o.max_reports, 5);
  EXPECT_EQ(o.verbosity, 1);
}

TEST(OptionsTest, EmptyItemsAreIgnored) {
  Options o = ParseClean(":::sample_rate=3::  :delay_us=4:");
  EXPECT_EQ(o.sample_rate, 3);
  EXPECT_EQ(o.delay_us, 4);
  EXPECT_TRUE(Differences(ParseClean(":: \t\n:"), Options{}).empty());
}

TEST(OptionsTest, LaterItemWins) {
  EXPECT_EQ(ParseClean("sample_rate=5:sample_rate=7").sample_rate, 7);
  EXPECT_EQ(ParseClean("log_path=a:log_path=stdout").log_path, "stdout");
}

TEST(OptionsTest, ValueMayContainEquals) {
  EXPECT_EQ(std::string(ParseClean("log_path=/tmp/a=b").log_path.c_str()),
            "/tmp/a=b");
}

TEST(OptionsTest, BoundaryValuesAreAccepted) {
  EXPECT_EQ(ParseClean("sample_rate=1").sample_rate, 1);
  EXPECT_EQ(ParseClean("sample_rate=9223372036854775807").sample_rate,
            INT64_MAX);
  EXPECT_EQ(ParseClean("delay_us=0").delay_us, 0);
  EXPECT_EQ(ParseClean("delay_us=1000000").delay_us, 1000000);
  EXPECT_EQ(ParseClean("max_overhead=0").max_overhead, 0.0);
  EXPECT_EQ(ParseClean("max_overhead=100").max_overhead, 100.0);
  EXPECT_EQ(ParseClean("exitcode=0").exitcode, 0);
  EXPECT_EQ(ParseClean("exitcode=255").exitcode, 255);
  EXPECT_EQ(ParseClean("verbosity=3").verbosity, 3);
  EXPECT_EQ(ParseClean("max_reports=0").max_reports, 0);
  for (const char* b : {"auto", "hw", "soft", "off"}) {
    EXPECT_EQ(std::string(ParseClean(std::string("backend=") + b).backend.c_str()), b);
  }
  EXPECT_EQ(std::string(ParseClean("log_path=stdout").log_path.c_str()), "stdout");
  EXPECT_EQ(std::string(ParseClean("log_path=" + std::string(255, 'x')).log_path.c_str()),
            std::string(255, 'x'));
}

// --- Presets. ---

TEST(OptionsTest, CiPresetValues) {
  Options o = ParseClean("mode=ci");
  EXPECT_EQ(std::string(o.mode.c_str()), "ci");
  EXPECT_EQ(o.sample_rate, 50);
  EXPECT_EQ(o.delay_us, 200);
  EXPECT_EQ(o.max_overhead, 50.0);
  EXPECT_EQ(o.max_reports, 1000);
  EXPECT_TRUE(o.release_windows);
  EXPECT_TRUE(o.past_release);
  EXPECT_EQ(o.cold_sites, 16);
  // Everything else keeps its default.
  std::vector<std::string> diff = Differences(o, Options{});
  std::vector<std::string> expected = {"mode", "sample_rate", "delay_us",
                                       "max_overhead", "max_reports",
                                       "release_windows", "past_release",
                                       "preload_period_us",
                                       "cold_sites", "preload_timer",
                                       "preload_lures"};
  EXPECT_EQ(diff, expected);
}

// Each entry of presets.inc sets the same value as writing it explicitly.
TEST(OptionsTest, EveryPresetEntryMatchesTheExplicitOption) {
  int entries = 0;
#define TRAPSAN_PRESET(Mode, Name, Value)                                   \
  {                                                                         \
    ++entries;                                                              \
    Options preset = ParseClean("mode=" #Mode);                             \
    Options explicit_value = ParseClean(#Name "=" Value);                   \
    EXPECT_TRUE(Same(preset.Name, explicit_value.Name))                     \
        << "mode=" #Mode " should set " #Name "=" Value;                    \
    EXPECT_FALSE(Same(preset.Name, Options{}.Name))                         \
        << "mode=" #Mode " entry " #Name " equals the default";             \
  }
#include "runtime/core/presets.inc"
#undef TRAPSAN_PRESET
  EXPECT_GT(entries, 0);
}

TEST(OptionsTest, ExplicitOptionsOverrideThePresetWhereverTheyAppear) {
  Options after = ParseClean("mode=ci:sample_rate=3");
  Options before = ParseClean("sample_rate=3:mode=ci");
  EXPECT_EQ(after.sample_rate, 3);
  EXPECT_EQ(before.sample_rate, 3);
  EXPECT_EQ(before.delay_us, 200);  // the preset still applies to the rest
  EXPECT_EQ(ParseClean("delay_us=7:mode=ci:max_overhead=0").max_overhead, 0.0);
}

TEST(OptionsTest, ProductionModeIsTheDefaults) {
  EXPECT_TRUE(Differences(ParseClean("mode=production"), Options{}).empty());
}

// --- Errors. ---

TEST(OptionsTest, UnknownOptionIsNamedAndTheRestApplies) {
  std::vector<std::string> errors;
  Options o = Parse("sample_rate=3:bogus_option=1:delay_us=9", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("unknown option"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("'bogus_option'"), std::string::npos) << errors[0];
  EXPECT_EQ(errors[0].find('\n'), std::string::npos) << "one line: " << errors[0];
  EXPECT_EQ(o.sample_rate, 3);
  EXPECT_EQ(o.delay_us, 9);
}

// ThreadSanitizer's name for symbolizer_path: TSan option text moves over.
// Errors quote the name as written; the later item wins either way.
TEST(OptionsTest, TsanNameExternalSymbolizerPathIsAnAlias) {
  Options o = ParseClean("external_symbolizer_path=/opt/llvm/bin/llvm-symbolizer");
  EXPECT_EQ(std::string(o.symbolizer_path.c_str()),
            "/opt/llvm/bin/llvm-symbolizer");
  std::vector<std::string> diff = Differences(o, Options{});
  EXPECT_EQ(diff, std::vector<std::string>{"symbolizer_path"});
  o = ParseClean("symbolizer_path=/a:external_symbolizer_path=/b");
  EXPECT_EQ(std::string(o.symbolizer_path.c_str()), "/b");
  o = ParseClean("external_symbolizer_path=/b:symbolizer_path=/a");
  EXPECT_EQ(std::string(o.symbolizer_path.c_str()), "/a");
  std::vector<std::string> errors;
  o = Parse("external_symbolizer_path=" + std::string(300, 'x'), &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("option 'external_symbolizer_path' is too long"),
            std::string::npos)
      << errors[0];
  EXPECT_EQ(std::string(o.symbolizer_path.c_str()), "");
  // Only the exact name.
  o = Parse("external_symbolizer=/b", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("unknown option 'external_symbolizer'"),
            std::string::npos)
      << errors[0];
  EXPECT_NE(OptionsHelp(o).find("external_symbolizer_path (symbolizer_path)"),
            std::string::npos)
      << OptionsHelp(o);
}

TEST(OptionsTest, OptionNamesAreCaseSensitive) {
  std::vector<std::string> errors;
  Options o = Parse("SAMPLE_RATE=1", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("SAMPLE_RATE"), std::string::npos) << errors[0];
  EXPECT_EQ(o.sample_rate, 20000);
}

// Each malformed value: exactly one one-line error naming the option, and
// nothing changes.
TEST(OptionsTest, MalformedValuesAreRejectedAndNamed) {
  struct Case {
    std::string text;
    std::string option;
  } cases[] = {
      {"sample_rate=abc", "sample_rate"},
      {"sample_rate=", "sample_rate"},
      {"sample_rate=12x", "sample_rate"},
      {"sample_rate=1.5", "sample_rate"},
      {"sample_rate=0x10", "sample_rate"},
      {"sample_rate=0", "sample_rate"},
      {"sample_rate=-5", "sample_rate"},
      {"sample_rate=99999999999999999999", "sample_rate"},
      {"delay_us=-1", "delay_us"},
      {"delay_us=1000001", "delay_us"},
      {"max_overhead=abc", "max_overhead"},
      {"max_overhead=", "max_overhead"},
      {"max_overhead=100.5", "max_overhead"},
      {"max_overhead=-0.5", "max_overhead"},
      {"max_overhead=nan", "max_overhead"},
      {"max_overhead=inf", "max_overhead"},
      {"max_overhead=1e999", "max_overhead"},
      {"exitcode=256", "exitcode"},
      {"exitcode=-1", "exitcode"},
      {"halt_on_error=2", "halt_on_error"},
      {"halt_on_error=maybe", "halt_on_error"},
      {"print_stats=", "print_stats"},
      {"symbolize=on", "symbolize"},
      {"verbosity=4", "verbosity"},
      {"verbosity=-1", "verbosity"},
      {"max_reports=-1", "max_reports"},
      {"backend=gpu", "backend"},
      {"backend=", "backend"},
      {"backend=HW", "backend"},
      {"mode=fast", "mode"},
      {"mode=", "mode"},
      {"log_path=", "log_path"},
      {"log_path=" + std::string(300, 'x'), "log_path"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text.substr(0, 60));
    std::vector<std::string> errors;
    Options o = Parse(c.text, &errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find("'" + c.option + "'"), std::string::npos)
        << errors[0];
    EXPECT_EQ(errors[0].find('\n'), std::string::npos) << errors[0];
    std::vector<std::string> diff = Differences(o, Options{});
    EXPECT_TRUE(diff.empty()) << "changed: " << diff.front();
  }
}

TEST(OptionsTest, ItemsWithoutValueAreMalformed) {
  for (const char* text : {"sample_rate", "=5", "print_stats", "help"}) {
    SCOPED_TRACE(text);
    std::vector<std::string> errors;
    Options o = Parse(text, &errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].find('\n'), std::string::npos) << errors[0];
    EXPECT_TRUE(Differences(o, Options{}).empty());
  }
  std::vector<std::string> errors;
  Parse("sample_rate", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("'sample_rate'"), std::string::npos) << errors[0];
}

// `mode` without a value is as malformed as any other option without one.
TEST(OptionsTest, ModeWithoutValueIsMalformed) {
  std::vector<std::string> errors;
  Options o = Parse("mode:sample_rate=3", &errors);
  EXPECT_EQ(errors.size(), 1u) << "'mode' with no '=' was silently ignored";
  if (!errors.empty()) {
    EXPECT_NE(errors[0].find("'mode'"), std::string::npos) << errors[0];
  }
  EXPECT_EQ(o.sample_rate, 3);
}

TEST(OptionsTest, BadModeKeepsTheDefaultsButExplicitOptionsApply) {
  std::vector<std::string> errors;
  Options o = Parse("mode=turbo:delay_us=5", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("'mode'"), std::string::npos) << errors[0];
  EXPECT_EQ(std::string(o.mode.c_str()), "production");
  EXPECT_EQ(o.sample_rate, 20000);  // no preset applied
  EXPECT_EQ(o.delay_us, 5);
}

TEST(OptionsTest, OneErrorPerBadItem) {
  std::vector<std::string> errors;
  Options o = Parse(
      "bogus=1:sample_rate=2:delay_us=abc:max_reports=3:exitcode=999:"
      "also_bogus=2",
      &errors);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_NE(errors[0].find("'bogus'"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("'delay_us'"), std::string::npos) << errors[1];
  EXPECT_NE(errors[2].find("'exitcode'"), std::string::npos) << errors[2];
  EXPECT_NE(errors[3].find("'also_bogus'"), std::string::npos) << errors[3];
  EXPECT_EQ(o.sample_rate, 2);
  EXPECT_EQ(o.max_reports, 3);
  EXPECT_EQ(o.delay_us, 50);
  EXPECT_EQ(o.exitcode, 66);
}

TEST(OptionsTest, ErrorQuotesTheRejectedValue) {
  std::vector<std::string> errors;
  Parse("delay_us=banana", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("banana"), std::string::npos) << errors[0];
}

// --- help=1. ---

TEST(OptionsHelpTest, ListsEveryOptionInOrderWithTypeDefaultAndMeaning) {
  Options current = ParseClean("sample_rate=7:backend=soft");
  std::string help = OptionsHelp(current);
  size_t last = 0;
#define TRAPSAN_OPTION(Type, Name, Default, Description)                    \
  {                                                                         \
    size_t at = help.find("  " #Name " (");                                 \
    EXPECT_NE(at, std::string::npos) << #Name " missing from:\n" << help;   \
    if (at != std::string::npos) {                                          \
      EXPECT_GE(at, last) << #Name " out of options.inc order";             \
      last = at;                                                            \
    }                                                                       \
    std::string desc = Description;                                         \
    EXPECT_NE(help.find(desc.substr(0, 30)), std::string::npos)             \
        << "description of " #Name;                                         \
  }
#include "runtime/core/options.inc"
#undef TRAPSAN_OPTION
  EXPECT_NE(help.find("sample_rate (int, default 20000, now 7)"),
            std::string::npos)
      << help;
  EXPECT_NE(help.find("backend (string, default auto, now soft)"),
            std::string::npos)
      << help;
  EXPECT_NE(help.find("halt_on_error (bool, default 0, now 0)"),
            std::string::npos)
      << help;
  EXPECT_NE(help.find("max_overhead (number, default 1, now 1)"),
            std::string::npos)
      << help;
}

TEST(OptionsHelpTest, ShowsThePresets) {
  std::string help = OptionsHelp(Options{});
  size_t line = help.find("presets of 'mode=ci':");
  ASSERT_NE(line, std::string::npos) << help;
#define TRAPSAN_PRESET(Mode, Name, Value)                                 \
  EXPECT_NE(help.find(#Name "=" Value, line), std::string::npos)          \
      << #Mode " preset " #Name;
#include "runtime/core/presets.inc"
#undef TRAPSAN_PRESET
}

TEST(OptionsErrorsTest, EscapeForMessage) {
  EXPECT_EQ(EscapeForMessage("plain/path_1.x"), "plain/path_1.x");
  EXPECT_EQ(EscapeForMessage(std::string("a\x1b[2J\x07\\\n\xff", 9)),
            "a\\x1b[2J\\x07\\x5c\\x0a\\xff");
  EXPECT_EQ(EscapeForMessage(std::string(100, 'z'), 4), "zzzz...");
}

TEST(OptionsErrorsTest, ManyBadItemsAreCapped) {
  std::vector<std::string> errors;
  std::string text;
  for (int i = 0; i < 25; ++i) text += "bad" + std::to_string(i) + ":";
  Options o = Parse(text + "sample_rate=7", &errors);
  EXPECT_EQ(o.sample_rate, 7);
  ASSERT_EQ(errors.size(), kMaxOptionErrors + 1);
  EXPECT_NE(errors[0].find("'bad0'"), std::string::npos) << errors[0];
  EXPECT_EQ(errors.back(), "15 more bad item(s), not shown,");
}

}  // namespace
}  // namespace trapsan
