//===- TileProgram.cpp - A block of kda tile primitives as kdk ops --------===//
//
// One kdk op per primitive, one barrier after each: correct for any order
// of readers and writers; kdk-thin-barriers keeps those the ops' declared
// effects need.
//
//===----------------------------------------------------------------------===//
#include "TileProgram.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace kdac::lowering {

SmallVector<int64_t> TileProgram::tileShape(Value value) const {
  SmallVector<int64_t> shape(
      cast<RankedTensorType>(value.getType()).getShape());
  if (slicedValues.contains(value))
    shape.back() = sliceWidth;
  return shape;
}

int64_t TileProgram::tileBytes(Value value) const {
  if (!isa<RankedTensorType>(value.getType()))
    return 0;
  int64_t elements = 1;
  for (int64_t extent : tileShape(value))
    elements *= extent;
  return elements * 4;
}

std::optional<llvm::DenseSet<Value>>
TileProgram::columnBlocks(Block &body, ArrayRef<Value> kept,
                          ArrayRef<Value> sliced) {
  llvm::DenseSet<Operation *> live = liveOps(body, kept);
  llvm::DenseSet<Value> blocks(sliced.begin(), sliced.end());
  auto isBlock = [&](Value v) { return blocks.contains(v); };
  for (Operation &op : body.without_terminator()) {
    if (!live.contains(&op) || llvm::none_of(op.getOperands(), isBlock))
      continue;
    bool columnwise =
        llvm::TypeSwitch<Operation *, bool>(&op)
            .Case<kda::AddOp, kda::SubOp, kda::MulOp>([&](Operation *op) {
              return llvm::all_of(op->getOperands(), isBlock);
            })
            .Case([&](kda::ScaleRowsOp op) {
              return !isBlock(op.getRowScale());
            })
            .Case([&](kda::MatmulOp op) {
              return !isBlock(op.getLhs()) && !op.getTransposeRhs();
            })
            .Default([](Operation *) { return false; });
    if (!columnwise)
      return std::nullopt;
    blocks.insert(op.getResult(0));
  }
  if (!llvm::all_of(kept, isBlock))
    return std::nullopt;
  return blocks;
}

Value TileProgram::newTile(Value like) {
  Value tile = pool.get(tileShape(like), b.getF32Type());
  tiles[like] = tile;
  made.insert(tile);
  return tile;
}

Value TileProgram::elementwiseOut(Operation *op) {
  Value result = op->getResult(0);
  for (Value operand : op->getOperands()) {
    Value tile = tiles.lookup(operand);
    // All of the operand's remaining readers are this op, and the program
    // may overwrite its tile: the result does, element by element.
    if (overwritable(tile) && !keep.contains(operand) &&
        operand.getType() == result.getType() &&
        pendingUses.lookup(operand) ==
            llvm::count(op->getOperands(), operand)) {
      tiles[result] = tile;
      return tile;
    }
  }
  return newTile(result);
}

Value TileProgram::copyOf(Value value, Value result) {
  // A dying tile the program may overwrite is updated where it is.
  Value own = tiles.lookup(value);
  if (overwritable(own) && !keep.contains(value) &&
      pendingUses.lookup(value) == 1) {
    tiles[result] = own;
    return own;
  }
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
        Value into = accumulateInto.lookup(op);
        Value out = into ? tiles.lookup(into) : newTile(op.getResult());
        if (into)
          tiles[op.getResult()] = out;
        kdk::MmaOp::create(b, loc, t(op.getLhs()), t(op.getRhs()), out,
                           op.getTransposeLhs(), /*accumulate=*/bool(into),
                           op.getScale(), op.getTransposeRhs());
        return success();
      })
      .Case([&](kda::AddOp op) {
        if (Value into = foldedAdds.lookup(op)) {
          // The product already accumulated into the other operand's tile.
          tiles[op.getResult()] = t(into);
          return success();
        }
        kdk::AddOp::create(b, loc, t(op.getLhs()), t(op.getRhs()),
                           elementwiseOut(op));
        return success();
      })
      .Case([&](kda::SubOp op) {
        kdk::SubOp::create(b, loc, t(op.getLhs()), t(op.getRhs()),
                           elementwiseOut(op));
        return success();
      })
      .Case([&](kda::MulOp op) {
        kdk::MulOp::create(b, loc, t(op.getLhs()), t(op.getRhs()),
                           elementwiseOut(op), op.getScale());
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
        // In place when the input dies here (the row scale, a vector, never
        // gives its tile).
        Value input = t(op.getInput()), out = elementwiseOut(op);
        kdk::ScaleRowsOp::create(b, loc, input, t(op.getRowScale()),
                                 out == input ? Value() : out);
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

llvm::DenseSet<Operation *> TileProgram::liveOps(Block &body,
                                                ArrayRef<Value> kept) {
  llvm::DenseSet<Value> needed(kept.begin(), kept.end());
  llvm::DenseSet<Operation *> live;
  for (Operation &op : llvm::reverse(body.without_terminator())) {
    if (llvm::none_of(op.getResults(),
                      [&](Value r) { return needed.contains(r); }))
      continue;
    live.insert(&op);
    needed.insert(op.operand_begin(), op.operand_end());
  }
  return live;
}

void TileProgram::planAccumulation(ArrayRef<Operation *> order) {
  llvm::DenseMap<Operation *, unsigned> position;
  for (auto [i, op] : llvm::enumerate(order))
    position[op] = i;
  auto before = [&](Operation *a, Operation *b) {
    return position.lookup(a) < position.lookup(b);
  };
  for (Operation *op : order) {
    auto add = dyn_cast<kda::AddOp>(op);
    if (!add)
      continue;
    for (auto [x, product] : {std::pair<Value, Value>{add.getLhs(), add.getRhs()},
                              {add.getRhs(), add.getLhs()}}) {
      auto matmul = product.getDefiningOp<kda::MatmulOp>();
      Operation *xDef = x.getDefiningOp();
      // x's tile must be one the program made (not a kernel's input).
      if (!matmul || !product.hasOneUse() || !xDef ||
          !position.count(xDef) || x == matmul.getLhs() ||
          x == matmul.getRhs() || !before(xDef, matmul) ||
          accumulateInto.count(matmul))
        continue;
      bool readLater = llvm::any_of(x.getUsers(), [&](Operation *user) {
        return user != op && position.count(user) && !before(user, matmul);
      });
      bool yielded = llvm::any_of(x.getUsers(), [&](Operation *user) {
        return user->hasTrait<OpTrait::IsTerminator>();
      });
      if (readLater || yielded)
        continue;
      accumulateInto[matmul] = x;
      foldedAdds[op] = x;
      break;
    }
  }
}

SmallVector<Operation *>
TileProgram::schedule(Block &body, const llvm::DenseSet<Operation *> &live) {
  // Greedy list scheduling for the smallest working set: of the ops whose
  // operands are ready, run the one that frees the most bytes net of what
  // it makes (the first in program order on a tie), so a large input such
  // as the state or its cotangent dies as soon as its readers can run.
  SmallVector<Operation *> pending;
  llvm::DenseMap<Value, int> readers;
  for (Operation &op : body) {
    if (!live.contains(&op) && !op.hasTrait<OpTrait::IsTerminator>())
      continue;
    if (!op.hasTrait<OpTrait::IsTerminator>())
      pending.push_back(&op);
    for (Value operand : op.getOperands())
      ++readers[operand];
  }
  llvm::DenseSet<Value> ready;
  for (Value arg : body.getArguments())
    ready.insert(arg);
  SmallVector<Operation *> order;
  while (!pending.empty()) {
    int best = -1;
    int64_t bestScore = 0;
    for (auto [i, op] : llvm::enumerate(pending)) {
      if (!llvm::all_of(op->getOperands(),
                        [&](Value v) { return ready.contains(v); }))
        continue;
      // A product planned to accumulate into an addend (planAccumulation)
      // waits for the addend and its other readers, and makes no tile.
      Value into = accumulateInto.lookup(op);
      if (into && (!ready.contains(into) || readers.lookup(into) != 1))
        continue;
      int64_t score = 0;
      if (!into)
        for (Value result : op->getResults())
          score -= tileBytes(result);
      llvm::SmallDenseSet<Value, 4> seen;
      for (Value operand : op->getOperands())
        if (seen.insert(operand).second && !keep.contains(operand) &&
            readers.lookup(operand) ==
                int(llvm::count(op->getOperands(), operand)))
          score += tileBytes(operand);
      if (best < 0 || score > bestScore) {
        best = i;
        bestScore = score;
      }
    }
    if (best < 0) {
      // Only a planned accumulation can block every op (it waits for its
      // addend's other readers): give the plan up and keep program order,
      // which is valid without it.
      accumulateInto.clear();
      foldedAdds.clear();
      SmallVector<Operation *> programOrder;
      for (Operation &bodyOp : body.without_terminator())
        if (live.contains(&bodyOp))
          programOrder.push_back(&bodyOp);
      return programOrder;
    }
    Operation *op = pending[best];
    pending.erase(pending.begin() + best);
    order.push_back(op);
    for (Value operand : op->getOperands())
      --readers[operand];
    for (Value result : op->getResults())
      ready.insert(result);
  }
  return order;
}

LogicalResult TileProgram::run(Block &body, ArrayRef<Value> kept) {
  keep = llvm::DenseSet<Value>(kept.begin(), kept.end());
  llvm::DenseSet<Operation *> live = liveOps(body, kept);
  SmallVector<Operation *> programOrder;
  for (Operation &op : body.without_terminator())
    if (live.contains(&op))
      programOrder.push_back(&op);
  planAccumulation(programOrder);
  SmallVector<Operation *> order = schedule(body, live);
  pendingUses.clear();
  for (Operation &op : body)
    if (live.contains(&op) || op.hasTrait<OpTrait::IsTerminator>())
      for (Value operand : op.getOperands())
        ++pendingUses[operand];
  for (Operation *opPtr : order) {
    Operation &op = *opPtr;
    if (failed(lower(&op)))
      return failure();
    if (!foldedAdds.contains(&op))
      k.barrier();
    // After the barrier, tiles whose last reader ran may be written again,
    // unless a result now lives in one (an in-place or folded op).
    llvm::SmallPtrSet<void *, 2> resultTiles;
    for (Value result : op.getResults())
      resultTiles.insert(tiles.lookup(result).getAsOpaquePointer());
    for (Value operand : op.getOperands()) {
      Value tile = tiles.lookup(operand);
      if (--pendingUses[operand] == 0 && tile && made.contains(tile) &&
          !keep.contains(operand) &&
          !resultTiles.contains(tile.getAsOpaquePointer())) {
        pool.release(tile);
        made.remove(tile);
      }
    }
    for (Value result : op.getResults())
      if (pendingUses.lookup(result) == 0 && made.contains(tiles.lookup(result))) {
        pool.release(tiles.lookup(result));
        made.remove(tiles.lookup(result));
      }
  }
  return success();
}

void TileProgram::releaseAll(ArrayRef<Value> live) {
  for (Value tile : made)
    if (!llvm::is_contained(live, tile))
      pool.release(tile);
  made.clear();
  carried.clear();
  tiles.clear();
}

} // namespace kdac::lowering
