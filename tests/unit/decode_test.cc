// Backward decoding of a trapped access (runtime/report/decode.h): x86
// instructions are variable-length and a trap gives only the next
// instruction's address.
#include "runtime/report/decode.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace trapsan {
namespace {

struct Decoded {
  bool ok;
  AccessKind kind;
  uint32_t size;
};

Decoded Decode(std::vector<uint8_t> bytes, uintptr_t next_pc,
               const uint64_t* regs, uintptr_t watch, uint32_t len) {
  Decoded d{false, AccessKind::kUnknown, 0};
  d.ok = DecodeAccessInBytes(bytes.data(), static_cast<int>(bytes.size()),
                             next_pc, regs, watch, len, &d.kind, &d.size);
  return d;
}

// addq $0x2, 0x2e8b(%rip): 48 83 05 8b 2e 00 00 02. Its tail also decodes as
// addl (4 bytes) and "add %al,(%rdx)" (1 byte): the REX prefix makes the true
// instruction the longest.
TEST(DecodeTest, RexPrefixedRipRelativeAddIsAnEightByteWrite) {
  Decoded d = Decode({0x48, 0x83, 0x05, 0x8b, 0x2e, 0x00, 0x00, 0x02}, 0x11ad,
                     nullptr, 0, 0);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.kind, AccessKind::kWrite);
  EXPECT_EQ(d.size, 8u);
}

// mov 0x10(%rbx), %eax: 8b 43 10, preceded by unrelated bytes.
TEST(DecodeTest, LoadIsARead) {
  Decoded d = Decode({0x90, 0x90, 0x8b, 0x43, 0x10}, 0x2000, nullptr, 0, 0);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.kind, AccessKind::kRead);
  EXPECT_EQ(d.size, 4u);
}

// movw %ax, (%rdi): 66 89 07.
TEST(DecodeTest, OperandSizePrefixMakesATwoByteStore) {
  Decoded d = Decode({0x66, 0x89, 0x07}, 0x3000, nullptr, 0, 0);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.kind, AccessKind::kWrite);
  EXPECT_EQ(d.size, 2u);
}

// With the trap's registers, candidates whose effective address misses the
// watched bytes lose. Same bytes as above: "00 02" (add %al,(%rdx)) hits the
// watch when rdx points at it; the rip-relative adds hit it when the watch is
// at next_pc + 0x2e8b.
TEST(DecodeTest, RegistersPreferTheCandidateThatHitsTheWatch) {
  const std::vector<uint8_t> bytes = {0x48, 0x83, 0x05, 0x8b,
                                      0x2e, 0x00, 0x00, 0x02};
  const uintptr_t next_pc = 0x11ad;
  uint64_t regs[16] = {};
  regs[2] = 0x9000;  // rdx
  Decoded via_rdx = Decode(bytes, next_pc, regs, 0x9000, 8);
  ASSERT_TRUE(via_rdx.ok);
  EXPECT_EQ(via_rdx.size, 1u);
  Decoded via_rip = Decode(bytes, next_pc, regs, next_pc + 0x2e8b, 8);
  ASSERT_TRUE(via_rip.ok);
  EXPECT_EQ(via_rip.size, 8u);
  EXPECT_EQ(via_rip.kind, AccessKind::kWrite);
}

TEST(DecodeTest, NoMemoryOperandIsUnknown) {
  // ret; push %rbp (implicit stack access only); lea 0x8(%rax),%rax.
  EXPECT_FALSE(Decode({0xc3}, 0x1000, nullptr, 0, 0).ok);
  EXPECT_FALSE(Decode({0x55}, 0x1000, nullptr, 0, 0).ok);
  EXPECT_FALSE(Decode({0x48, 0x8d, 0x40, 0x08}, 0x1000, nullptr, 0, 0).ok);
}

// Did the trapped instruction touch the watched bytes (report/decode.h
// JudgeAccessInBytes)? A trap on the watched address does not prove it (qemu's
// TCG checks an unaligned access as the aligned accesses around it).
TrapOverlap Judge(const std::vector<uint8_t>& bytes, const uint64_t* regs,
                  uintptr_t watch, uint32_t len, uint64_t fs_base = 0) {
  return JudgeAccessInBytes(bytes.data(), static_cast<int>(bytes.size()),
                            0x4000, regs, fs_base, watch, len, len);
}

// movdqu %xmm0, (%rdx,%rax,1): f3 0f 7f 04 02 (its tail "0f 7f 04 02", a
// movq store, has the same address).
TEST(DecodeTest, StoreThatMissedTheWatchIsRecognized) {
  const std::vector<uint8_t> bytes = {0xf3, 0x0f, 0x7f, 0x04, 0x02};
  uint64_t regs[16] = {};
  regs[2] = 0x10000;  // rdx
  regs[0] = 0x100;    // rax
  EXPECT_EQ(Judge(bytes, regs, 0x20000, 8), TrapOverlap::kMissed);
  // Its 16 bytes reach 0x1010f: a watch at 0x10108 is hit.
  EXPECT_EQ(Judge(bytes, regs, 0x10108, 8), TrapOverlap::kTouched);
  // Without registers nothing is known.
  EXPECT_EQ(Judge(bytes, nullptr, 0x20000, 8), TrapOverlap::kUnknown);
}

// corpus race_free/partitioned's false report: movdqu -0x20(%rbx),%xmm2
// (f3 0f 6f 53 e0) at its own first cell, 4 bytes past the watched word.
TEST(DecodeTest, SixteenByteLoadNextToTheWatchMissedIt) {
  const std::vector<uint8_t> bytes = {0x48, 0x8d, 0x4b, 0xe0,  // lea
                                      0xf3, 0x0f, 0x6f, 0x53, 0xe0};
  uint64_t regs[16] = {};
  regs[3] = 0x12012 + 0x20;  // rbx
  EXPECT_EQ(Judge(bytes, regs, 0x12008, 4), TrapOverlap::kMissed);
  // The word before it, or 4 bytes of its 16: touched.
  EXPECT_EQ(Judge(bytes, regs, 0x12010, 4), TrapOverlap::kTouched);
  EXPECT_EQ(Judge(bytes, regs, 0x12020, 8), TrapOverlap::kTouched);
  EXPECT_EQ(Judge(bytes, regs, 0x12022, 1), TrapOverlap::kMissed);
}

// A watch the access only may have touched: a forgotten window's length is
// not known (sure_len 1, maybe_len 8): neither verdict is certain.
TEST(DecodeTest, MaybeWatchedBytesMakeNoVerdict) {
  // mov 0x4(%rbx),%eax: 8b 43 04, reading 0x1004..0x1008.
  const std::vector<uint8_t> bytes = {0x8b, 0x43, 0x04};
  uint64_t regs[16] = {};
  regs[3] = 0x1000;
  EXPECT_EQ(JudgeAccessInBytes(bytes.data(), 3, 0x4000, regs, 0, 0x1000, 1, 8),
            TrapOverlap::kUnknown);
  EXPECT_EQ(JudgeAccessInBytes(bytes.data(), 3, 0x4000, regs, 0, 0x1004, 1, 4),
            TrapOverlap::kTouched);
  EXPECT_EQ(JudgeAccessInBytes(bytes.data(), 3, 0x4000, regs, 0, 0x1008, 1, 8),
            TrapOverlap::kMissed);
}

// A push's only memory operand is its implicit stack slot, [rsp, rsp + 8)
// after it: certain, so a push that trapped elsewhere missed the watch
// (DRB105, natively: __trapsan_return_all's push %rcx reported as a race).
TEST(DecodeTest, PushThatMissedTheWatchIsRecognized) {
  uint64_t regs[16] = {};
  regs[4] = 0x7ff0;  // rsp after the push
  const std::vector<uint8_t> push_rcx = {0x51};
  EXPECT_EQ(Judge(push_rcx, regs, 0x20000, 8), TrapOverlap::kMissed);
  EXPECT_EQ(Judge(push_rcx, regs, 0x7ff0, 8), TrapOverlap::kUnknown);
  EXPECT_EQ(Judge(push_rcx, regs, 0x7ff4, 4), TrapOverlap::kUnknown);
  // push %r9: 41 51 (its tail, 51, is a push as well).
  const std::vector<uint8_t> push_r9 = {0x41, 0x51};
  EXPECT_EQ(Judge(push_r9, regs, 0x20000, 8), TrapOverlap::kMissed);
  // pop %rcx: 59 (a stack read, not judged); nop: 90 (no memory at all).
  EXPECT_EQ(Judge({0x59}, regs, 0x20000, 8), TrapOverlap::kUnknown);
  EXPECT_EQ(Judge({0x90}, regs, 0x20000, 8), TrapOverlap::kUnknown);
}

TEST(DecodeTest, AddressesTheRegistersDoNotGiveAreUnknown) {
  uint64_t regs[16] = {};
  // mov (%rax), %rax: 48 8b 00 (a load; rax no longer holds its address).
  const std::vector<uint8_t> load = {0x48, 0x8b, 0x00};
  EXPECT_EQ(Judge(load, regs, 0x20000, 8), TrapOverlap::kUnknown);
  // rep stosb: f3 aa (writes rdi, its address register).
  const std::vector<uint8_t> stos = {0xf3, 0xaa};
  EXPECT_EQ(Judge(stos, regs, 0x20000, 8), TrapOverlap::kUnknown);
  // movl $1, %fs:0x10: 64 c7 04 25 10 00 00 00 01 00 00 00: the segment
  // base is the thread's fs base, when the trap recorded it.
  const std::vector<uint8_t> tls = {0x64, 0xc7, 0x04, 0x25, 0x10, 0x00,
                                    0x00, 0x00, 0x01, 0x00, 0x00, 0x00};
  EXPECT_EQ(Judge(tls, regs, 0x20000, 8), TrapOverlap::kUnknown);
  EXPECT_EQ(Judge(tls, regs, 0x20010, 4, 0x20000), TrapOverlap::kTouched);
  EXPECT_EQ(Judge(tls, regs, 0x20018, 8, 0x20000), TrapOverlap::kMissed);
  // gs: never known. movl $1, %gs:0x10: 65 c7 04 25 ...
  std::vector<uint8_t> gs = tls;
  gs[0] = 0x65;
  EXPECT_EQ(Judge(gs, regs, 0x20010, 4, 0x20000), TrapOverlap::kUnknown);
  // No instruction with a memory operand ends there: ret.
  EXPECT_EQ(Judge({0xc3}, regs, 0x20000, 8), TrapOverlap::kUnknown);
}

// An unknown verdict still says how wide the access may be (the widest
// candidate; window_conflicts.cpp takes it on imprecise watchpoints whose
// extra traps stay within blocks of the access's size): 0 without candidates.
TEST(DecodeTest, UnknownVerdictGivesTheWidestCandidate) {
  uint64_t regs[16] = {};
  uint32_t widest = 99;
  // mov (%rax), %rax: an 8-byte load.
  const std::vector<uint8_t> load8 = {0x48, 0x8b, 0x00};
  EXPECT_EQ(JudgeAccessInBytes(load8.data(), 3, 0x4000, regs, 0, 0x20000, 8, 8,
                               &widest),
            TrapOverlap::kUnknown);
  EXPECT_EQ(widest, 8u);
  // mov (%rax), %eax: a 4-byte load.
  const std::vector<uint8_t> load4 = {0x8b, 0x00};
  EXPECT_EQ(JudgeAccessInBytes(load4.data(), 2, 0x4000, regs, 0, 0x20000, 8, 8,
                               &widest),
            TrapOverlap::kUnknown);
  EXPECT_EQ(widest, 4u);
  const std::vector<uint8_t> ret = {0xc3};
  EXPECT_EQ(JudgeAccessInBytes(ret.data(), 1, 0x4000, regs, 0, 0x20000, 8, 8,
                               &widest),
            TrapOverlap::kUnknown);
  EXPECT_EQ(widest, 0u);
}

}  // namespace
// A window watching writes only (its owner read): a trapped read is not
// what trapped, certain or not (it got the window's cookie from an earlier
// read/write setting of the slot), and a read is no race with a read.
TEST(DecodeTest, ReadIsNotWhatTrappedAWriteOnlyWatch) {
  uint64_t regs[16] = {};
  regs[3] = 0x1000;
  auto judge = [&](const std::vector<uint8_t>& b) {
    return JudgeAccessInBytes(b.data(), static_cast<int>(b.size()), 0x4000,
                              regs, 0, 0x1000, 8, 8, nullptr,
                              /*writes_only=*/true);
  };
  // mov (%rbx),%rax: 48 8b 03, a load of the watched bytes.
  EXPECT_EQ(judge({0x48, 0x8b, 0x03}), TrapOverlap::kMissed);
  // mov (%rax),%rax: its address unknown, still a load.
  EXPECT_EQ(judge({0x48, 0x8b, 0x00}), TrapOverlap::kMissed);
  // mov %rax,(%rbx): 48 89 03, a store: touched. addl $1,(%rbx): 83 03 01.
  EXPECT_EQ(judge({0x48, 0x89, 0x03}), TrapOverlap::kTouched);
  EXPECT_EQ(judge({0x83, 0x03, 0x01}), TrapOverlap::kTouched);
  // rep movsb (two memory operands, no candidate): not known.
  EXPECT_EQ(judge({0xf3, 0xa4}), TrapOverlap::kUnknown);
  // The same load against a read/write watch: touched.
  EXPECT_EQ(JudgeAccessInBytes(std::vector<uint8_t>{0x48, 0x8b, 0x03}.data(),
                               3, 0x4000, regs, 0, 0x1000, 8, 8),
            TrapOverlap::kTouched);
}

}  // namespace trapsan
