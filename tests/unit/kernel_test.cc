// The kernel version parser and the table of perf/signal changes
// (runtime/linux/kernel.h) that decide what trapsan trusts and warns about.
#include "runtime/linux/kernel.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace trapsan {
namespace {

KernelVersion V(const char* release) {
  KernelVersion v;
  EXPECT_TRUE(ParseKernelRelease(release, &v)) << release;
  return v;
}

TEST(KernelTest, ParsesDistributionReleases) {
  KernelVersion v = V("6.1.0-13-amd64");
  EXPECT_EQ(v.major, 6);
  EXPECT_EQ(v.minor, 1);
  EXPECT_EQ(v.patch, 0);
  EXPECT_EQ(v.release, "6.1.0-13-amd64");
  v = V("5.15.0-91-generic");
  EXPECT_EQ(v.major, 5);
  EXPECT_EQ(v.minor, 15);
  v = V("6.18.44-fc-v669");
  EXPECT_EQ(v.minor, 18);
  EXPECT_EQ(v.patch, 44);
  v = V("6.8");
  EXPECT_EQ(v.patch, 0);
}

TEST(KernelTest, RejectsWhatIsNotAVersion) {
  KernelVersion v;
  EXPECT_FALSE(ParseKernelRelease("", &v));
  EXPECT_FALSE(ParseKernelRelease("linux", &v));
  EXPECT_FALSE(ParseKernelRelease("6", &v));
  EXPECT_FALSE(ParseKernelRelease("-1.2", &v));
}

TEST(KernelTest, AtLeastComparesMajorThenMinor) {
  EXPECT_TRUE(AtLeast(V("6.1.0"), 6, 1));
  EXPECT_TRUE(AtLeast(V("6.2.0"), 6, 1));
  EXPECT_TRUE(AtLeast(V("7.0.0"), 6, 10));
  EXPECT_FALSE(AtLeast(V("6.0.19"), 6, 1));
  EXPECT_FALSE(AtLeast(V("5.19.0"), 6, 1));
  // 6.10 is after 6.9, not between 6.1 and 6.2.
  EXPECT_TRUE(AtLeast(V("6.10.0"), 6, 9));
  EXPECT_FALSE(AtLeast(V("6.9.12"), 6, 10));
}

TEST(KernelTest, TableIsOrderedAndWellFormed) {
  std::set<std::string> ids;
  int last_major = 0, last_minor = 0;
  for (const KernelChange& c : KernelChanges()) {
    EXPECT_TRUE(ids.insert(c.id).second) << "duplicate id " << c.id;
    EXPECT_EQ(std::string(c.commit).size(), 12u) << c.id;
    EXPECT_TRUE(c.major > last_major ||
                (c.major == last_major && c.minor >= last_minor))
        << c.id << " is out of order";
    last_major = c.major;
    last_minor = c.minor;
    EXPECT_NE(std::string(c.without), "") << c.id;
  }
  // The changes the issue names.
  EXPECT_TRUE(ids.count("sigtrap"));
  EXPECT_TRUE(ids.count("missing_sigtraps"));
}

TEST(KernelTest, TheMissingSigtrapsFixIsCa6c21327c6aIn61) {
  for (const KernelChange& c : KernelChanges()) {
    if (std::string(c.id) != "missing_sigtraps") continue;
    EXPECT_EQ(std::string(c.commit), "ca6c21327c6a");
    EXPECT_EQ(c.major, 6);
    EXPECT_EQ(c.minor, 1);
    EXPECT_FALSE(c.required);
    return;
  }
  FAIL() << "missing_sigtraps not in the table";
}

std::set<std::string> MissingIds(const char* release) {
  std::set<std::string> ids;
  for (const KernelChange* c : MissingChanges(V(release))) ids.insert(c->id);
  return ids;
}

TEST(KernelTest, MissingChangesByVersion) {
  EXPECT_TRUE(MissingIds("6.18.44").empty());
  EXPECT_TRUE(MissingIds("6.10.0").empty());
  EXPECT_EQ(MissingIds("6.6.30"),
            (std::set<std::string>{"exit_leak", "exec_leak"}));
  std::set<std::string> debian11 = MissingIds("5.10.0-28-amd64");
  EXPECT_TRUE(debian11.count("sigtrap"));
  EXPECT_TRUE(debian11.count("missing_sigtraps"));
  std::set<std::string> ubuntu2204 = MissingIds("5.15.0-91-generic");
  EXPECT_FALSE(ubuntu2204.count("sigtrap"));
  EXPECT_TRUE(ubuntu2204.count("async_sigtrap"));
  EXPECT_TRUE(ubuntu2204.count("missing_sigtraps"));
}

TEST(KernelTest, WarningsNameWhatIsMissing) {
  EXPECT_EQ(KernelWarning(V("6.18.44")), "");
  std::string w = KernelWarning(V("5.15.0-91-generic"));
  EXPECT_NE(w.find("5.15.0-91-generic"), std::string::npos) << w;
  EXPECT_NE(w.find("ca6c21327c6a"), std::string::npos) << w;
  w = KernelWarning(V("5.10.0"));
  EXPECT_NE(w.find("5.13"), std::string::npos) << w;
  EXPECT_EQ(KernelWarning(KernelVersion()), "");  // unknown: say nothing
}

}  // namespace
}  // namespace trapsan
