// The documentation keeps up with the code: every option of options.inc is
// in docs/options.md, every counter of counters.inc in trapsan.h.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

std::string Read(const std::string& relative) {
  std::ifstream in(std::string(TRAPSAN_SOURCE_DIR) + "/" + relative);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(DocsTest, EveryOptionIsDocumented) {
  std::string doc = Read("docs/options.md");
  ASSERT_FALSE(doc.empty());
#define TRAPSAN_OPTION(Type, Name, Default, Description) \
  EXPECT_NE(doc.find("| `" #Name "` |"), std::string::npos) << #Name;
#include "runtime/core/options.inc"
#undef TRAPSAN_OPTION
}

// Each option's row says its type and default as options.inc declares them
// (`| name | type | default | ...`): an empty string's default is a
// parenthesized word ("(none)", "(search)"). And every row names an option.
struct String {};  // options.inc's string type, as a tag here
template <typename T>
struct DocRow;
template <>
struct DocRow<bool> {
  static std::string Kind() { return "bool"; }
  static std::string Shown(bool v) { return v ? "1" : "0"; }
};
template <>
struct DocRow<int64_t> {
  static std::string Kind() { return "int"; }
  static std::string Shown(int64_t v) { return std::to_string(v); }
};
template <>
struct DocRow<double> {
  static std::string Kind() { return "number"; }
  static std::string Shown(double v) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%g", v);
    return buf;
  }
};
template <>
struct DocRow<String> {
  static std::string Kind() { return "string"; }
  static std::string Shown(const char* v) {
    return v[0] != '\0' ? "`" + std::string(v) + "`" : "(";
  }
};

// The row's cells after the name: type, default.
std::vector<std::string> RowCells(const std::string& doc, const std::string& name) {
  size_t row = doc.find("| `" + name + "` |");
  if (row == std::string::npos) return {};
  std::string line = doc.substr(row, doc.find('\n', row) - row);
  std::vector<std::string> cells;
  std::stringstream in(line);
  std::string cell;
  while (std::getline(in, cell, '|') && cells.size() < 4) {
    cell.erase(0, cell.find_first_not_of(' '));
    cell.erase(cell.find_last_not_of(' ') + 1);
    cells.push_back(cell);
  }
  // "", "`name`", type, default
  if (cells.size() < 4) return {};
  return {cells[2], cells[3]};
}

TEST(DocsTest, OptionRowsShowTheDeclaredTypeAndDefault) {
  std::string doc = Read("docs/options.md");
  std::vector<std::string> names;
#define TRAPSAN_OPTION(Type, Name, Default, Description)                     \
  {                                                                          \
    names.push_back(#Name);                                                  \
    std::vector<std::string> cells = RowCells(doc, #Name);                   \
    ASSERT_GE(cells.size(), 2u) << #Name;                                    \
    EXPECT_EQ(cells[0], DocRow<Type>::Kind()) << #Name;                      \
    const std::string expected = DocRow<Type>::Shown(Default);             \
    EXPECT_EQ(cells[1].substr(0, expected == "(" ? 1 : std::string::npos),   \
              expected)                                                      \
        << #Name;                                                            \
  }
#include "runtime/core/options.inc"
#undef TRAPSAN_OPTION
  // Every row of the table is an option of the list.
  for (size_t at = doc.find("\n| `"); at != std::string::npos;
       at = doc.find("\n| `", at + 1)) {
    size_t end = doc.find('`', at + 4);
    const std::string name = doc.substr(at + 4, end - at - 4);
    const std::string rest = doc.substr(end, 12);
    if (rest.find("` | string") != 0 && rest.find("` | int") != 0 &&
        rest.find("` | number") != 0 && rest.find("` | bool") != 0) {
      continue;  // another table (suppression types, ...)
    }
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end())
        << "docs/options.md documents '" << name << "', which is no option";
  }
}

TEST(DocsTest, EveryPresetValueIsDocumented) {
  std::string doc = Read("docs/options.md");
#define TRAPSAN_PRESET(Mode, Name, Value)                                  \
  {                                                                        \
    size_t row = doc.find("| `" #Name "` |");                              \
    ASSERT_NE(row, std::string::npos) << #Name;                            \
    std::string line = doc.substr(row, doc.find('\n', row) - row);         \
    EXPECT_NE(line.find("| " Value " |"), std::string::npos)               \
        << #Name " should show " #Mode "=" Value ": " << line;             \
  }
#include "runtime/core/presets.inc"
#undef TRAPSAN_PRESET
}

}  // namespace
