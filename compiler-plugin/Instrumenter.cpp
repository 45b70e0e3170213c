// Which functions of a module are instrumented: not the runtime's, not
// on other targets, not twice (ThinLTO), not those opted out by attribute
// or annotation; and the pass's environment options (TRAPSAN_PLUGIN_VERIFY,
// TRAPSAN_PLUGIN_VERBOSE; TRAPSAN_PLUGIN_SITES is read in Instrumenter.h).
#include "Instrumenter.h"
#include "ReleasePoints.h"
#include "SiteFormat.h"
#include "SyncState.h"

#include "llvm/ADT/Triple.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/Verifier.h"
#include "llvm/Support/ErrorHandling.h"

#include <cstdlib>

namespace trapsan_plugin {
namespace {

// Functions named in llvm.global.annotations with "trapsan_no_instrument"
// (the TRAPSAN_NO_INSTRUMENT macro of include/trapsan/annotations.h).
SmallPtrSet<const Function*, 8> OptedOutFunctions(Module& m) {
  SmallPtrSet<const Function*, 8> out;
  GlobalVariable* annotations = m.getNamedGlobal("llvm.global.annotations");
  if (annotations == nullptr || !annotations->hasInitializer()) return out;
  auto* array = dyn_cast<ConstantArray>(annotations->getInitializer());
  if (array == nullptr) return out;
  for (const Use& op : array->operands()) {
    auto* entry = dyn_cast<ConstantStruct>(op.get());
    if (entry == nullptr || entry->getNumOperands() < 2) continue;
    auto* fn = dyn_cast<Function>(entry->getOperand(0)->stripPointerCasts());
    auto* str =
        dyn_cast<GlobalVariable>(entry->getOperand(1)->stripPointerCasts());
    if (fn == nullptr || str == nullptr || !str->hasInitializer()) continue;
    auto* data = dyn_cast<ConstantDataSequential>(str->getInitializer());
    if (data == nullptr || !data->isString()) continue;
    StringRef text = data->getAsString();
    text = text.take_until([](char c) { return c == '\0'; });
    if (text == kNoInstrumentAnnotation) out.insert(fn);
  }
  return out;
}

}  // namespace

bool Instrumenter::Run() {
  // The runtime itself (it defines the countdown) is never instrumented.
  if (GlobalVariable* g = m_.getNamedGlobal(kCountdownName);
      g != nullptr && !g->isDeclaration())
    return false;
  // The sites are x86-64 ELF assembly, the runtime x86-64 Linux.
  const Triple triple(m_.getTargetTriple());
  if (triple.getArch() != Triple::x86_64 || !triple.isOSBinFormatELF()) {
    errs() << "trapsan-plugin: warning: " << m_.getModuleIdentifier()
           << ": target " << m_.getTargetTriple()
           << " is not supported (x86-64 ELF only): not instrumented\n";
    return false;
  }
  // Instrumented once: a ThinLTO backend runs OptimizerLastEP again.
  if (m_.getModuleFlag(kInstrumentedFlag) != nullptr) return false;
  m_.addModuleFlag(Module::Max, kInstrumentedFlag, 1);
  const auto opted_out = OptedOutFunctions(m_);
  // clang records no_sanitize("thread") only under -fsanitize=thread: then
  // every other function carries sanitize_thread and the ones without it
  // are opted out.
  bool module_has_sanitize_thread = false;
  for (Function& f : m_)
    if (f.hasFnAttribute(Attribute::SanitizeThread))
      module_has_sanitize_thread = true;

  bool changed = false;
  SmallPtrSet<const Function*, 32> instrumented_fns;
  // TRAPSAN_PLUGIN_VERIFY=1: check each instrumented function (tests).
  const char* verify_env = std::getenv("TRAPSAN_PLUGIN_VERIFY");
  const bool verify = verify_env != nullptr && verify_env[0] == '1';
  for (Function& f : m_) {
    if (f.isDeclaration()) continue;
    if (f.hasFnAttribute(Attribute::DisableSanitizerInstrumentation) ||
        f.hasFnAttribute(Attribute::Naked) || opted_out.count(&f) != 0 ||
        (module_has_sanitize_thread &&
         !f.hasFnAttribute(Attribute::SanitizeThread)) ||
        f.getName().startswith("__trapsan_")) {
      ++counts_.functions_skipped;
      continue;
    }
    ++counts_.functions;
    instrumented_fns.insert(&f);
    if (InstrumentFunction(f)) {
      changed = true;
      if (verify && verifyFunction(f, &errs()))
        report_fatal_error("trapsan-plugin: broken IR in " + f.getName());
    }
  }
  // Release points (ReleasePoints.h), once every function is instrumented.
  ReleasePointCounts points;
  if (ReleasePointsEnabled()) {
    for (Function& f : m_) {
      if (instrumented_fns.count(&f) == 0) continue;
      const ReleasePointCounts c = MarkReleasePoints(f, instrumented_fns);
      points.candidates += c.candidates;
      points.marked += c.marked;
      points.markers += c.markers;
      if (c.marked == 0 && c.markers == 0) continue;
      changed = true;
      if (verify && verifyFunction(f, &errs()))
        report_fatal_error("trapsan-plugin: broken IR (release points) in " +
                           f.getName());
    }
  }
  // The sync-state word (SyncState.h), last: around the calls as they are.
  if (SyncStateEnabled()) changed |= EmitSyncState(m_, instrumented_fns, verify);
  if (const char* v = std::getenv("TRAPSAN_PLUGIN_VERBOSE");
      v != nullptr && v[0] == '1') {
    errs() << "trapsan-plugin: " << m_.getModuleIdentifier() << ": functions "
           << counts_.functions << " (skipped " << counts_.functions_skipped
           << "), instrumented loads " << counts_.loads << " stores "
           << counts_.stores << " memintrinsics " << counts_.memintrinsics
           << "; skipped atomic " << counts_.skipped_atomic
           << " local " << counts_.skipped_local << " constant "
           << counts_.skipped_constant << " covered " << counts_.skipped_covered
           << " other " << counts_.skipped_other << "; release points "
           << points.marked << " of " << points.candidates
           << ", return markers " << points.markers << "\n";
  }
  return changed;
}

}  // namespace trapsan_plugin
