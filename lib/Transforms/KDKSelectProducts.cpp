//===- KDKSelectProducts.cpp - FMA or tf32 tensor cores per product -------===//
//
// Chooses how each f32 shared-tile kdk.mma multiplies: f32 FMAs, or tf32
// operands on tensor cores. The choice follows what the kernel's inputs
// carry (a 16-bit q loses nothing to tf32 rounding), so it is made per
// kernel from its q parameter, where the lowering left every product f32.
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"

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
    auto name = kernel.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                     kdk::kParamAttr);
    if (name && name.getValue() == "q")
      return cast<MemRefType>(arg.getType()).getElementTypeBitWidth() == 16;
  }
  return false;
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
    });
  }
};

} // namespace
