// The documentation keeps up with the code: every option of options.inc is
// in docs/options.md, every counter of counters.inc in trapsan.h.
#include <fstream>
#include <sstream>
#include <string>

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
