//===- TileProgram.cpp - A block of kda tile primitives as kdk ops --------===//
//
// One kdk op per primitive, one barrier after each: correct for any order
// of readers and writers, and the place a barrier-placement pass (from the
// ops' declared effects) will thin out.
//
//===----------------------------------------------------------------------===//
#include "TileProgram.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace kdac::lowering {

Value TileProgram::newTile(Value like) {
  Value tile = pool.get(cast<RankedTensorType>(like.getType()).getShape(),
                        b.getF32Type());
  tiles[like] = tile;
  made.insert(tile);
  return tile;
}

Value TileProgram::copyOf(Value value, Value result) {
  Value tile = newTile(result);
  kdk::ConvertOp::create(b, k.loc, tiles.lookup(value), tile);
  k.barrier();
  return tile;
}

LogicalResult TileProgram::lower(Operation *op) {
  Location loc = k.loc;
  auto t = [&](Value v) { return tiles.lookup(v); };
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](kda::CumsumOp op) {
        kdk::CumsumRowsOp::create(b, loc, copyOf(op.getInput(), op.getResult()),
                                  false);
        return success();
      })
      .Case([&](kda::ReverseCumsumOp op) -> LogicalResult {
        if (op.getInput().getType().getRank() != 2)
          return op.emitOpError() << "convert-kda-grad-to-kdk: expects a "
                                     "[C, K] reverse cumsum";
        kdk::CumsumRowsOp::create(b, loc, copyOf(op.getInput(), op.getResult()),
                                  true);
        return success();
      })
      .Case([&](kda::DecayedGramOp op) {
        kdk::DecayedGramOp::create(
            b, loc, t(op.getLhs()), t(op.getRhs()), t(op.getGc()),
            op.getRowScale() ? t(op.getRowScale()) : Value(),
            newTile(op.getResult()), op.getMask(),
            llvm::APFloat(op.getScaleAttr() ? op.getScaleAttr().getValueAsDouble()
                                            : 1.0),
            op.getAnchorBlock(), /*tensor_cores=*/false, /*first_warp=*/0);
        return success();
      })
      .Case<kda::ForwardSubstitutionOp, kda::UTInverseOp>([&](Operation *op) {
        kdk::TriInverseOp::create(b, loc, t(op->getOperand(0)),
                                  newTile(op->getResult(0)));
        return success();
      })
      .Case([&](kda::MatmulOp op) {
        kdk::MmaOp::create(b, loc, t(op.getLhs()), t(op.getRhs()),
                           newTile(op.getResult()), op.getTransposeLhs(),
                           /*accumulate=*/false, op.getScale(),
                           op.getTransposeRhs());
        return success();
      })
      .Case([&](kda::AddOp op) {
        kdk::AddOp::create(b, loc, t(op.getLhs()), t(op.getRhs()),
                           newTile(op.getResult()));
        return success();
      })
      .Case([&](kda::SubOp op) {
        kdk::SubOp::create(b, loc, t(op.getLhs()), t(op.getRhs()),
                           newTile(op.getResult()));
        return success();
      })
      .Case([&](kda::MulOp op) {
        kdk::MulOp::create(b, loc, t(op.getLhs()), t(op.getRhs()),
                           newTile(op.getResult()), op.getScale());
        return success();
      })
      .Case([&](kda::RowDotOp op) {
        kdk::RowDotOp::create(b, loc, t(op.getLhs()), t(op.getRhs()),
                              newTile(op.getResult()));
        return success();
      })
      .Case([&](kda::ColumnSumOp op) {
        kdk::ColumnSumOp::create(b, loc, t(op.getInput()),
                                 newTile(op.getResult()));
        return success();
      })
      .Case([&](kda::AddToLastRowOp op) {
        kdk::AddToLastRowOp::create(
            b, loc, copyOf(op.getInput(), op.getResult()), t(op.getRow()));
        return success();
      })
      .Case([&](kda::TrilOp op) {
        kdk::TrilOp::create(b, loc, copyOf(op.getInput(), op.getResult()),
                            op.getMask(), op.getScale());
        return success();
      })
      .Case([&](kda::DecayRowsOp op) {
        kdk::DecayRowsOp::create(b, loc, t(op.getInput()), t(op.getGc()),
                                 Value(), newTile(op.getResult()),
                                 op.getToLast(), op.getScale());
        return success();
      })
      .Case([&](kda::ScaleRowsOp op) {
        kdk::ScaleRowsOp::create(b, loc, t(op.getInput()), t(op.getRowScale()),
                                 newTile(op.getResult()));
        return success();
      })
      .Case([&](kda::LastRowExpOp op) {
        kdk::LastRowExpOp::create(b, loc, t(op.getGc()),
                                  newTile(op.getResult()));
        return success();
      })
      .Case([&](kda::ZeroOp op) {
        kdk::FillOp::create(b, loc, newTile(op.getResult()),
                            b.getF64FloatAttr(0.0));
        return success();
      })
      .Case([&](kda::DecayedGramGradOp op) {
        Value rowScale = op.getRowScale() ? t(op.getRowScale()) : Value();
        SmallVector<Value> grads;
        for (Value grad : op.getGrads())
          grads.push_back(newTile(grad));
        kdk::DecayedGramGradOp::create(
            b, loc, t(op.getDA()), t(op.getLhs()), t(op.getRhs()), t(op.getGc()),
            rowScale, grads[0], grads[1], grads[2],
            rowScale ? grads[3] : Value(), op.getMask(),
            llvm::APFloat(op.getScaleAttr() ? op.getScaleAttr().getValueAsDouble()
                                            : 1.0));
        return success();
      })
      .Default([](Operation *op) {
        return op->emitOpError()
               << "convert-kda-grad-to-kdk: no tile lowering (run "
                  "kda-grad-decompose first)";
      });
}

LogicalResult TileProgram::run(Block &body, ArrayRef<Value> kept) {
  llvm::DenseMap<Value, int> pendingUses;
  for (Operation &op : body)
    for (Value operand : op.getOperands())
      ++pendingUses[operand];
  llvm::DenseSet<Value> keep(kept.begin(), kept.end());
  for (Operation &op : body.without_terminator()) {
    if (failed(lower(&op)))
      return failure();
    k.barrier();
    // After the barrier, tiles whose last reader ran may be written again.
    for (Value operand : op.getOperands()) {
      Value tile = tiles.lookup(operand);
      if (--pendingUses[operand] == 0 && tile && made.contains(tile) &&
          !keep.contains(operand)) {
        pool.release(tile);
        made.erase(tile);
      }
    }
    for (Value result : op.getResults())
      if (pendingUses.lookup(result) == 0 && made.contains(tiles.lookup(result))) {
        pool.release(tiles.lookup(result));
        made.erase(tiles.lookup(result));
      }
  }
  return success();
}

void TileProgram::releaseAll() {
  for (Value tile : made)
    pool.release(tile);
  made.clear();
  tiles.clear();
}

} // namespace kdac::lowering
