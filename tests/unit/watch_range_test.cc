// ChooseWatchRange (runtime/core/window.h): the watchpoint for an access is
// the largest naturally aligned 8/4/2/1-byte range inside the access, never
// beyond it (neighbouring data must not cause false reports).
#include <cstddef>
#include <cstdint>

#include "gtest/gtest.h"
#include "runtime/core/window.h"

namespace trapsan {
namespace {

struct Range {
  bool ok;
  uintptr_t base;
  int len;
};

Range Choose(uintptr_t addr, size_t size) {
  Range r{false, 0xdead, -1};
  r.ok = ChooseWatchRange(addr, size, &r.base, &r.len);
  return r;
}

// Whether some naturally aligned range of `len` bytes lies in [addr, addr+size).
bool AlignedRangeFits(uintptr_t addr, size_t size, int len) {
  uintptr_t first = (addr + len - 1) / len * len;
  return first + len <= addr + size;
}

TEST(WatchRangeTest, AlignedAccessesWatchThemselves) {
  for (int len : {1, 2, 4, 8}) {
    Range r = Choose(0x1000, len);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.base, 0x1000u);
    EXPECT_EQ(r.len, len);
  }
}

TEST(WatchRangeTest, ZeroSizeHasNoRange) {
  EXPECT_FALSE(Choose(0x1000, 0).ok);
  EXPECT_FALSE(Choose(0x1003, 0).ok);
}

TEST(WatchRangeTest, KnownCases) {
  struct Case {
    uintptr_t addr;
    size_t size;
    uintptr_t base;
    int len;
  } cases[] = {
      {0x1001, 8, 0x1004, 4},   // misaligned 8: the aligned 4 inside
      {0x1002, 8, 0x1004, 4},
      {0x1003, 8, 0x1004, 4},
      {0x1004, 8, 0x1004, 4},   // 4-aligned 8-byte access
      {0x1001, 4, 0x1002, 2},
      {0x1003, 4, 0x1004, 2},
      {0x1003, 2, 0x1003, 1},   // straddles a 2-byte boundary
      {0x1001, 2, 0x1001, 1},
      {0x1007, 2, 0x1007, 1},
      {0x1000, 16, 0x1000, 8},  // larger than 8: an 8-byte part
      {0x1004, 16, 0x1008, 8},
      {0x1001, 3, 0x1002, 2},
      {0x1006, 3, 0x1006, 2},
      {0x1001, 1, 0x1001, 1},
      {0x1000, 7, 0x1000, 4},
      {0x1005, 7, 0x1008, 4},
      {0x7ffffffffff8, 8, 0x7ffffffffff8, 8},  // top of user space
  };
  for (const Case& c : cases) {
    Range r = Choose(c.addr, c.size);
    ASSERT_TRUE(r.ok) << std::hex << c.addr << " size " << c.size;
    EXPECT_EQ(r.base, c.base) << std::hex << c.addr << " size " << std::dec
                              << c.size;
    EXPECT_EQ(r.len, c.len) << std::hex << c.addr << " size " << std::dec
                            << c.size;
  }
}

// Every alignment and size up to 40 bytes: the range is 1/2/4/8 bytes,
// naturally aligned, inside the access, and no longer aligned range fits.
TEST(WatchRangeTest, PropertiesForEveryAlignmentAndSize) {
  const uintptr_t page = 0x7f0000001000;
  for (uintptr_t offset = 0; offset < 64; ++offset) {
    for (size_t size = 1; size <= 40; ++size) {
      const uintptr_t addr = page + offset;
      Range r = Choose(addr, size);
      SCOPED_TRACE(testing::Message() << "offset " << offset << " size "
                                      << size);
      ASSERT_TRUE(r.ok);
      ASSERT_TRUE(r.len == 1 || r.len == 2 || r.len == 4 || r.len == 8)
          << r.len;
      EXPECT_EQ(r.base % static_cast<uintptr_t>(r.len), 0u);
      EXPECT_GE(r.base, addr);
      EXPECT_LE(r.base + r.len, addr + size);
      for (int longer = r.len * 2; longer <= 8; longer *= 2) {
        EXPECT_FALSE(AlignedRangeFits(addr, size, longer))
            << "a " << longer << "-byte aligned range fits but " << r.len
            << " was chosen";
      }
    }
  }
}

}  // namespace
}  // namespace trapsan
