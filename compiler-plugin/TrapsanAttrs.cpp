// The clang side of trapsan's plugin (-fplugin=TrapsanPlugin.so, next to
// -fpass-plugin): functions marked __attribute__((no_sanitize("thread")))
// get the annotation TRAPSAN_NO_INSTRUMENT uses, "trapsan_no_instrument",
// which reaches the IR (llvm.global.annotations) where the pass skips them.
// clang 14 records no_sanitize("thread") in the IR only under
// -fsanitize=thread; without this, trapsan-cc could not honor it.
#include "clang/AST/ASTConsumer.h"
#include "clang/AST/Attr.h"
#include "clang/AST/RecursiveASTVisitor.h"
#include "clang/Basic/Sanitizers.h"
#include "clang/Frontend/CompilerInstance.h"
#include "clang/Frontend/FrontendPluginRegistry.h"

#include <memory>
#include <string>
#include <vector>

namespace {

constexpr char kAnnotation[] = "trapsan_no_instrument";

class MarkNoSanitizeThread
    : public clang::RecursiveASTVisitor<MarkNoSanitizeThread> {
 public:
  explicit MarkNoSanitizeThread(clang::ASTContext& ctx) : ctx_(ctx) {}

  bool shouldVisitTemplateInstantiations() const { return true; }

  bool VisitFunctionDecl(clang::FunctionDecl* f) {
    // On any declaration of the function (the attribute may be on a
    // prototype only), once.
    for (const clang::FunctionDecl* d : f->redecls()) {
      for (const auto* attr : d->specific_attrs<clang::NoSanitizeAttr>()) {
        if (!(attr->getMask() & clang::SanitizerKind::Thread)) continue;
        for (const auto* a : f->specific_attrs<clang::AnnotateAttr>())
          if (a->getAnnotation() == kAnnotation) return true;
        f->addAttr(clang::AnnotateAttr::CreateImplicit(ctx_, kAnnotation,
                                                       nullptr, 0));
        return true;
      }
    }
    return true;
  }

 private:
  clang::ASTContext& ctx_;
};

class Consumer : public clang::ASTConsumer {
 public:
  bool HandleTopLevelDecl(clang::DeclGroupRef group) override {
    for (clang::Decl* d : group) {
      MarkNoSanitizeThread(d->getASTContext()).TraverseDecl(d);
    }
    return true;
  }
  // Template instantiations and inline members are emitted later.
  void HandleInlineFunctionDefinition(clang::FunctionDecl* f) override {
    MarkNoSanitizeThread(f->getASTContext()).TraverseDecl(f);
  }
  void HandleCXXImplicitFunctionInstantiation(clang::FunctionDecl* f) override {
    MarkNoSanitizeThread(f->getASTContext()).TraverseDecl(f);
  }
};

class Action : public clang::PluginASTAction {
 protected:
  std::unique_ptr<clang::ASTConsumer> CreateASTConsumer(
      clang::CompilerInstance&, llvm::StringRef) override {
    return std::make_unique<Consumer>();
  }
  bool ParseArgs(const clang::CompilerInstance&,
                 const std::vector<std::string>&) override {
    return true;
  }
  // Before code generation, which then sees the annotation.
  ActionType getActionType() override { return AddBeforeMainAction; }
};

clang::FrontendPluginRegistry::Add<Action> registration(
    "trapsan", "trapsan: no_sanitize(\"thread\") opts a function out");

}  // namespace
