// A site's inline asm and its ELF note (runtime/linux/sites.h): the
// countdown update and call of a calling site, or a label's nop; the note
// names each access's base operand, offset, size and line.
#include "Instrumenter.h"
#include "ReleasePoints.h"
#include "SiteFormat.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/DebugInfoMetadata.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/InlineAsm.h"
#include "llvm/Analysis/ValueTracking.h"
#include <algorithm>

namespace trapsan_plugin {

// A note's start, up to the variants (runtime/linux/sites.h); `2:` is the
// site's pc, `3:` and `4:` delimit the desc (the caller ends it).
void Instrumenter::EmitNoteHeader(raw_ostream& os, const Function& f, unsigned flags,
                    size_t variants, unsigned operands, unsigned selector,
                    unsigned accesses, uint32_t weight, uint64_t region) {
  os << ".pushsection .note.trapsan,";
  if (const Comdat* c = f.getComdat()) {
    os << "\"aG\",@note," << c->getName() << ",comdat\n";
  } else {
    os << "\"a\",@note\n";
  }
  os << ".balign 4\n.long 8, 4f - 3f, " << kSiteNoteType
     << "\n.asciz \"trapsan\"\n3:\n.long 2b - .\n";
  if (ReleasePointsEnabled()) flags |= kSiteReleasePoints;
  os << ".byte " << kSiteVersion << ", " << flags << ", " << variants
     << ", " << operands << ", " << selector << ", 0\n.short " << accesses
     << "\n.long " << weight << "\n.quad " << region << "\n";
}

// A join's site: one variant per distinct way in (a predecessor's
// accesses, then the join's own), each with a distinct step (padded with
// phantoms where two would be equal); the step comes from a phi.
void Instrumenter::EmitJoin(const JoinSite& join, const Segment& head) {
  SmallVector<Variant, 4> variants;
  DenseMap<BasicBlock*, unsigned> step_of;
  auto add = [&](ArrayRef<Access> before) {
    SmallVector<Access, 8> all(before.begin(), before.end());
    all.append(head.accesses.begin(), head.accesses.end());
    unsigned n = all.size();
    for (bool clash = true; clash;) {
      clash = false;
      for (const Variant& v : variants) clash |= v.n == n;
      if (clash) ++n;
    }
    variants.push_back({std::move(all), n});
    return n;
  };
  const unsigned own = add({});
  for (const auto& [pred, accesses] : join.from) step_of[pred] = add(accesses);
  BasicBlock* j = join.block;
  IRBuilder<> b(j, j->begin());
  PHINode* step = b.CreatePHI(Type::getInt32Ty(ctx_), 2, "trapsan.step");
  for (BasicBlock* p : predecessors(j)) {
    auto it = step_of.find(p);
    step->addIncoming(
        ConstantInt::get(Type::getInt32Ty(ctx_),
                         it != step_of.end() ? it->second : own),
        p);
  }
  EmitSite(head.at, variants, step, /*promote=*/false, nullptr);
}

// An access's base pointer and constant offset, as the note gives them.
// Constant offsets are peeled off; so are the trailing constant indices of
// a GEP with variable ones (`&b[j].vx` -> `&b[j]` + 16, one GEP made for
// all of b[j]'s fields), so that the fields of one element share a
// register.
std::pair<Value*, int64_t> Instrumenter::BaseOf(const Access& a) {
  int64_t offset = 0;
  Value* base = GetPointerBaseWithConstantOffset(a.addr, offset, dl_);
  if (auto* gep = dyn_cast<GetElementPtrInst>(base)) {
    if (auto [prefix, more] = PeelConstantIndices(gep); prefix != nullptr) {
      base = prefix;
      offset += more;
    }
  }
  if (offset < INT32_MIN || offset > INT32_MAX) return {a.addr, 0};
  return {base, offset};
}

// For `gep T, p, i0..ik-1, ck..cn` (the last indices constant, not all):
// a GEP `gep T, p, i0..ik-1` (made once per pointer and indices, right
// after `gep`) and the constant offset of the rest; {null, 0} otherwise.
std::pair<Value*, int64_t> Instrumenter::PeelConstantIndices(GetElementPtrInst* gep) {
  const unsigned indices = gep->getNumIndices();
  unsigned k = indices;
  while (k > 0 && isa<ConstantInt>(gep->getOperand(k))) --k;
  // k: the number of leading indices up to the last variable one.
  if (k == 0 || k == indices) return {nullptr, 0};
  SmallVector<Value*, 4> head(gep->idx_begin(), gep->idx_begin() + k);
  Type* head_type = GetElementPtrInst::getIndexedType(
      gep->getSourceElementType(), head);
  if (head_type == nullptr || !head_type->isSized()) return {nullptr, 0};
  SmallVector<Value*, 4> rest{
      ConstantInt::get(Type::getInt64Ty(ctx_), 0)};
  for (unsigned i = k + 1; i <= indices; ++i) {
    auto* c = cast<ConstantInt>(gep->getOperand(i));
    // Struct field numbers must stay i32.
    rest.push_back(c);
  }
  int64_t offset = 0;
  {
    SmallVector<Value*, 4> rest_indices(rest.begin(), rest.end());
    // getIndexedOffsetInType wants the indices into head_type.
    offset = dl_.getIndexedOffsetInType(head_type, rest_indices);
  }
  // One prefix GEP per (pointer, leading indices), where it dominates.
  SmallVector<Value*, 6> key{gep->getPointerOperand()};
  key.append(head.begin(), head.end());
  if (!dt_) dt_.emplace(*gep->getFunction());
  for (auto& [k_values, value] : peeled_) {
    if (k_values == key && dt_->dominates(value, gep)) return {value, offset};
  }
  IRBuilder<> b(gep->getNextNode());
  b.SetCurrentDebugLocation(gep->getDebugLoc());
  Value* prefix =
      gep->isInBounds()
          ? b.CreateInBoundsGEP(gep->getSourceElementType(),
                                gep->getPointerOperand(), head,
                                "trapsan.base")
          : b.CreateGEP(gep->getSourceElementType(),
                        gep->getPointerOperand(), head, "trapsan.base");
  peeled_.push_back({key, prefix});
  return {prefix, offset};
}

// The values a site needs in operands for these accesses.
void Instrumenter::AddOperandValues(ArrayRef<Access> accesses,
                      SmallPtrSetImpl<Value*>& values) {
  for (const Access& a : accesses) {
    values.insert(BaseOf(a).first);
    if (!isa<ConstantInt>(a.size)) values.insert(a.size);
  }
}

// A plain segment: longer ones are cut into chunks, each its own site.
void Instrumenter::InstrumentSegment(Instruction* at, ArrayRef<Access> accesses,
                       bool promote, const LabelInfo* label) {
  size_t begin = 0;
  while (begin < accesses.size()) {
    SmallPtrSet<Value*, 8> values;
    size_t end = begin;
    while (end < accesses.size()) {
      SmallPtrSet<Value*, 8> grown = values;
      AddOperandValues(accesses.slice(end, 1), grown);
      if (grown.size() > kMaxOperands && end > begin) break;
      values = std::move(grown);
      ++end;
    }
    Variant v{SmallVector<Access, 8>(accesses.begin() + begin,
                                     accesses.begin() + end),
              static_cast<unsigned>(end - begin)};
    EmitSite(at, v, nullptr, promote, label);
    begin = end;
  }
}

// One countdown update per segment, before `at` (its sync point or the
// block's terminator), after its accesses, as one inline asm:
//
//     subl $N, %fs:(tpoff)        // or a register, in a promoted loop
//     jg 1f
//     call *__trapsan_site@GOTPCREL(%rip)  // no PLT; saves everything
//   2: (an ELF note: the site's accesses, as register + offset)
//   1:
//
// The note (runtime/linux/sites.h) gives, per access, the asm operand
// holding its base pointer, a constant offset, its size (or the operand
// holding it), read/write and its line; the runtime reads the registers
// the stub saved and samples the access at which the countdown crossed
// zero. No spills, no cold block: about 13 bytes per segment. In a
// single-block loop without sync points the countdown is kept in a
// register (the asm's tied operand): loaded before the loop, stored on
// exit; the runtime rewrites the saved register when it refills it.
// A join's site may have several variants (the accesses its
// predecessors left to it): then N comes in a register, `selector`, a phi
// of each way's distinct N, and the runtime picks the variant by it.
//
// A label site (`label` given; see PlaceLabels) is only `2: nop` and the
// note, with the region and the label's weight.
void Instrumenter::EmitSite(Instruction* at, ArrayRef<Variant> variants, Value* selector,
              bool promote, const LabelInfo* label) {
  BasicBlock& bb = *at->getParent();
  Function& f = *bb.getParent();
  Type* i32 = Type::getInt32Ty(ctx_);
  Type* i64 = Type::getInt64Ty(ctx_);
  DebugLoc hot_loc;  // the first variant's (a join's own accesses) first
  for (const Variant& v : variants) {
    if (v.accesses.empty()) continue;
    hot_loc = v.accesses.back().inst->getDebugLoc();
    break;
  }
  // The asm calls (a label: the runtime sends the thread through a stub).
  f.addFnAttr(Attribute::NoRedZone);

  // Operand 0: the countdown (a tied register in a promoted loop: $0 out,
  // $1 in) or the TLS offset of __trapsan_countdown; then the values.
  SmallVector<Value*, 8> inputs;
  std::string constraints;
  unsigned first_value = 0;
  IRBuilder<> b(at);
  b.SetCurrentDebugLocation(hot_loc);
  // In a register nest (Countdown.cpp): the nest's slot, loaded before the
  // site and stored after it, becomes a register.
  AllocaInst* slot =
      label == nullptr && !promote ? NestSlot(&bb) : nullptr;
  const bool in_register = promote || slot != nullptr;
  if (label != nullptr) {
    first_value = 0;
  } else if (in_register) {
    inputs.push_back(promote ? PromotedCountdown(bb, hot_loc)
                             : b.CreateLoad(Type::getInt32Ty(ctx_), slot));
    constraints = "=r,0";
    first_value = 2;
  } else {
    inputs.push_back(TlsOffset(f));
    constraints = "r";
    first_value = 1;
  }
  // How each value reaches the runtime: a register ("r"); a stack slot as
  // a frame-relative memory operand ("*m", printed "-40(%rbp)": no
  // register, no lea); a global of this object as a symbol ("i", emitted
  // PC-relative into the note). The note names each: 'r' + the printed
  // operand, or 'g' + a 32-bit PC-relative address.
  DenseMap<Value*, unsigned> operand_of;
  SmallVector<char, 8> kinds(first_value, 'r');
  SmallVector<std::pair<unsigned, Type*>, 4> element_types;  // arg, type
  SmallPtrSet<Value*, 4> sizes;
  auto operand = [&](Value* v) {
    auto it = operand_of.find(v);
    if (it != operand_of.end()) return it->second;
    unsigned index = inputs.size() + first_value - (label ? 0 : 1);
    char kind = 'r';
    auto* alloca = dyn_cast<AllocaInst>(v);
    auto* global = dyn_cast<GlobalVariable>(v);
    if (alloca != nullptr && alloca->isStaticAlloca()) {
      constraints += ",*m";
      element_types.push_back({static_cast<unsigned>(inputs.size()),
                               alloca->getAllocatedType()});
    } else if (global != nullptr && global->isDSOLocal() &&
               !global->isThreadLocal()) {
      constraints += ",i";
      kind = 'g';
    } else {
      constraints += ",r";
    }
    inputs.push_back(v);
    kinds.push_back(kind);
    operand_of[v] = index;
    return index;
  };
  const unsigned selector_operand =
      selector != nullptr ? operand(selector) : kNoOperandIndex;

  std::string text;
  raw_string_ostream os(text);
  std::string step = selector != nullptr
                         ? "$" + std::to_string(selector_operand)
                         : "$$" + std::to_string(variants[0].n);
  if (label != nullptr) {
    os << "2:\nnop\n";
  } else if (in_register) {
    os << "subl " << step << ", $0\njg 1f\n" << kSiteCall << "\n2:\n";
  } else {
    os << "subl " << step << ", %fs:($0)\njg 1f\n" << kSiteCall << "\n2:\n";
  }
  std::string table;  // the variants (the accesses follow)
  raw_string_ostream ts(table);
  std::string access_table;
  raw_string_ostream at_os(access_table);
  unsigned total = 0;
  for (const Variant& v : variants) {
    ts << ".long " << v.n << "\n.short " << total << ", "
       << v.accesses.size() << "\n";
    for (const Access& a : v.accesses) {
      auto [base_value, offset] = BaseOf(a);
      unsigned base = operand(base_value);
      unsigned size_operand = kNoOperandIndex;
      uint64_t size = 0;
      if (auto* c = dyn_cast<ConstantInt>(a.size)) {
        size = std::min<uint64_t>(c->getZExtValue(), UINT32_MAX);
      } else {
        size_operand = operand(a.size);
        sizes.insert(a.size);
      }
      // The line, when the site's own location (the last access's) is in
      // the same function and inlining context; else the site's line holds.
      unsigned line = 0;
      const DebugLoc& loc = a.inst->getDebugLoc();
      if (loc && hot_loc && loc->getScope()->getSubprogram() ==
                                hot_loc->getScope()->getSubprogram() &&
          loc->getInlinedAt() == hot_loc->getInlinedAt())
        line = loc.getLine();
      at_os << ".long " << offset << ", " << size << ", " << line
            << "\n.byte " << base << ", " << size_operand << ", "
            << (a.is_write ? 1 : 0) << ", 0\n";
      ++total;
    }
  }
  const unsigned operands = inputs.size() + first_value - (label ? 0 : 1);
  const unsigned flags = label != nullptr ? kSiteLabel
                         : in_register    ? kSiteCountdownInRegister
                                          : 0u;
  uint32_t weight = 0;
  if (label != nullptr)
    weight = static_cast<uint32_t>(std::min(
        label->per_pass * total * kWeightUnit + 0.5, 1e9));
  EmitNoteHeader(os, f, flags, variants.size(), operands, selector_operand,
                 total, std::max<uint32_t>(weight, label ? 1 : 0),
                 label != nullptr ? label->region : 0);
  os << ts.str() << at_os.str();
  for (unsigned i = 0; i < operands; ++i) {
    if (kinds[i] == 'g') {
      os << ".byte 'g'\n.long ${" << i << ":c} - .\n";
    } else {
      os << ".byte 'r'\n.asciz \"$" << i << "\"\n";
    }
  }
  os << "4:\n.balign 4\n.popsection\n1:";
  constraints += label != nullptr
                     ? ",~{memory}"
                     : ",~{cc},~{memory},~{dirflag},~{fpsr},~{flags}";
  if (!constraints.empty() && constraints[0] == ',') constraints.erase(0, 1);

  // Sizes go in as 64-bit registers.
  for (Value*& v : inputs) {
    if (sizes.count(v) != 0) v = b.CreateZExtOrTrunc(v, i64);
  }
  SmallVector<Type*, 8> types;
  for (Value* v : inputs) types.push_back(v->getType());
  FunctionType* type = FunctionType::get(
      in_register ? i32 : Type::getVoidTy(ctx_), types, false);
  InlineAsm* asm_ = InlineAsm::get(type, os.str(), constraints,
                                   /*hasSideEffects=*/true);
  CallInst* call = b.CreateCall(type, asm_, inputs);
  call->setDebugLoc(hot_loc);
  for (const auto& [arg, element] : element_types)
    call->addParamAttr(arg, Attribute::get(ctx_, Attribute::ElementType,
                                           element));
  if (promote) PromotedNext(bb, call, hot_loc);
  if (slot != nullptr) b.CreateStore(call, slot);
}

}  // namespace trapsan_plugin
