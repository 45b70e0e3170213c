// Deduplication (runtime/report/dedup.h): an unordered pair, seen once.
#include "runtime/report/dedup.h"

#include "gtest/gtest.h"

namespace trapsan {
namespace {

TEST(DedupTest, UnorderedPairIsReportedOnce) {
  Deduplicator d;
  EXPECT_TRUE(d.FirstTime("writer", "reader"));
  EXPECT_FALSE(d.FirstTime("writer", "reader"));
  EXPECT_FALSE(d.FirstTime("reader", "writer"));
  EXPECT_TRUE(d.FirstTime("writer", "<unknown origin>"));
  EXPECT_TRUE(d.FirstTime("writer", "writer"));
  EXPECT_FALSE(d.FirstTime("writer", "writer"));
}

TEST(DedupTest, KeysDoNotCollideAcrossTheSeparator) {
  Deduplicator d;
  EXPECT_TRUE(d.FirstTime("a", "bc"));
  EXPECT_TRUE(d.FirstTime("ab", "c"));
}

TEST(DedupTest, ClearForgets) {
  Deduplicator d;
  EXPECT_TRUE(d.FirstTime("f", "g"));
  d.Clear();
  EXPECT_TRUE(d.FirstTime("g", "f"));
}

}  // namespace
}  // namespace trapsan
