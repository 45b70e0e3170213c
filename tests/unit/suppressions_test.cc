// Suppressions (runtime/core/suppressions.h): TSan's template syntax, the
// three rule types, and errors naming the file and line.
#include "runtime/core/suppressions.h"

#include <string>
#include <vector>

#include <unistd.h>

#include "gtest/gtest.h"

namespace trapsan {
namespace {

TEST(SuppressionsTest, TemplateMatchLikeTsan) {
  EXPECT_TRUE(TemplateMatch("foo", "my_foo_bar"));  // substring
  EXPECT_TRUE(TemplateMatch("^foo", "foo_bar"));
  EXPECT_FALSE(TemplateMatch("^foo", "my_foo"));
  EXPECT_TRUE(TemplateMatch("bar$", "foo_bar"));
  EXPECT_FALSE(TemplateMatch("bar$", "bar_foo"));
  EXPECT_TRUE(TemplateMatch("^foo$", "foo"));
  EXPECT_FALSE(TemplateMatch("^foo$", "foo2"));
  EXPECT_TRUE(TemplateMatch("^f*o$", "fzzzo"));
  EXPECT_TRUE(TemplateMatch("a*b*c", "xxaxxbxxcxx"));
  EXPECT_FALSE(TemplateMatch("a*b*c", "xxcxxbxxa"));
  EXPECT_TRUE(TemplateMatch("*", "anything"));
  EXPECT_FALSE(TemplateMatch("", "x"));
}

RaceNames Race() {
  RaceNames r;
  r.stacks[0] = {{"cache_put", "/src/lib/cache.c", "libcache.so"},
                 {"worker", "/src/main.c", "prog"}};
  r.stacks[1] = {{"stats_read", "/src/stats.c", "prog"},
                 {"main", "/src/main.c", "prog"}};
  r.global = "g_hits";
  return r;
}

int MatchOf(const std::string& text) {
  Suppressions s;
  std::vector<std::string> errors;
  s.Parse(text, "t.supp", &errors);
  EXPECT_TRUE(errors.empty()) << errors[0];
  return s.Match(Race());
}

TEST(SuppressionsTest, RaceMatchesAnyFrameOfEitherStackAndTheGlobal) {
  EXPECT_EQ(MatchOf("race:worker"), 0);        // a deeper frame
  EXPECT_EQ(MatchOf("race:^stats_read$"), 0);  // the other stack
  EXPECT_EQ(MatchOf("race:lib/cache.c"), 0);   // a file
  EXPECT_EQ(MatchOf("race:libcache"), 0);      // a module
  EXPECT_EQ(MatchOf("race:^g_hits$"), 0);      // the global
  EXPECT_EQ(MatchOf("race:nothing_here"), -1);
}

TEST(SuppressionsTest, RaceTopOnlyTopFrames) {
  EXPECT_EQ(MatchOf("race_top:cache_put"), 0);
  EXPECT_EQ(MatchOf("race_top:stats.c$"), 0);
  EXPECT_EQ(MatchOf("race_top:worker"), -1);
  EXPECT_EQ(MatchOf("race_top:g_hits"), -1);
}

TEST(SuppressionsTest, CalledFromLibMatchesTheTopFramesModule) {
  EXPECT_EQ(MatchOf("called_from_lib:libcache.so"), 0);
  EXPECT_EQ(MatchOf("called_from_lib:cache_put"), -1);  // not a function
}

TEST(SuppressionsTest, CommentsBlankLinesOtherTsanTypesAndFirstMatchWins) {
  EXPECT_EQ(MatchOf("# comment\n\n  \nmutex:foo\nthread:bar\n"
                    "race:nothing\nrace:main\n"),
            3);  // rules are numbered without comments and blank lines
}

TEST(SuppressionsTest, BadLinesNameFileAndLineAndTheRestApplies) {
  Suppressions s;
  std::vector<std::string> errors;
  s.Parse("race:ok\nrcae:typo\nno colon here\nrace:\nrace_top:main\n", "x.supp",
          &errors);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0],
            "suppressions file 'x.supp' line 2: unknown suppression type "
            "'rcae' (expected race, race_top or called_from_lib) (got "
            "'rcae:typo')");
  EXPECT_EQ(errors[1],
            "suppressions file 'x.supp' line 3: expected TYPE:PATTERN, e.g. "
            "race:my_function (got 'no colon here')");
  EXPECT_EQ(errors[2],
            "suppressions file 'x.supp' line 4: empty pattern (got 'race:')");
  ASSERT_EQ(s.rules().size(), 2u);
  EXPECT_EQ(s.rules()[1].line, 5);
}

TEST(SuppressionsTest, UnreadableFileIsOneError) {
  Suppressions s;
  std::vector<std::string> errors;
  s.Load("/nonexistent/x.supp", &errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "cannot read suppressions file '/nonexistent/x.supp': No such "
            "file or directory; no race is suppressed");
  EXPECT_TRUE(s.empty());
}

// A relative path names the working directory it was looked for in.
TEST(SuppressionsTest, MissingRelativeFileNamesTheWorkingDirectory) {
  Suppressions s;
  std::vector<std::string> errors;
  s.Load("no-such-dir/x.supp", &errors);
  ASSERT_EQ(errors.size(), 1u);
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_EQ(errors[0], std::string("cannot read suppressions file "
                                   "'no-such-dir/x.supp' (relative to the "
                                   "working directory '") +
                           cwd + "'): No such file or directory; no race is "
                                 "suppressed");
}

}  // namespace
}  // namespace trapsan
