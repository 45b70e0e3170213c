// The trapsan_stats ABI (include/trapsan/trapsan.h): fields are only
// appended, and nothing is written past the size the caller's header knew.
#include <cstddef>
#include <cstring>

#include <gtest/gtest.h>

#include "trapsan/trapsan.h"

namespace {

// The layout of programs built before fields were added at the end: 24
// counters, hw_slots, backend (as at 69ce22f).
static_assert(offsetof(trapsan_stats, hw_slots) == 24 * 8, "old layout");
static_assert(offsetof(trapsan_stats, backend) == 24 * 8 + 4, "old layout");
static_assert(offsetof(trapsan_stats, labels_passed) == 25 * 8,
              "added fields follow the old layout");

constexpr unsigned char kCanary = 0xab;

TEST(StatsAbiTest, SizeBoundsWhatIsWritten) {
  unsigned char buf[sizeof(trapsan_stats) + 64];
  for (size_t size : {size_t{0}, size_t{8}, size_t{200}, sizeof(trapsan_stats)}) {
    memset(buf, kCanary, sizeof(buf));
    trapsan_get_stats_size(reinterpret_cast<trapsan_stats*>(buf), size);
    for (size_t i = size; i < sizeof(buf); ++i)
      ASSERT_EQ(buf[i], kCanary) << "size " << size << ", byte " << i;
  }
}

TEST(StatsAbiTest, TheExportedFunctionFillsTheOldLayout) {
  unsigned char buf[sizeof(trapsan_stats) + 64];
  memset(buf, kCanary, sizeof(buf));
  (trapsan_get_stats)(reinterpret_cast<trapsan_stats*>(buf));  // not the macro
  for (size_t i = offsetof(trapsan_stats, labels_passed); i < sizeof(buf); ++i)
    ASSERT_EQ(buf[i], kCanary) << "byte " << i;
  trapsan_stats old;
  memcpy(&old, buf, offsetof(trapsan_stats, labels_passed));
  EXPECT_EQ(old.backend, 0);  // backend=off (tests/unit/CMakeLists.txt)
}

TEST(StatsAbiTest, TheMacroFillsEverything) {
  trapsan_stats s;
  memset(&s, kCanary, sizeof(s));
  trapsan_get_stats(&s);
  EXPECT_EQ(s.backend, 0);
  EXPECT_EQ(s.hw_slots, 0);
  EXPECT_NE(s.held_release_in_runtime, 0xababababababababull);
  EXPECT_EQ(s.races_suppressed, 0u);  // the last (backend=off: nothing)
}

}  // namespace
