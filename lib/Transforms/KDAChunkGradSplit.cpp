//===- KDAChunkGradSplit.cpp - The backward split by dependence on the state -===//
//
// A kda.chunk_grad_loop runs one sequential walk per sequence and head. Only
// two things in it are sequential: the entering states (a forward scan) and
// their cotangents (a reverse scan); every chunk's input gradients follow
// from those two in parallel. This pass makes that explicit, as the kernels
// need it: kda.chunk_states (the forward body), kda.chunk_state_grads (the
// backward body sliced to the state cotangent) and kda.chunk_grad_map (the
// backward body sliced to the input gradients), exchanging per-chunk-slot
// states.
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"

#include "DeadOps.h"

#include "KDA/KDAOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

using namespace mlir;
using namespace mlir::kda;

namespace kdac {
#define GEN_PASS_DEF_KDACHUNKGRADSPLIT
#include "kdac/Transforms/Passes.h.inc"
} // namespace kdac

namespace {

/// Keeps only the yielded values in \p kept of a loop body (the others
/// become zeros) and erases what no longer feeds the terminator.
void sliceBody(Block &body, ArrayRef<unsigned> kept) {
  Operation *yield = body.getTerminator();
  OpBuilder b(yield);
  for (unsigned i = 0; i < yield->getNumOperands(); ++i)
    if (!llvm::is_contained(kept, i))
      yield->setOperand(i, ZeroOp::create(b, yield->getLoc(),
                                          yield->getOperand(i).getType()));
  kdac::eraseDeadOps(body);
}

struct KDAChunkGradSplitPass
    : kdac::impl::KDAChunkGradSplitBase<KDAChunkGradSplitPass> {
  void runOnOperation() override {
    SmallVector<ChunkGradLoopOp> loops;
    getOperation().walk([&](ChunkGradLoopOp loop) { loops.push_back(loop); });
    for (ChunkGradLoopOp loop : loops) {
      if (loop.getBackward().empty()) {
        loop.emitOpError() << "has no backward body to split: run "
                              "kda-chunk-adjoint first";
        return signalPassFailure();
      }
      split(loop);
    }
  }

  void split(ChunkGradLoopOp loop) {
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    auto vType = cast<RankedTensorType>(loop.getV().getType());
    auto slotStates = RankedTensorType::get(
        {ShapedType::kDynamic, vType.getDimSize(2), loop.getKeyDim(),
         loop.getValueDim()},
        b.getF32Type());

    auto states = ChunkStatesOp::create(
        b, loc, slotStates, loop.getQ(), loop.getK(), loop.getV(), loop.getG(),
        loop.getBeta(), loop.getInitialState(), loop.getCuSeqlens(),
        /*prepared=*/ValueRange(), loop.getChunkSize(), loop.getGate(),
        loop.getLayout());
    IRMapping forwardCopy;
    loop.getForward().cloneInto(&states.getBody(), forwardCopy);
    sliceBody(states.getBody().front(), {/*state=*/1}); // not the output

    ValueRange grads = loop.getGrads();
    Type dh0Type = loop.getInitialState() ? grads.back().getType() : Type();
    auto stateGrads = ChunkStateGradsOp::create(
        b, loc, slotStates, dh0Type, loop.getQ(), loop.getK(), loop.getV(),
        loop.getG(), loop.getBeta(), loop.getCuSeqlens(), states,
        loop.getDOut(), loop.getDht(), /*prepared=*/ValueRange(),
        loop.getChunkSize(), loop.getGate(), loop.getLayout());
    IRMapping stateGradsCopy;
    loop.getBackward().cloneInto(&stateGrads.getBody(), stateGradsCopy);
    using Arg = ChunkGradLoopOp::BackwardArg;
    sliceBody(stateGrads.getBody().front(), {Arg::kState});

    ValueRange inputGrads =
        loop.getInitialState() ? grads.drop_back() : grads;
    auto map = ChunkGradMapOp::create(
        b, loc, inputGrads.getTypes(), loop.getQ(), loop.getK(), loop.getV(),
        loop.getG(), loop.getBeta(), loop.getCuSeqlens(), states,
        stateGrads.getNextStateGrads(), loop.getDOut(), loop.getChunkSize(),
        loop.getGate(), loop.getLayout());
    IRMapping mapCopy;
    loop.getBackward().cloneInto(&map.getBody(), mapCopy);
    sliceBody(map.getBody().front(),
                      {Arg::kQ, Arg::kK, Arg::kV, Arg::kG, Arg::kBeta});

    SmallVector<Value> replacements(map.getGrads());
    if (loop.getInitialState())
      replacements.push_back(stateGrads.getDh0());
    loop.replaceAllUsesWith(replacements);
    loop.erase();
  }
};

} // namespace
