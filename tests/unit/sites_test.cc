// The site note parser (runtime/linux/sites.cpp): register names and frame
// slots as the compiler prints them, and malformed notes refused.
#include "runtime/linux/sites.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace trapsan {
namespace {

TEST(SitesTest, RegisterNamesOfEveryWidthMapToTheirSlot) {
  EXPECT_EQ(SavedSlotOfRegister("%rax"), kSlotRax);
  EXPECT_EQ(SavedSlotOfRegister("%eax"), kSlotRax);
  EXPECT_EQ(SavedSlotOfRegister("%rdi"), kSlotRdi);
  EXPECT_EQ(SavedSlotOfRegister("%esi"), kSlotRsi);
  EXPECT_EQ(SavedSlotOfRegister("%rbp"), kSlotRbp);
  EXPECT_EQ(SavedSlotOfRegister("%r8"), kSlotR8);
  EXPECT_EQ(SavedSlotOfRegister("%r9d"), kSlotR9);
  EXPECT_EQ(SavedSlotOfRegister("%r15"), kSlotR15);
  EXPECT_EQ(SavedSlotOfRegister("%r12d"), kSlotR12);
  EXPECT_EQ(SavedSlotOfRegister("%rsp"), -1);  // never a site operand
  EXPECT_EQ(SavedSlotOfRegister("%r16"), -1);
  EXPECT_EQ(SavedSlotOfRegister("%xmm0"), -1);
}

TEST(SitesTest, FrameSlotsAreBasePlusDisplacement) {
  SiteOperand op;
  ASSERT_TRUE(ParseSiteOperand("-40(%rbp)", &op));
  EXPECT_EQ(op.slot, kSlotRbp);
  EXPECT_EQ(op.add, -40);
  EXPECT_FALSE(op.register_only);
  ASSERT_TRUE(ParseSiteOperand("16(%rsp)", &op));
  EXPECT_EQ(op.slot, kSlotRsp);
  EXPECT_EQ(op.add, 16);
  ASSERT_TRUE(ParseSiteOperand("(%rbx)", &op));
  EXPECT_EQ(op.slot, kSlotRbx);
  EXPECT_EQ(op.add, 0);
  ASSERT_TRUE(ParseSiteOperand("%r13", &op));
  EXPECT_TRUE(op.register_only);
  EXPECT_FALSE(ParseSiteOperand("8(%rax,%rcx,4)", &op));  // no index
  EXPECT_FALSE(ParseSiteOperand("g(%rip)", &op));
  EXPECT_FALSE(ParseSiteOperand("$5", &op));
}

// A note desc built field by field, as the plugin's asm lays it out.
struct NoteBuilder {
  std::vector<uint8_t> bytes;
  template <typename T>
  void Put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof v);
  }
  void Name(const char* s) {
    bytes.push_back('r');
    bytes.insert(bytes.end(), s, s + std::strlen(s) + 1);
  }
};

// A calling site's (flags 0, region 0) or a label's (operand 0 unused).
NoteBuilder OneAccessNote(uint8_t version, const char* base_register,
                          uint8_t flags = 0, uint32_t weight = 0,
                          uint64_t region = 0) {
  NoteBuilder b;
  b.Put<int32_t>(0x100);  // pc - &field
  b.bytes.insert(b.bytes.end(), {version, flags, /*variants=*/1,
                                 /*operands=*/2, kNoOperand, 0});
  b.Put<uint16_t>(1);  // accesses
  b.Put<uint32_t>(weight);
  b.Put<uint64_t>(region);
  b.Put(SiteVariant{1, 0, 1});
  b.Put(SiteAccess{8, 4, 42, /*base=*/1, kNoOperand, /*write=*/1, 0});
  b.Name("%rax");  // operand 0: the TLS offset
  b.Name(base_register);
  return b;
}

TEST(SitesTest, ParsesAOneAccessNote) {
  NoteBuilder b = OneAccessNote(kSiteVersion, "-24(%rbp)");
  Site site;
  ASSERT_TRUE(ParseSiteNote(b.bytes.data(), b.bytes.size(), &site));
  EXPECT_EQ(site.pc, reinterpret_cast<uintptr_t>(b.bytes.data()) + 0x100);
  EXPECT_EQ(site.variants, 1);
  EXPECT_EQ(site.variant[0].n, 1u);
  EXPECT_EQ(site.access[0].offset, 8);
  EXPECT_EQ(site.access[0].size, 4u);
  EXPECT_EQ(site.access[0].line, 42u);
  EXPECT_EQ(site.operand[1].slot, kSlotRbp);
  EXPECT_EQ(site.operand[1].add, -24);
}

TEST(SitesTest, RefusesMalformedNotes) {
  Site site;
  NoteBuilder other_version = OneAccessNote(kSiteVersion + 1, "%rcx");
  EXPECT_FALSE(ParseSiteNote(other_version.bytes.data(),
                             other_version.bytes.size(), &site));
  NoteBuilder bad_register = OneAccessNote(kSiteVersion, "%xmm3");
  EXPECT_FALSE(ParseSiteNote(bad_register.bytes.data(),
                             bad_register.bytes.size(), &site));
  NoteBuilder good = OneAccessNote(kSiteVersion, "%rcx");
  for (size_t cut = 0; cut < good.bytes.size(); ++cut) {
    EXPECT_FALSE(ParseSiteNote(good.bytes.data(), static_cast<uint32_t>(cut),
                               &site))
        << "truncated to " << cut;
  }
  EXPECT_TRUE(ParseSiteNote(good.bytes.data(), good.bytes.size(), &site));
  // Labels and checks belong to a region and have a weight.
  NoteBuilder label = OneAccessNote(kSiteVersion, "%rcx", kSiteLabel, 1024, 7);
  ASSERT_TRUE(ParseSiteNote(label.bytes.data(), label.bytes.size(), &site));
  EXPECT_EQ(site.region, 7u);
  EXPECT_EQ(site.weight, 1024u);
  NoteBuilder no_region = OneAccessNote(kSiteVersion, "%rcx", kSiteLabel, 1, 0);
  EXPECT_FALSE(ParseSiteNote(no_region.bytes.data(), no_region.bytes.size(),
                             &site));
  NoteBuilder check_with_access =
      OneAccessNote(kSiteVersion, "%rcx", kSiteCheck, 1, 7);
  EXPECT_FALSE(ParseSiteNote(check_with_access.bytes.data(),
                             check_with_access.bytes.size(), &site));
  NoteBuilder unknown_flag = OneAccessNote(kSiteVersion, "%rcx", 0x40);
  EXPECT_FALSE(ParseSiteNote(unknown_flag.bytes.data(),
                             unknown_flag.bytes.size(), &site));
}

}  // namespace
}  // namespace trapsan
