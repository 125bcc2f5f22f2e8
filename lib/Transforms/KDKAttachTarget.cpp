//===- KDKAttachTarget.cpp - The code-generation target on the module -----===//
//
// Puts the #kdk.target of an architecture, with the limits kdac's target
// table gives it, on the module: the passes after it plan shared memory
// against the module's target rather than against a constant, and an IR
// file says what it was lowered for.
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"

#include "KDK/KDKOps.h"

using namespace mlir;

namespace kdac {
#define GEN_PASS_DEF_KDKATTACHTARGET
#include "kdac/Transforms/Passes.h.inc"
} // namespace kdac

namespace {

struct KDKAttachTargetPass
    : kdac::impl::KDKAttachTargetBase<KDKAttachTargetPass> {
  using KDKAttachTargetBase::KDKAttachTargetBase;

  void runOnOperation() override {
    kdk::TargetAttr target = kdk::getTargetAttr(&getContext(), arch);
    if (!target) {
      // A bad option is not the IR's fault: no dump of the module with it.
      emitError(getOperation().getLoc())
          << "kdk-attach-target: "
          << kdac::limits::checkArch(arch, "arch");
      return signalPassFailure();
    }
    getOperation()->setAttr(kdk::kTargetAttr, target);
  }
};

} // namespace
