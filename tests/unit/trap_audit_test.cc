// The trap audit's bookkeeping (runtime/linux/trap_audit.h) on simulated
// counts: the kernel's hit count of a slot against the SIGTRAPs the handler
// got. A deficit that lasts is a loss; one that is only traps on their way
// is not.
#include "runtime/linux/trap_audit.h"

#include <gtest/gtest.h>

namespace trapsan {
namespace {

constexpr uint64_t kGrace = 200;  // "ns", the tests' own clock
constexpr uint64_t kBase = 1000;

TEST(TrapLedgerTest, EveryHitTrappedIsNoLoss) {
  TrapLedger l(kGrace);
  uint64_t hits = 5, traps = 5;  // e.g. the start-up self-test's
  for (uint64_t t = kBase; t < kBase + 10 * kGrace; t += kGrace / 3) {
    EXPECT_EQ(l.Observe(hits, traps, t), 0u);
    hits += 17;
    traps += 17;
  }
  EXPECT_EQ(l.lost(), 0u);
}

TEST(TrapLedgerTest, TrapsOnTheirWayAreNoLoss) {
  TrapLedger l(kGrace);
  EXPECT_EQ(l.Observe(10, 10, kBase), 0u);
  // Two hits counted, their SIGTRAPs not handled yet.
  EXPECT_EQ(l.Observe(12, 10, kBase + kGrace), 0u);
  // They arrive; more traps meanwhile, each on its way at an audit.
  EXPECT_EQ(l.Observe(20, 19, kBase + 2 * kGrace), 0u);
  EXPECT_EQ(l.Observe(30, 30, kBase + 3 * kGrace), 0u);
  EXPECT_EQ(l.Observe(40, 39, kBase + 4 * kGrace), 0u);
  EXPECT_EQ(l.Observe(50, 49, kBase + 5 * kGrace), 0u);
  EXPECT_EQ(l.lost(), 0u);
}

TEST(TrapLedgerTest, ALastingDeficitIsALossCountedOnce) {
  TrapLedger l(kGrace);
  EXPECT_EQ(l.Observe(100, 100, kBase), 0u);
  // 3 hits that never trap (the pre-6.1 kernel forgot them), then traps
  // that do arrive.
  EXPECT_EQ(l.Observe(110, 107, kBase + kGrace), 0u);      // maybe late
  EXPECT_EQ(l.Observe(120, 117, kBase + 2 * kGrace), 0u);  // maybe late
  EXPECT_EQ(l.Observe(130, 127, kBase + 3 * kGrace), 3u);  // a third time
  EXPECT_EQ(l.lost(), 3u);
  EXPECT_EQ(l.Observe(140, 137, kBase + 4 * kGrace), 0u);  // not again
  // A dead thread's event: every later hit of it is lost too.
  EXPECT_EQ(l.Observe(150, 140, kBase + 5 * kGrace), 0u);
  EXPECT_EQ(l.Observe(160, 141, kBase + 6 * kGrace), 0u);
  EXPECT_EQ(l.Observe(170, 142, kBase + 7 * kGrace), 7u);  // min(10,19,28) - 3
  EXPECT_EQ(l.lost(), 10u);
}

TEST(TrapLedgerTest, ObservationsWithinTheGraceAreNotCompared) {
  TrapLedger l(kGrace);
  EXPECT_EQ(l.Observe(0, 0, kBase), 0u);
  EXPECT_EQ(l.Observe(5, 0, kBase + kGrace), 0u);
  // A deficit at two audits closer than the grace proves nothing yet.
  EXPECT_EQ(l.Observe(5, 0, kBase + kGrace + 1), 0u);
  EXPECT_EQ(l.Observe(5, 0, kBase + 2 * kGrace - 1), 0u);
  EXPECT_EQ(l.Observe(5, 0, kBase + 2 * kGrace), 0u);
  EXPECT_EQ(l.Observe(5, 0, kBase + 3 * kGrace), 5u);
}

TEST(TrapLedgerTest, MoreTrapsThanHitsIsNoLoss) {
  // Traps of hits before the baseline, or of events closed since.
  TrapLedger l(kGrace);
  EXPECT_EQ(l.Observe(50, 40, kBase), 0u);
  EXPECT_EQ(l.Observe(60, 60, kBase + kGrace), 0u);
  EXPECT_EQ(l.Observe(70, 70, kBase + 2 * kGrace), 0u);
  EXPECT_EQ(l.lost(), 0u);
}

TEST(TrapLedgerTest, ACountThatWentBackStartsOver) {
  TrapLedger l(kGrace);
  EXPECT_EQ(l.Observe(100, 90, kBase), 0u);
  EXPECT_EQ(l.Observe(110, 90, kBase + kGrace), 0u);
  EXPECT_EQ(l.Observe(120, 90, kBase + 2 * kGrace), 0u);
  EXPECT_EQ(l.Observe(130, 90, kBase + 3 * kGrace), 10u);  // min(10, 20, 30)
  // The slot's events were opened again: their count starts from 0.
  EXPECT_EQ(l.Observe(3, 95, kBase + 4 * kGrace), 0u);
  EXPECT_EQ(l.Observe(13, 105, kBase + 5 * kGrace), 0u);
  EXPECT_EQ(l.Observe(23, 115, kBase + 6 * kGrace), 0u);
  EXPECT_EQ(l.Observe(33, 125, kBase + 7 * kGrace), 0u);
  EXPECT_EQ(l.lost(), 0u);
}

TEST(TrapLedgerTest, ResetForgetsTheBaseline) {
  TrapLedger l(kGrace);
  EXPECT_EQ(l.Observe(10, 0, kBase), 0u);
  EXPECT_EQ(l.Observe(20, 0, kBase + kGrace), 0u);
  EXPECT_EQ(l.Observe(30, 0, kBase + 2 * kGrace), 0u);
  EXPECT_EQ(l.Observe(40, 0, kBase + 3 * kGrace), 10u);
  l.Reset();
  EXPECT_EQ(l.lost(), 0u);
  EXPECT_EQ(l.Observe(50, 5, kBase + 4 * kGrace), 0u);  // the new baseline
  for (int i = 1; i <= 4; ++i)
    EXPECT_EQ(l.Observe(50 + 4 * i, 5 + 4 * i, kBase + (4 + i) * kGrace), 0u);
  EXPECT_EQ(l.lost(), 0u);
}

TEST(TrapAuditTest, NoteSlotTrapCountsPerSlot) {
  const uint64_t before0 = SlotTrapCount(0).load();
  const uint64_t before3 = SlotTrapCount(3).load();
  // backend=off: no slot is armed, so no other slot is credited.
  NoteSlotTrap(0, 0x1000);
  NoteSlotTrap(3, 0x1000);
  NoteSlotTrap(3, 0x2000);
  NoteSlotTrap(-1, 0x1000);         // ignored
  NoteSlotTrap(kMaxSlots, 0x1000);  // ignored
  EXPECT_EQ(SlotTrapCount(0).load(), before0 + 1);
  EXPECT_EQ(SlotTrapCount(3).load(), before3 + 2);
  EXPECT_EQ(TrapsMerged(), 0u);
}

TEST(TrapAuditTest, NoSlotOpenNothingAudited) {
  // backend=off (tests/unit/CMakeLists.txt): no perf fds, nothing read.
  AuditSlotTraps(0);
  AuditSlotTraps(7);
  EXPECT_EQ(TrapsLost(), 0u);
}

}  // namespace
}  // namespace trapsan
