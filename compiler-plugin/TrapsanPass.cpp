// trapsan's LLVM pass plugin (new pass manager): instruments plain loads,
// stores and memcpy/memset/memmove with the inline sampling fast path of
// include/trapsan/compiler_abi.h, batched. The accesses of a segment (up to
// the next call that may synchronize, atomic or fence; moved across blocks
// where every path still counts them once) get one label site after them:
//
//     2: nop; <note>
//
// whose ELF note says in which registers or frame slots their addresses
// are. A region (a function's code outside loops, or one loop's body) gets
// one countdown check at its head, by the accesses a pass is expected to
// make:
//
//     subl $N, %fs:(tpoff); jg 1f
//     call *__trapsan_site@GOTPCREL(%rip); 2: <note>; 1:
//
// and the runtime (runtime/linux/labels.cpp) sets an execution breakpoint on
// one of the region's labels when it expires. Single-block loops keep a
// calling site (the check's asm after their accesses, naming them in its
// note, with the countdown in a register: runtime/linux/sites.cpp).
//
// Use: clang-14 -fpass-plugin=TrapsanPlugin.so -g -fno-omit-frame-pointer ...
// or opt-14 -load-pass-plugin=TrapsanPlugin.so -passes=trapsan.
// docs/compiler-plugin.md says what is instrumented and what is skipped.
//
// This file registers the pass; Instrumenter.h lists the files that do it.

#include "Instrumenter.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/IR/PassManager.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Passes/PassPlugin.h"

using namespace llvm;

namespace {

struct TrapsanPass : PassInfoMixin<TrapsanPass> {
  PreservedAnalyses run(Module& m, ModuleAnalysisManager&) {
    return trapsan_plugin::Instrumenter(m).Run() ? PreservedAnalyses::none()
                                                 : PreservedAnalyses::all();
  }
  // Runs on optnone (-O0) functions too.
  static bool isRequired() { return true; }
};

}  // namespace

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo llvmGetPassPluginInfo() {
  return {LLVM_PLUGIN_API_VERSION, "trapsan", "0.1.0", [](PassBuilder& pb) {
            // After the optimizer, as ThreadSanitizer: only the accesses that
            // survive optimization are instrumented. In LLVM 14 to 16 clang's
            // -O0 pipeline runs this extension point too.
            pb.registerOptimizerLastEPCallback(
                [](ModulePassManager& mpm, OptimizationLevel
#if LLVM_VERSION_MAJOR >= 20
                   , ThinOrFullLTOPhase
#endif
                ) { mpm.addPass(TrapsanPass()); });
            // opt -load-pass-plugin=TrapsanPlugin.so -passes=trapsan
            pb.registerPipelineParsingCallback(
                [](StringRef name, ModulePassManager& mpm,
                   ArrayRef<PassBuilder::PipelineElement>) {
                  if (name != "trapsan") return false;
                  mpm.addPass(TrapsanPass());
                  return true;
                });
          }};
}
