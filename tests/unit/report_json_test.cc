// The JSON and SARIF forms of a report (runtime/report/json.h, sarif.h),
// from a hand-built model: escaping, nulls for unknowns, the dedup names.
#include "runtime/report/json.h"

#include <string>

#include "gtest/gtest.h"
#include "runtime/report/sarif.h"
#include "report_model_fixture.h"

namespace trapsan {
namespace {

ReportModel Model() {
  ReportModel m;
  m.pid = 4242;
  m.first = MakeSide("write", 4, 0x55d0c0a0e014, 1, 4244,
                     {MakeFrame("writer", "/src/racy.c", 12, 0x1234)});
  Frame bare;
  bare.pc = 0x7f00;
  m.second = MakeSide("read", 0, 0x55d0c0a0e014, 0, 4245, {bare});
  m.second.thread_known = false;
  m.location = "heap at 0x55d0c0a0e014";
  m.threads = {InitialThread(1, 4244)};
  return m;
}

TEST(ReportJsonTest, StringsAreEscapedToValidJson) {
  EXPECT_EQ(JsonString("a\"b\\c\n\t"), "\"a\\\"b\\\\c\\n\\t\"");
  EXPECT_EQ(JsonString(std::string("\x1b[0m", 4)), "\"\\u001b[0m\"");
  EXPECT_EQ(JsonString("caf\xc3\xa9"), "\"caf\xc3\xa9\"");      // UTF-8 kept
  EXPECT_EQ(JsonString("bad\xff"), "\"bad\\u00ff\"");           // not UTF-8
  EXPECT_EQ(JsonString("cut\xc3"), "\"cut\\u00c3\"");           // truncated
  EXPECT_EQ(JsonHex(0xffffffffffffffffull), "\"0xffffffffffffffff\"");
}

TEST(ReportJsonTest, RaceIsOneLineWithNullsForUnknowns) {
  FormattedReport text = FormatReport(Model());
  JsonReportContext c;
  c.exe = "/bin/racy";
  c.report_index = 3;
  std::string line = FormatJsonReport(Model(), text, c);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_EQ(line.rfind("{\"type\":\"race\",\"schema_version\":1,\"tool\":"
                       "\"trapsan\",\"pid\":4242,\"exe\":\"/bin/racy\","
                       "\"report_index\":3,",
                       0),
            0u)
      << line;
  // Sorted dedup names; the bare frame is named by its pc.
  EXPECT_NE(line.find("\"functions\":[\"0x7f00\",\"writer\"]"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("\"sampled\":{\"kind\":\"write\",\"size\":4,\"address\":"
                      "\"0x55d0c0a0e014\",\"thread\":1,\"tid\":4244,"
                      "\"late\":false,\"asynchronous\":false,\"stack\":[{"
                      "\"index\":0,\"pc\":\"0x2234\",\"function\":\"writer\","
                      "\"file\":\"/src/racy.c\",\"line\":12,\"module\":"
                      "\"racy\",\"offset\":\"0x1234\"}]}"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("\"concurrent\":{\"kind\":\"read\",\"size\":null,"
                      "\"address\":\"0x55d0c0a0e014\",\"thread\":null,"
                      "\"tid\":4245,\"late\":false,\"asynchronous\":false,"
                      "\"stack\":[{\"index\":0,\"pc\":\"0x7f00\",\"function\":"
                      "null,\"file\":null,\"line\":null,\"module\":null,"
                      "\"offset\":null}]}"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("\"location\":{\"kind\":\"heap\""), std::string::npos);
  EXPECT_NE(line.find("\"value_change\":null"), std::string::npos);
  EXPECT_NE(line.find("{\"id\":1,\"tid\":4244,\"name\":\"racy\",\"state\":"
                      "\"running\",\"origin\":\"initial\",\"parent\":null,"
                      "\"creation_stack\":null}"),
            std::string::npos)
      << line;
}

TEST(ReportJsonTest, UnknownOriginKeepsItsOrderAndHasNoConcurrentSide) {
  ReportModel m = Model();
  m.unknown_origin = true;
  m.value_changed = true;
  m.old_value = 1;
  m.new_value = 2;
  std::string line = FormatJsonReport(m, FormatReport(m), {});
  EXPECT_NE(line.find("\"functions\":[\"writer\",\"<unknown origin>\"]"),
            std::string::npos);
  EXPECT_NE(line.find("\"concurrent\":null"), std::string::npos);
  EXPECT_NE(line.find("\"value_change\":{\"old\":\"0x1\",\"new\":\"0x2\"}"),
            std::string::npos);
}

TEST(ReportJsonTest, SummaryCountsEachRace) {
  RunSummary s;
  s.pid = 7;
  s.exe = "/x";
  s.races_found = 5;
  s.races_reported = 1;
  s.duplicates = 4;
  s.suppressed = 2;
  s.races.push_back({"data race in a / b", {"a", "b"}, 5, true});
  EXPECT_EQ(FormatJsonSummary(s),
            "{\"type\":\"summary\",\"schema_version\":1,\"tool\":\"trapsan\","
            "\"pid\":7,\"exe\":\"/x\",\"races_found\":5,\"races_reported\":1,"
            "\"duplicates\":4,\"suppressed\":2,\"races\":[{\"title\":\"data "
            "race in a / b\",\"functions\":[\"a\",\"b\"],\"count\":5,"
            "\"printed\":true}]}\n");
}

TEST(ReportSarifTest, HeadResultsAndTailMakeOneDocument) {
  std::string head = SarifLogHead(42, "/bin/my prog");
  EXPECT_NE(head.find("\"version\":\"2.1.0\""), std::string::npos);
  EXPECT_NE(head.find("\"processId\":42"), std::string::npos);
  EXPECT_NE(head.find("\"uri\":\"file:///bin/my%20prog\""), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 12), "\"results\":[\n");
  EXPECT_EQ(SarifLogTail(), "\n]}]}\n");
  std::string result = FormatSarifResult(Model(), FormatReport(Model()), {});
  EXPECT_EQ(result.find('\n'), std::string::npos);
  EXPECT_NE(result.find("\"region\":{\"startLine\":12}"), std::string::npos);
  // The other side's frame is a pc in no module: no artifact to name, so
  // no related location (code scanning wants an artifact in each); its
  // stack is in the code flow.
  EXPECT_EQ(result.find("\"relatedLocations\""), std::string::npos) << result;
  EXPECT_NE(result.find("\"fullyQualifiedName\":\"0x7f00\""), std::string::npos)
      << result;
  EXPECT_NE(result.find("\"trapsanRacePair/v1\":\"0x7f00 / writer\""),
            std::string::npos);
}

// Every result location names an artifact: a top frame without source
// points at the innermost frame of its stack that has one; a stack without
// any at its top frame's module (no region).
TEST(ReportSarifTest, LocationsWithoutSourceFallBackToASourceFrameOrTheModule) {
  ReportModel m = Model();
  m.first = MakeSide("write", 8, 0x1000, 1, 10,
                     {MakeFrame("memcpy", "", 0, 0x10), MakeFrame("copy_in", "/src/a.c", 7, 0x20)});
  m.first.frames[0].module = "libc.so.6";
  m.second = MakeSide("read", 8, 0x1000, 2, 11, {MakeFrame("reader", "", 0, 0x30)});
  m.second.frames[0].module = "prog";
  std::string result = FormatSarifResult(m, FormatReport(m), {});
  EXPECT_NE(result.find("\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{"
                        "\"uri\":\"file:///src/a.c\"},\"region\":{\"startLine\":7}}"),
            std::string::npos)
      << result;
  EXPECT_NE(result.find("\"relatedLocations\":[{\"id\":1,\"physicalLocation\":{"
                        "\"artifactLocation\":{\"uri\":\"prog\"}},"),
            std::string::npos)
      << result;
}

// The asynchronous flag (a blocked SIGTRAP: the concurrent side's stack is
// where it was delivered) and late traps, in JSON and SARIF.
TEST(ReportJsonTest, AsynchronousAndLateSides) {
  ReportModel m = Model();
  m.second.async = true;
  m.second.late = true;
  std::string line = FormatJsonReport(m, FormatReport(m), {});
  EXPECT_NE(line.find("\"unknown_origin\":false,\"asynchronous\":true,\"late\":true"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("\"functions\":[\"<asynchronous trap>\",\"writer\"]"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("\"late\":true,\"asynchronous\":true,\"stack\""), std::string::npos)
      << line;
  std::string result = FormatSarifResult(m, FormatReport(m), {});
  EXPECT_NE(result.find("\"asynchronous\":true"), std::string::npos) << result;
}

TEST(ReportSarifTest, ArtifactUris) {
  EXPECT_EQ(ArtifactUri("/src/a b.c"), "file:///src/a%20b.c");
  EXPECT_EQ(ArtifactUri("src/x#1.c"), "src/x%231.c");
}

}  // namespace
}  // namespace trapsan
