// Decoding a hardware trap's instruction inside the SIGTRAP handler
// (runtime/report/sample_decode.h, DecodeTrapInBytes): what the read-write
// data lures of runtime/preload use to tell a read from a write, and a
// known-plain instruction from one that may be an atomic. Doubt must lean
// to fewer reports: a write only when sure, plain only when every candidate
// says so.
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/report/sample_decode.h"

namespace trapsan {
namespace {

constexpr uintptr_t kWatch = 0x601000;
constexpr uintptr_t kNextPc = 0x401010;
constexpr int kRdx = 2, kRbx = 3;

TrapDecode Decode(std::vector<uint8_t> before, const uint64_t* regs,
                  std::vector<uint8_t> at = {0x90}) {
  EXPECT_TRUE(PrepareSampleDecoder());
  return DecodeTrapInBytes(before.data(), static_cast<int>(before.size()),
                           at.data(), static_cast<int>(at.size()), kNextPc,
                           regs, kWatch, 1);
}

// mov 0x10(%rbx), %eax: 8b 43 10.
TEST(TrapDecodeTest, LoadIsAReadMaybeAtomic) {
  uint64_t regs[16] = {};
  regs[kRbx] = kWatch - 0x10;
  TrapDecode d = Decode({0x90, 0x8b, 0x43, 0x10}, regs);
  EXPECT_EQ(d.kind, AccessKind::kRead);
  EXPECT_EQ(d.size, 4u);
  EXPECT_EQ(d.atomicity, Atomicity::kUnknown);
}

// addl $1, (%rdx): 83 02 01. An unlocked read-modify-write: a write no
// atomic compiles to.
TEST(TrapDecodeTest, UnlockedReadModifyWriteIsAPlainWrite) {
  uint64_t regs[16] = {};
  regs[kRdx] = kWatch;
  TrapDecode d = Decode({0x90, 0x83, 0x02, 0x01}, regs);
  EXPECT_EQ(d.kind, AccessKind::kWrite);
  EXPECT_EQ(d.atomicity, Atomicity::kPlain);
}

// lock addl $1, (%rdx): f0 83 02 01. Its tail (83 02 01) is an unlocked add:
// the candidates disagree, so it is not known plain.
TEST(TrapDecodeTest, LockedAddIsNotKnownPlain) {
  uint64_t regs[16] = {};
  regs[kRdx] = kWatch;
  TrapDecode d = Decode({0x90, 0xf0, 0x83, 0x02, 0x01}, regs);
  EXPECT_EQ(d.kind, AccessKind::kWrite);
  EXPECT_NE(d.atomicity, Atomicity::kPlain);
}

// mov %eax, (%rdx): 89 02. A write only when the registers say it hit the
// watched byte; without them not known.
TEST(TrapDecodeTest, StoreIsAWriteOnlyWhenItsAddressIsKnown) {
  uint64_t regs[16] = {};
  regs[kRdx] = kWatch;
  EXPECT_EQ(Decode({0x90, 0x89, 0x02}, regs).kind, AccessKind::kWrite);
  EXPECT_EQ(Decode({0x90, 0x89, 0x02}, regs).atomicity, Atomicity::kUnknown);
  EXPECT_EQ(Decode({0x90, 0x89, 0x02}, nullptr).kind, AccessKind::kUnknown);
}

// mov (%rdx), %edx: 8b 12 overwrites its own address register: still a read.
TEST(TrapDecodeTest, LoadIntoItsAddressRegisterIsARead) {
  uint64_t regs[16] = {};
  regs[kRdx] = 12345;  // (the loaded value)
  EXPECT_EQ(Decode({0x90, 0x8b, 0x12}, regs).kind, AccessKind::kRead);
}

// A 4-byte load at kWatch - 1: misaligned, so no atomic.
TEST(TrapDecodeTest, MisalignedLoadIsPlain) {
  uint64_t regs[16] = {};
  regs[kRdx] = kWatch - 1;
  TrapDecode d = Decode({0x90, 0x8b, 0x02}, regs);  // mov (%rdx), %eax
  EXPECT_EQ(d.kind, AccessKind::kRead);
  EXPECT_EQ(d.atomicity, Atomicity::kPlain);
}

// vmovdqu %xmm0, (%rdx): c5 fa 7f 02 is plain; vmovdqa (c5 f9 7f 02) may be
// libatomic's 16-byte atomic store (GCC 13 and later).
TEST(TrapDecodeTest, SixteenByteStores) {
  uint64_t regs[16] = {};
  regs[kRdx] = kWatch;
  TrapDecode u = Decode({0x90, 0xc5, 0xfa, 0x7f, 0x02}, regs);
  EXPECT_EQ(u.kind, AccessKind::kWrite);
  EXPECT_EQ(u.atomicity, Atomicity::kPlain);
  TrapDecode a = Decode({0x90, 0xc5, 0xf9, 0x7f, 0x02}, regs);
  EXPECT_EQ(a.kind, AccessKind::kWrite);
  EXPECT_EQ(a.atomicity, Atomicity::kUnknown);
}

// A 16-byte vector load (movdqu (%rdx), %xmm0: f3 0f 6f 02): wide.
TEST(TrapDecodeTest, VectorLoadIsWide) {
  uint64_t regs[16] = {};
  regs[kRdx] = kWatch;
  TrapDecode d = Decode({0x90, 0xf3, 0x0f, 0x6f, 0x02}, regs);
  EXPECT_EQ(d.kind, AccessKind::kRead);
  EXPECT_TRUE(d.maybe_wide);
  EXPECT_FALSE(Decode({0x90, 0x8b, 0x02}, regs).maybe_wide);
}

// In the middle of rep movsb (f3 a4) the trap's pc is the instruction's own:
// the bytes before it are another instruction's. Not known.
TEST(TrapDecodeTest, InsideARepStringInstructionNothingIsKnown) {
  uint64_t regs[16] = {};
  regs[kRdx] = kWatch;
  TrapDecode d = Decode({0x90, 0x89, 0x02}, regs, {0xf3, 0xa4});
  EXPECT_EQ(d.kind, AccessKind::kUnknown);
  EXPECT_EQ(d.atomicity, Atomicity::kUnknown);
}

// A candidate whose address misses the watched byte is not the access.
TEST(TrapDecodeTest, CandidatesMissingTheWatchDoNotCount) {
  uint64_t regs[16] = {};
  regs[kRdx] = kWatch + 64;
  EXPECT_EQ(Decode({0x90, 0x89, 0x02}, regs).kind, AccessKind::kUnknown);
}

}  // namespace
}  // namespace trapsan
