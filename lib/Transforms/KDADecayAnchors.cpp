//===- KDADecayAnchors.cpp - Anchored evaluation of decayed grams ---------===//
//
// Marks each kda.decayed_gram to split exp(gc_i - gc_j) at sub-chunk anchors,
// so the matrix-product form a kernel uses keeps every factor within [0, 1]
// for any gate strength (see the op's description).
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"

#include "KDA/KDAOps.h"

using namespace mlir;
using namespace mlir::kda;

namespace kdac {
#define GEN_PASS_DEF_KDADECAYANCHORS
#include "kdac/Transforms/Passes.h.inc"
} // namespace kdac

namespace {

struct KDADecayAnchorsPass
    : kdac::impl::KDADecayAnchorsBase<KDADecayAnchorsPass> {
  using KDADecayAnchorsBase::KDADecayAnchorsBase;

  void runOnOperation() override {
    if (block <= 0) {
      emitError(getOperation().getLoc())
          << "kda-decay-anchors: block must be positive, got " << block.getValue();
      return signalPassFailure();
    }
    WalkResult result = getOperation().walk([&](DecayedGramOp op) {
      int64_t chunk = op.getLhs().getType().getDimSize(0);
      // A chunk no longer than one block has only a diagonal block, which is
      // evaluated element-wise anyway.
      if (chunk <= block)
        return WalkResult::advance();
      if (chunk % block != 0) {
        op.emitError() << "kda-decay-anchors: block " << block.getValue()
                       << " does not divide the chunk size " << chunk;
        return WalkResult::interrupt();
      }
      op.setAnchorBlock(block);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
