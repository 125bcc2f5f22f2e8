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

/// The grams between two barriers run at once, each tensor-core one taking
/// one warp per 16 x 8 block of its output: each starts at the warp after
/// the blocks of the one before it (wrapping around the block).
void spreadTensorCoreGrams(func::FuncOp kernel) {
  auto threads = kernel->getAttrOfType<IntegerAttr>(kdk::kBlockThreadsAttr);
  int64_t warps = threads ? threads.getInt() / 32 : 1;
  int64_t warpsInPhase = 0;
  kernel.walk<WalkOrder::PreOrder>([&](Operation *op) {
    if (isa<kdk::BarrierOp>(op)) {
      warpsInPhase = 0;
      return;
    }
    auto gram = dyn_cast<kdk::DecayedGramOp>(op);
    if (!gram)
      return;
    if (!gram.getTensorCores()) {
      gram.setFirstWarp(0); // the direct form runs on every warp
      return;
    }
    int64_t rows = shapeOf(gram.getLhs())[0];
    gram.setFirstWarp(warpsInPhase % warps);
    warpsInPhase += (rows / 16) * (rows / 8);
  });
}

struct KDKSelectProductsPass
    : kdac::impl::KDKSelectProductsBase<KDKSelectProductsPass> {
  using KDKSelectProductsBase::KDKSelectProductsBase;

  void runOnOperation() override {
    auto valid = [](StringRef choice) {
      return choice == "auto" || choice == "fma" || choice == "tf32";
    };
    for (auto [name, choice] :
         {std::pair<StringRef, StringRef>{"f32-products", f32Products},
          {"gram-products", gramProducts}})
      if (!valid(choice) && !(name == "gram-products" && choice.empty())) {
        emitError(getOperation().getLoc())
            << "kdk-select-products: invalid " << name << " '" << choice
            << "' (expected fma, tf32 or auto)";
        return signalPassFailure();
      }
    StringRef grams = gramProducts.empty() ? StringRef(f32Products)
                                           : StringRef(gramProducts);
    getOperation().walk([&](func::FuncOp kernel) {
      if (!kernel->hasAttr(kdk::kKernelAttr))
        return;
      auto choose = [&](StringRef choice) {
        return choice == "tf32" ||
               (choice == "auto" && takesSixteenBitQ(kernel));
      };
      bool tf32 = choose(f32Products), tf32Grams = choose(grams);
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
        if (!tf32Grams)
          gram.setTensorCores(false);
        else if (bounded && kdk::fitsTensorCoreGram(lhs[0], lhs[1]))
          gram.setTensorCores(true);
      });
      spreadTensorCoreGrams(kernel);
      // The adjoint's tensor-core form covers one 16-row block.
      kernel.walk([&](kdk::DecayedGramGradOp grad) {
        ArrayRef<int64_t> lhs = shapeOf(grad.getLhs());
        grad.setTensorCores(tf32Grams && bounded &&
                            kdk::fitsTensorCoreGramGrad(lhs[0], lhs[1]));
      });
    });
  }
};

} // namespace
