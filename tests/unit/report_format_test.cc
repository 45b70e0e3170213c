// The report text (runtime/report/format.h): pinned line by line against
// docs/report-format.md, from a hand-built model.
#include "runtime/report/format.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "report_model_fixture.h"

namespace trapsan {
namespace {

ReportModel RaceModel() {
  ReportModel m;
  m.pid = 4242;
  m.first = MakeSide("write", 4, 0x55d0c0a0e014, 1, 4244,
                     {MakeFrame("writer", "/src/racy.c", 12, 0x1234),
                      MakeFrame("thread_main", "/src/racy.c", 20, 0x1290)});
  m.second = MakeSide("read", 4, 0x55d0c0a0e014, 2, 4245,
                      {MakeFrame("reader", "/src/racy.c", 16, 0x12a0)});
  m.location = "global 'counter' of size 4 at 0x55d0c0a0e014 (racy+0x4014)";
  m.value_changed = true;
  m.old_value = 1;
  m.new_value = 2;
  ThreadModel t1;
  t1.id = 1;
  t1.tid = 4244;
  t1.name = "racy";
  t1.parent_id = 0;
  t1.creation = {MakeFrame("main", "/src/racy.c", 30, 0x1300)};
  m.threads = {t1, InitialThread(0, 4242)};
  return m;
}

TEST(ReportFormatTest, RaceReportMatchesTheDocumentedFormat) {
  FormattedReport r = FormatReport(RaceModel());
  EXPECT_EQ(r.title, "data race in reader / writer");
  EXPECT_EQ(r.summary, "data race /src/racy.c:12 in writer");
  EXPECT_EQ(r.text,
            "==================\n"
            "WARNING: trapsan: data race in reader / writer (pid=4242)\n"
            "  Write of size 4 at 0x55d0c0a0e014 by thread T1 (tid=4244):\n"
            "    #0 writer /src/racy.c:12 (racy+0x1234)\n"
            "    #1 thread_main /src/racy.c:20 (racy+0x1290)\n"
            "  Concurrent read of size 4 at 0x55d0c0a0e014 by thread T2 "
            "(tid=4245):\n"
            "    #0 reader /src/racy.c:16 (racy+0x12a0)\n"
            "  Location is global 'counter' of size 4 at 0x55d0c0a0e014 "
            "(racy+0x4014)\n"
            "  Value changed during the window: 0x1 -> 0x2\n"
            "  Thread T1 'racy' (tid=4244, running) created by thread T0 at:\n"
            "    #0 main /src/racy.c:30 (racy+0x1300)\n"
            "  Thread T0 'racy' (tid=4242, running) is the thread that "
            "started trapsan\n"
            "SUMMARY: trapsan: data race /src/racy.c:12 in writer\n"
            "==================\n");
}

TEST(ReportFormatTest, TitleSortsFunctionsSoBothDirectionsMatch) {
  ReportModel m = RaceModel();
  std::swap(m.first, m.second);
  EXPECT_EQ(FormatReport(m).title, "data race in reader / writer");
}

TEST(ReportFormatTest, UnknownSizeLateTrapAndUnknownThread) {
  ReportModel m = RaceModel();
  m.second.kind = "access";
  m.second.size = 0;
  m.second.late = true;
  m.second.thread_known = false;
  std::string text = FormatReport(m).text;
  EXPECT_NE(text.find("  Concurrent access at 0x55d0c0a0e014 by thread "
                      "(tid=4245) (trap arrived after the window closed):\n"),
            std::string::npos)
      << text;
}

TEST(ReportFormatTest, UnknownOrigin) {
  ReportModel m = RaceModel();
  m.unknown_origin = true;
  m.second = AccessModel();
  FormattedReport r = FormatReport(m);
  EXPECT_EQ(r.title, "data race in writer / <unknown origin>");
  EXPECT_NE(r.text.find("  The value changed during the window but no other "
                        "access was trapped (race at unknown origin).\n"),
            std::string::npos);
  EXPECT_EQ(r.text.find("Concurrent"), std::string::npos);
  EXPECT_EQ(r.summary, "data race /src/racy.c:12 in writer");
}

TEST(ReportFormatTest, LateTrapWithUnknownWatcherSummarizesTheTrappedSide) {
  ReportModel m = RaceModel();
  m.watcher_known = false;
  FormattedReport r = FormatReport(m);
  EXPECT_EQ(r.title, "data race in <unknown watcher> / reader");
  EXPECT_EQ(r.summary, "data race /src/racy.c:16 in reader");
  EXPECT_NE(r.text.find("The sampled access is unknown"), std::string::npos);
}

TEST(ReportFormatTest, FramesWithoutFileOrFunction) {
  Frame f;
  f.pc = 0x7f0000001234;
  f.function = "helper";
  f.module = "libfoo.so";
  f.module_offset = 0x1234;
  EXPECT_EQ(FormatFrame(3, f), "#3 helper (libfoo.so+0x1234)");
  f.function.clear();  // symbolize=0, or a stripped module
  EXPECT_EQ(FormatFrame(0, f), "#0 (libfoo.so+0x1234)");
  EXPECT_EQ(FrameName(f), "libfoo.so+0x1234");
  Frame bare;
  bare.pc = 0x42;
  EXPECT_EQ(FormatFrame(1, bare), "#1 (0x42)");
  EXPECT_EQ(FrameName(bare), "0x42");
}

}  // namespace
}  // namespace trapsan
