//===- KDAChunkAdjoint.cpp - The backward body of a chunk grad loop -------===//
//
// Reverse-mode differentiation of the chunk body, op by op: the forward
// region's ops are recomputed in the backward region, then walked in reverse,
// each emitting its adjoint op (kda.*_grad) and adding its cotangents into
// its operands'. The result is the chunked backward of DESIGN.md section 2's
// algebra, derived rather than written, so a new forward op needs only its
// adjoint rule here to get a backward.
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"

#include "KDA/KDAOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::kda;

namespace kdac {
#define GEN_PASS_DEF_KDACHUNKADJOINT
#include "kdac/Transforms/Passes.h.inc"
} // namespace kdac

namespace {

/// The cotangent of every value of the backward region, summed over its uses.
class Cotangents {
public:
  Cotangents(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  void add(Value value, Value cotangent) {
    auto [it, inserted] = sums.try_emplace(value, cotangent);
    if (!inserted)
      it->second = AddOp::create(b, loc, it->second, cotangent);
  }
  /// The cotangent, or null if nothing flowed into \p value.
  Value lookup(Value value) const { return sums.lookup(value); }
  /// The cotangent, or zeros of the value's type.
  Value orZero(Value value) {
    if (Value sum = lookup(value))
      return sum;
    return ZeroOp::create(b, loc, value.getType());
  }

private:
  OpBuilder &b;
  Location loc;
  DenseMap<Value, Value> sums;
};

/// Emits the adjoint of one recomputed forward op; fails on an op without
/// an adjoint rule.
LogicalResult emitAdjoint(OpBuilder &b, Operation *op, Cotangents &ct) {
  Location loc = op->getLoc();
  auto addAll = [&](ValueRange of, ValueRange cotangents) {
    for (auto [value, cotangent] : llvm::zip(of, cotangents))
      ct.add(value, cotangent);
  };
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](CumsumOp cumsum) {
        ct.add(cumsum.getInput(), ReverseCumsumOp::create(
                                      b, loc, ct.orZero(cumsum.getResult())));
        return success();
      })
      .Case([&](DecayedGramOp gram) {
        SmallVector<Value> of = {gram.getLhs(), gram.getRhs(), gram.getGc()};
        if (gram.getRowScale())
          of.push_back(gram.getRowScale());
        auto grad = DecayedGramGradOp::create(
            b, loc, ValueRange(of).getTypes(), ct.orZero(gram.getResult()),
            gram.getLhs(), gram.getRhs(), gram.getGc(), gram.getRowScale(),
            gram.getMask(), gram.getScaleAttr());
        addAll(of, grad.getGrads());
        return success();
      })
      .Case([&](UTInverseOp inverse) {
        ct.add(inverse.getInput(),
               UTInverseGradOp::create(b, loc, inverse.getResult(),
                                       ct.orZero(inverse.getResult())));
        return success();
      })
      .Case([&](WYOp wy) {
        auto grad = WYGradOp::create(
            b, loc,
            TypeRange{wy.getM().getType(), wy.getK().getType(),
                      wy.getV().getType(), wy.getGc().getType(),
                      wy.getBeta().getType()},
            wy.getM(), wy.getK(), wy.getV(), wy.getGc(), wy.getBeta(),
            ct.orZero(wy.getW()), ct.orZero(wy.getU()));
        addAll({wy.getM(), wy.getK(), wy.getV(), wy.getGc(), wy.getBeta()},
               grad.getResults());
        return success();
      })
      .Case([&](StateApplyOp apply) {
        auto grad = StateApplyGradOp::create(
            b, loc,
            TypeRange{apply.getU().getType(), apply.getW().getType(),
                      apply.getState().getType()},
            apply.getW(), apply.getState(), ct.orZero(apply.getResult()));
        addAll({apply.getU(), apply.getW(), apply.getState()},
               grad.getResults());
        return success();
      })
      .Case([&](OutputOp output) {
        SmallVector<Value> of = {output.getQ(), output.getGc(),
                                 output.getState(), output.getAqk(),
                                 output.getValues()};
        auto grad = OutputGradOp::create(
            b, loc, ValueRange(of).getTypes(), output.getQ(), output.getGc(),
            output.getState(), output.getAqk(), output.getValues(),
            ct.orZero(output.getResult()), output.getScaleAttr());
        addAll(of, grad.getResults());
        return success();
      })
      .Case([&](StateUpdateOp update) {
        SmallVector<Value> of = {update.getState(), update.getK(),
                                 update.getGc(), update.getValues()};
        auto grad = StateUpdateGradOp::create(
            b, loc, ValueRange(of).getTypes(), update.getState(),
            update.getK(), update.getGc(), update.getValues(),
            ct.orZero(update.getResult()));
        addAll(of, grad.getResults());
        return success();
      })
      .Case([&](ScaleRowsOp scale) {
        auto grad = ScaleRowsGradOp::create(
            b, loc,
            TypeRange{scale.getInput().getType(), scale.getRowScale().getType()},
            scale.getInput(), scale.getRowScale(), ct.orZero(scale.getResult()));
        addAll({scale.getInput(), scale.getRowScale()}, grad.getResults());
        return success();
      })
      .Default([&](Operation *other) {
        return other->emitOpError()
               << "has no adjoint rule in kda-chunk-adjoint (run it on the "
                  "chunk body as kda-chunk builds it, before kda-ut-expand)";
      });
}

struct KDAChunkAdjointPass
    : kdac::impl::KDAChunkAdjointBase<KDAChunkAdjointPass> {
  void runOnOperation() override {
    WalkResult result = getOperation().walk([&](ChunkGradLoopOp loop) {
      if (!loop.getBackward().empty())
        return WalkResult::advance();
      return failed(deriveBackward(loop)) ? WalkResult::interrupt()
                                          : WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

  LogicalResult deriveBackward(ChunkGradLoopOp loop) {
    Block &forward = loop.getForward().front();
    Location loc = loop.getLoc();
    OpBuilder b(loop.getContext());
    SmallVector<Type> argTypes(forward.getArgumentTypes());
    const Type dOType = forward.getTerminator()->getOperand(0).getType();
    const Type stateType = argTypes[ChunkGradLoopOp::kState];
    argTypes.append({dOType, stateType});
    SmallVector<Location> argLocs(argTypes.size(), loc);
    Block *backward =
        b.createBlock(&loop.getBackward(), {}, argTypes, argLocs);

    // Recompute the forward values the adjoints read.
    IRMapping recomputed;
    for (unsigned i = 0; i < forward.getNumArguments(); ++i)
      recomputed.map(forward.getArgument(i), backward->getArgument(i));
    SmallVector<Operation *> ops;
    for (Operation &op : forward.without_terminator())
      ops.push_back(b.clone(op, recomputed));
    auto yield = cast<YieldOp>(forward.getTerminator());

    Cotangents ct(b, loc);
    ct.add(recomputed.lookup(yield.getO()),
           backward->getArgument(ChunkGradLoopOp::kDO));
    ct.add(recomputed.lookup(yield.getState()),
           backward->getArgument(ChunkGradLoopOp::kDNextState));
    for (Operation *op : llvm::reverse(ops)) {
      if (llvm::none_of(op->getResults(),
                        [&](Value r) { return bool(ct.lookup(r)); }))
        continue;
      if (failed(emitAdjoint(b, op, ct)))
        return failure();
    }
    SmallVector<Value> yielded;
    for (unsigned i = 0; i <= ChunkGradLoopOp::kState; ++i)
      yielded.push_back(ct.orZero(backward->getArgument(i)));
    GradYieldOp::create(b, loc, yielded[0], yielded[1], yielded[2], yielded[3],
                        yielded[4], yielded[5]);

    // The recomputed output and leaving state are never read.
    for (Operation *op : llvm::reverse(ops))
      if (op->use_empty())
        op->erase();
    return success();
  }
};

} // namespace
