//===- KDKSelectProducts.cpp - FMA or tf32 tensor cores per product -------===//
//
// Chooses how each f32 shared-tile kdk.mma multiplies: f32 FMAs, or tf32
// operands on tensor cores. The choice follows what the kernel's inputs
// carry (a 16-bit q loses nothing to tf32 rounding), so it is made per
// kernel from its q parameter, where the lowering left every product f32.
// A kernel with tf32 products also evaluates its decayed grams (and their
// adjoints) on tensor cores when its gate bounds the log-decay enough for
// the factored form.
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"

#include "kdac/Spec/Limits.h"

#include "KDK/KDKOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;

namespace kdac {
#define GEN_PASS_DEF_KDKSELECTPRODUCTS
#include "kdac/Transforms/Passes.h.inc"
} // namespace kdac

namespace {

/// Whether the kernel's q parameter holds 16-bit floats.
bool takesSixteenBitQ(func::FuncOp kernel) {
  for (BlockArgument arg : kernel.getArguments()) {
    auto tensor = kernel.getArgAttrOfType<kdk::TensorArgAttr>(
        arg.getArgNumber(), kdk::kArgAttr);
    if (tensor && tensor.getName() == "q")
      return cast<MemRefType>(arg.getType()).getElementTypeBitWidth() == 16;
  }
  return false;
}

/// Whether the kernel's gate keeps the factors of a tensor-core decayed
/// gram finite (kdk.decay_bound within the limit).
bool boundsGramFactors(func::FuncOp kernel) {
  auto bound = kernel->getAttrOfType<FloatAttr>(kdk::kDecayBoundAttr);
  return bound &&
         bound.getValueAsDouble() <= kdac::limits::kMaxTensorCoreGramDecay;
}

ArrayRef<int64_t> shapeOf(Value tile) {
  return cast<MemRefType>(tile.getType()).getShape();
}

bool isSharedF32(Value tile) {
  return !kdk::isRegisterFragment(tile) &&
         cast<MemRefType>(tile.getType()).getElementType().isF32();
}

struct KDKSelectProductsPass
    : kdac::impl::KDKSelectProductsBase<KDKSelectProductsPass> {
  using KDKSelectProductsBase::KDKSelectProductsBase;

  void runOnOperation() override {
    if (f32Products != "auto" && f32Products != "fma" && f32Products != "tf32") {
      emitError(getOperation().getLoc())
          << "kdk-select-products: invalid f32-products '" << f32Products
          << "' (expected fma, tf32 or auto)";
      return signalPassFailure();
    }
    getOperation().walk([&](func::FuncOp kernel) {
      if (!kernel->hasAttr(kdk::kKernelAttr))
        return;
      bool tf32 = f32Products == "tf32" ||
                  (f32Products == "auto" && takesSixteenBitQ(kernel));
      kernel.walk([&](kdk::MmaOp mma) {
        if (!isSharedF32(mma.getLhs()) || !isSharedF32(mma.getRhs()) ||
            kdk::isRegisterFragment(mma.getOut()))
          return;
        mma.setTf32(tf32 && kdk::fitsTf32Mma(kdk::getMmaShape(mma)));
      });
      // FMA products keep f32 accuracy everywhere, the grams' included; an
      // unbounded gate keeps the form the lowering chose (direct).
      bool bounded = boundsGramFactors(kernel);
      kernel.walk([&](kdk::DecayedGramOp gram) {
        if (!isSharedF32(gram.getLhs()) || !isSharedF32(gram.getRhs()))
          return;
        ArrayRef<int64_t> lhs = shapeOf(gram.getLhs());
        if (!tf32)
          gram.setTensorCores(false);
        else if (bounded && kdk::fitsTensorCoreGram(lhs[0], lhs[1]))
          gram.setTensorCores(true);
      });
      // The adjoint's tensor-core form covers one 16-row block.
      kernel.walk([&](kdk::DecayedGramGradOp grad) {
        ArrayRef<int64_t> lhs = shapeOf(grad.getLhs());
        grad.setTensorCores(tf32 && bounded &&
                            kdk::fitsTensorCoreGramGrad(lhs[0], lhs[1]));
      });
    });
  }
};

} // namespace
