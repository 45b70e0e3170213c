// The watchpoint cookie (runtime/core/cookie.h): what the SIGTRAP handler
// uses to tell trapsan's traps (slot + window generation) from anyone else's.
#include "runtime/core/cookie.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace trapsan {
namespace {

static_assert(kMaxSlots == 4, "x86 has 4 debug registers");

TEST(CookieTest, RoundTripsEverySlotAndManyGenerations) {
  const uint64_t generations[] = {0,
                                  1,
                                  2,
                                  3,
                                  12345,
                                  uint64_t{1} << 20,
                                  uint64_t{1} << 45,
                                  kGenerationMask - 1,
                                  kGenerationMask};
  for (int slot = 0; slot < kMaxSlots; ++slot) {
    for (uint64_t gen : generations) {
      uint64_t value = EncodeCookie(slot, gen);
      Cookie c{-1, 0};
      ASSERT_TRUE(DecodeCookie(value, &c)) << "slot " << slot << " gen " << gen;
      EXPECT_EQ(c.slot, slot);
      EXPECT_EQ(c.generation, gen);
    }
  }
}

TEST(CookieTest, DistinctWindowsGetDistinctCookies) {
  EXPECT_NE(EncodeCookie(0, 1), EncodeCookie(1, 1));
  EXPECT_NE(EncodeCookie(2, 7), EncodeCookie(2, 8));
  EXPECT_NE(EncodeCookie(3, 0), EncodeCookie(0, 0));
}

TEST(CookieTest, CarriesTheMagicInTheTopBits) {
  EXPECT_EQ(EncodeCookie(0, 0) >> 48, kCookieMagic);
  EXPECT_EQ(EncodeCookie(3, kGenerationMask) >> 48, kCookieMagic);
  // A real cookie is never 0 (0 means "no window" in the slots).
  EXPECT_NE(EncodeCookie(0, 0), 0u);
}

TEST(CookieTest, GenerationWrapsInsteadOfCorruptingTheMagic) {
  const uint64_t too_big = kGenerationMask + 5;  // 2^46 + 4
  uint64_t value = EncodeCookie(1, too_big);
  Cookie c;
  ASSERT_TRUE(DecodeCookie(value, &c));
  EXPECT_EQ(c.slot, 1);
  EXPECT_EQ(c.generation, too_big & kGenerationMask);
  EXPECT_EQ(value >> 48, kCookieMagic);
  Cookie all_ones;
  ASSERT_TRUE(DecodeCookie(EncodeCookie(2, ~uint64_t{0}), &all_ones));
  EXPECT_EQ(all_ones.slot, 2);
  EXPECT_EQ(all_ones.generation, kGenerationMask);
}

TEST(CookieTest, RejectsValuesWithoutTheMagic) {
  Cookie c{7, 7};
  // Another perf user's sig_data, a zero, small numbers, pointers, all ones.
  const uint64_t foreign[] = {0,
                              1,
                              0x1234,
                              0xdeadbeef,
                              0x00007ffd12345678,  // a stack address
                              0x0000555555554000,  // a PIE address
                              ~uint64_t{0},
                              (kCookieMagic + 1) << 48,
                              (kCookieMagic - 1) << 48,
                              kCookieMagic,        // magic in the low bits
                              kCookieMagic << 47,  // off by one bit
                              (kCookieMagic << 48) ^ (uint64_t{1} << 63)};
  for (uint64_t v : foreign) {
    EXPECT_FALSE(DecodeCookie(v, &c)) << std::hex << "0x" << v;
  }
  // A rejected value leaves the output alone.
  EXPECT_EQ(c.slot, 7);
  EXPECT_EQ(c.generation, 7u);
}

TEST(CookieTest, UsableInConstantExpressions) {
  constexpr uint64_t v = EncodeCookie(3, 42);
  static_assert((v >> 48) == kCookieMagic, "magic");
  static_assert((v & 3) == 3, "slot");
  static_assert(((v >> 2) & kGenerationMask) == 42, "generation");
  SUCCEED();
}

}  // namespace
}  // namespace trapsan
