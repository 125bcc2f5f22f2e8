//===- KDAGradDecompose.cpp - The backward bodies as tile primitives ------===//
//
// kda-chunk-adjoint writes one adjoint op per forward op, each a small
// program of products and element-wise steps. A kernel runs those steps one
// tile op at a time, so this pass spells them out: every compound op in the
// bodies of the backward's chunk ops (kda.chunk_states, chunk_state_grads,
// chunk_grad_map and the unsplit chunk_grad_loop) becomes matmuls with
// transposes, row and column reductions and element-wise ops, one rewrite
// pattern per op. What no result needs then folds away: the map's body keeps
// no state cotangent, the state scan's no input gradient. The forward's
// chunk loops keep their compound ops; their kernels lower those directly.
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"

#include "KDA/KDAOps.h"

#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;
using namespace mlir::kda;

namespace kdac {
#define GEN_PASS_DEF_KDAGRADDECOMPOSE
#include "kdac/Transforms/Passes.h.inc"
} // namespace kdac

namespace {

/// Builds the primitives at one op's location, with their result types.
class Primitives {
public:
  Primitives(PatternRewriter &rewriter, Location loc)
      : r(rewriter), loc(loc), f32(rewriter.getF32Type()) {}

  Value matmul(Value a, Value b, bool transposeA, bool transposeB,
               double scale = 1.0) {
    ArrayRef<int64_t> sa = shape(a), sb = shape(b);
    int64_t m = transposeA ? sa[1] : sa[0], n = transposeB ? sb[0] : sb[1];
    return MatmulOp::create(r, loc, tensor({m, n}), a, b, transposeA,
                            transposeB, llvm::APFloat(scale));
  }
  Value mul(Value a, Value b, double scale = 1.0) {
    return MulOp::create(r, loc, a.getType(), a, b, llvm::APFloat(scale));
  }
  Value add(Value a, Value b) { return AddOp::create(r, loc, a, b); }
  Value sub(Value a, Value b) { return SubOp::create(r, loc, a, b); }
  Value rowDot(Value a, Value b) {
    return RowDotOp::create(r, loc, tensor({shape(a)[0]}), a, b);
  }
  Value columnSum(Value x) {
    return ColumnSumOp::create(r, loc, tensor({shape(x)[1]}), x);
  }
  Value addToLastRow(Value x, Value row) {
    return AddToLastRowOp::create(r, loc, x.getType(), x, row);
  }
  Value tril(Value x, CausalMask mask, double scale) {
    return TrilOp::create(r, loc, x, mask, llvm::APFloat(scale));
  }
  /// scale * x * exp(gc), or x * exp(gc_last - gc) with `toLast`.
  Value decayRows(Value x, Value gc, bool toLast, double scale = 1.0) {
    return DecayRowsOp::create(r, loc, x.getType(), x, gc, toLast,
                               llvm::APFloat(scale));
  }
  Value scaleRows(Value x, Value rowScale) {
    return ScaleRowsOp::create(r, loc, x.getType(), x, rowScale);
  }
  Value lastRowExp(Value gc) {
    return LastRowExpOp::create(r, loc, tensor({shape(gc)[1]}), gc);
  }

private:
  static ArrayRef<int64_t> shape(Value v) {
    return cast<RankedTensorType>(v.getType()).getShape();
  }
  RankedTensorType tensor(ArrayRef<int64_t> dims) {
    return RankedTensorType::get(dims, f32);
  }

  PatternRewriter &r;
  Location loc;
  Type f32;
};

/// Applies only inside the backward's chunk ops.
bool inBackward(Operation *op) {
  return op->getParentOfType<ChunkStatesOp>() ||
         op->getParentOfType<ChunkStateGradsOp>() ||
         op->getParentOfType<ChunkGradMapOp>() ||
         op->getParentOfType<ChunkGradLoopOp>();
}

template <typename OpT> struct BackwardPattern : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpT op, PatternRewriter &rewriter) const final {
    if (!inBackward(op))
      return failure();
    Primitives p(rewriter, op.getLoc());
    rewriter.replaceOp(op, decompose(op, p));
    return success();
  }
  virtual SmallVector<Value> decompose(OpT op, Primitives &p) const = 0;
};

/// w = M (beta k exp(gc)), u = M (beta v).
struct DecomposeWY : BackwardPattern<WYOp> {
  using BackwardPattern::BackwardPattern;
  SmallVector<Value> decompose(WYOp op, Primitives &p) const override {
    Value kb = p.scaleRows(p.decayRows(op.getK(), op.getGc(), false),
                           op.getBeta());
    Value vb = p.scaleRows(op.getV(), op.getBeta());
    return {p.matmul(op.getM(), kb, false, false),
            p.matmul(op.getM(), vb, false, false)};
  }
};

/// v' = u - w S.
struct DecomposeStateApply : BackwardPattern<StateApplyOp> {
  using BackwardPattern::BackwardPattern;
  SmallVector<Value> decompose(StateApplyOp op, Primitives &p) const override {
    return {p.sub(op.getU(),
                  p.matmul(op.getW(), op.getState(), false, false))};
  }
};

/// S' = Diag(exp(gc_last)) S + (k exp(gc_last - gc))^T v'.
struct DecomposeStateUpdate : BackwardPattern<StateUpdateOp> {
  using BackwardPattern::BackwardPattern;
  SmallVector<Value> decompose(StateUpdateOp op, Primitives &p) const override {
    Value decayed = p.scaleRows(op.getState(), p.lastRowExp(op.getGc()));
    Value kg = p.decayRows(op.getK(), op.getGc(), true);
    return {p.add(decayed, p.matmul(kg, op.getValues(), true, false))};
  }
};

/// o = scale (q exp(gc)) S + Aqk v'.
struct DecomposeOutput : BackwardPattern<OutputOp> {
  using BackwardPattern::BackwardPattern;
  SmallVector<Value> decompose(OutputOp op, Primitives &p) const override {
    Value qg = p.decayRows(op.getQ(), op.getGc(), false,
                           op.getScale().convertToDouble());
    return {p.add(p.matmul(qg, op.getState(), false, false),
                  p.matmul(op.getAqk(), op.getValues(), false, false))};
  }
};

/// With kd = k exp(gc_last - gc) and L = exp(gc_last):
/// dS = Diag(L) dS', dkd = v' dS'^T, dk = dkd exp(gc_last - gc),
/// dv' = kd dS', dgc = -dkd kd + e_last (colsum(dkd kd) + L (S . dS')).
struct DecomposeStateUpdateGrad : BackwardPattern<StateUpdateGradOp> {
  using BackwardPattern::BackwardPattern;
  SmallVector<Value> decompose(StateUpdateGradOp op,
                               Primitives &p) const override {
    Value gc = op.getGc(), dnext = op.getDresult();
    Value last = p.lastRowExp(gc);
    Value kd = p.decayRows(op.getK(), gc, true);
    Value dkd = p.matmul(op.getValues(), dnext, false, true);
    Value term = p.mul(dkd, kd);
    Value toLast = p.add(p.columnSum(term),
                         p.mul(last, p.rowDot(op.getState(), dnext)));
    return {p.scaleRows(dnext, last), p.decayRows(dkd, gc, true),
            p.addToLastRow(p.mul(dkd, kd, -1.0), toLast),
            p.matmul(kd, dnext, false, false)};
  }
};

/// With qd = q exp(gc) and s the scale: dqd = dO S^T, dq = s dqd exp(gc),
/// dgc = s dqd qd, dS = s qd^T dO, dAqk = dO v'^T, dv' = Aqk^T dO.
struct DecomposeOutputGrad : BackwardPattern<OutputGradOp> {
  using BackwardPattern::BackwardPattern;
  SmallVector<Value> decompose(OutputGradOp op, Primitives &p) const override {
    const double s = op.getScale().convertToDouble();
    Value qd = p.decayRows(op.getQ(), op.getGc(), false);
    Value dqd = p.matmul(op.getDO(), op.getState(), false, true);
    return {p.decayRows(dqd, op.getGc(), false, s), p.mul(dqd, qd, s),
            p.matmul(qd, op.getDO(), true, false, s),
            p.matmul(op.getDO(), op.getValues(), false, true),
            p.matmul(op.getAqk(), op.getDO(), true, false)};
  }
};

/// du = dv', dw = -dv' S^T, dS = -w^T dv'.
struct DecomposeStateApplyGrad : BackwardPattern<StateApplyGradOp> {
  using BackwardPattern::BackwardPattern;
  SmallVector<Value> decompose(StateApplyGradOp op,
                               Primitives &p) const override {
    Value dvalues = op.getDvalues();
    return {dvalues, p.matmul(dvalues, op.getState(), false, true, -1.0),
            p.matmul(op.getW(), dvalues, true, false, -1.0)};
  }
};

/// With kd = k exp(gc), kb = beta kd, vb = beta v: dM = dw kb^T + du vb^T,
/// dkb = M^T dw, dvb = M^T du, dk = beta dkb exp(gc), dgc = dkb kb,
/// dv = beta dvb, dbeta = dkb . kd + dvb . v (rows).
struct DecomposeWYGrad : BackwardPattern<WYGradOp> {
  using BackwardPattern::BackwardPattern;
  SmallVector<Value> decompose(WYGradOp op, Primitives &p) const override {
    Value m = op.getM(), gc = op.getGc(), beta = op.getBeta();
    Value kd = p.decayRows(op.getK(), gc, false);
    Value kb = p.scaleRows(kd, beta);
    Value vb = p.scaleRows(op.getV(), beta);
    Value dM = p.add(p.matmul(op.getDw(), kb, false, true),
                     p.matmul(op.getDu(), vb, false, true));
    Value dkb = p.matmul(m, op.getDw(), true, false);
    Value dvb = p.matmul(m, op.getDu(), true, false);
    Value dk = p.scaleRows(p.decayRows(dkb, gc, false), beta);
    Value dbeta = p.add(p.rowDot(dkb, kd), p.rowDot(dvb, op.getV()));
    return {dM, dk, p.scaleRows(dvb, beta), p.mul(dkb, kb), dbeta};
  }
};

/// M = (I + A)^-1: dA = tril(-(M^T dM M^T), strict).
struct DecomposeUTInverseGrad : BackwardPattern<UTInverseGradOp> {
  using BackwardPattern::BackwardPattern;
  SmallVector<Value> decompose(UTInverseGradOp op,
                               Primitives &p) const override {
    Value m = op.getM();
    Value product =
        p.matmul(p.matmul(m, op.getDM(), true, false), m, false, true);
    return {p.tril(product, CausalMask::strict, -1.0)};
  }
};

/// y = x r (rows): dx = dy r, dr = dy . x (rows).
struct DecomposeScaleRowsGrad : BackwardPattern<ScaleRowsGradOp> {
  using BackwardPattern::BackwardPattern;
  SmallVector<Value> decompose(ScaleRowsGradOp op,
                               Primitives &p) const override {
    return {p.scaleRows(op.getDresult(), op.getRowScale()),
            p.rowDot(op.getDresult(), op.getInput())};
  }
};

struct KDAGradDecomposePass
    : kdac::impl::KDAGradDecomposeBase<KDAGradDecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeWY, DecomposeStateApply, DecomposeStateUpdate,
                 DecomposeOutput, DecomposeStateUpdateGrad,
                 DecomposeOutputGrad, DecomposeStateApplyGrad, DecomposeWYGrad,
                 DecomposeUTInverseGrad, DecomposeScaleRowsGrad>(&getContext());
    FrozenRewritePatternSet frozen(std::move(patterns));
    SmallVector<Operation *> backwardOps;
    getOperation().walk([&](Operation *op) {
      if (isa<ChunkStatesOp, ChunkStateGradsOp, ChunkGradMapOp,
              ChunkGradLoopOp>(op))
        backwardOps.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    DominanceInfo dominance;
    for (Operation *op : backwardOps) {
      for (Region &region : op->getRegions())
        if (failed(applyPatternsGreedily(region, frozen))) {
          op->emitOpError() << "kda-grad-decompose: the rewrite did not "
                               "converge";
          return signalPassFailure();
        }
      // The decompositions of neighbouring ops repeat factors (k exp(gc),
      // exp(gc_last)); only the backward's bodies are merged, so the
      // forward's IR stays as it was.
      eliminateCommonSubExpressions(rewriter, dominance, op);
    }
  }
};

} // namespace
