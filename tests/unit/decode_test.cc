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

// A trap whose store, decoded with the trap's registers, missed the watched
// bytes is no conflict with that window (report/decode.h TrapMissedWatch).
// movdqu %xmm0, (%rdx,%rax,1): f3 0f 7f 04 02 (its tail "0f 7f 04 02", a
// movq store, has the same address).
TEST(DecodeTest, StoreThatMissedTheWatchIsRecognized) {
  const std::vector<uint8_t> bytes = {0xf3, 0x0f, 0x7f, 0x04, 0x02};
  uint64_t regs[16] = {};
  regs[2] = 0x10000;  // rdx
  regs[0] = 0x100;    // rax
  EXPECT_TRUE(StoreMissesWatchInBytes(bytes.data(), 5, 0x4000, regs, 0x20000, 8));
  // Its 16 bytes reach 0x1010f: a watch at 0x10108 is hit.
  EXPECT_FALSE(StoreMissesWatchInBytes(bytes.data(), 5, 0x4000, regs, 0x10108, 8));
  // Without registers nothing is known.
  EXPECT_FALSE(StoreMissesWatchInBytes(bytes.data(), 5, 0x4000, nullptr, 0x20000, 8));
}

TEST(DecodeTest, LoadsAndAddressWritingStoresAreNeverRuledOut) {
  uint64_t regs[16] = {};
  // mov (%rax), %rax: 48 8b 00 (a load; rax no longer holds its address).
  const std::vector<uint8_t> load = {0x48, 0x8b, 0x00};
  EXPECT_FALSE(StoreMissesWatchInBytes(load.data(), 3, 0x4000, regs, 0x20000, 8));
  // rep stosb: f3 aa (writes rdi, its address register).
  const std::vector<uint8_t> stos = {0xf3, 0xaa};
  EXPECT_FALSE(StoreMissesWatchInBytes(stos.data(), 2, 0x4000, regs, 0x20000, 8));
  // movl $1, %fs:0x10: 64 c7 04 25 10 00 00 00 01 00 00 00 (a segment base
  // the registers do not hold).
  const std::vector<uint8_t> tls = {0x64, 0xc7, 0x04, 0x25, 0x10, 0x00,
                                    0x00, 0x00, 0x01, 0x00, 0x00, 0x00};
  EXPECT_FALSE(StoreMissesWatchInBytes(tls.data(), 12, 0x4000, regs, 0x20000, 8));
}

}  // namespace
}  // namespace trapsan
