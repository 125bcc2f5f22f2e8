//===- KDAChunk.cpp - kda.recurrence -> chunkwise form --------------------===//
//
// Derives the chunkwise algorithm of DESIGN.md section 2 from the
// token-by-token recurrence. The prologue becomes element-wise ops so later
// stages can fuse or hoist them; the per-chunk algebra becomes the body of a
// kda.chunk_loop on static f32 tiles.
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"
#include "kdac/Spec/Limits.h"

#include "KDA/KDAOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::kda;

namespace kdac {
#define GEN_PASS_DEF_KDACHUNK
#include "kdac/Transforms/Passes.h.inc"
} // namespace kdac

namespace {

/// The same shape with f32 elements: what the prologue ops produce.
Type asF32(Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  return type.clone(Float32Type::get(value.getContext()));
}

/// Emits the fused prologue and returns the operands the loop reads.
struct PreparedInputs {
  Value q, k, g, beta;
};

template <typename OpT> PreparedInputs emitPrologue(OpBuilder &b, OpT op) {
  Location loc = op.getLoc();
  PreparedInputs in{op.getQ(), op.getK(), op.getG(), op.getBeta()};
  if (op.getQkL2norm()) {
    in.q = L2NormOp::create(b, loc, asF32(in.q), in.q);
    in.k = L2NormOp::create(b, loc, asF32(in.k), in.k);
  }
  if (op.getActivation() != GateActivation::none)
    in.g = GateActivationOp::create(b, loc, asF32(in.g), in.g, op.getALog(),
                                    op.getDtBias(), op.getActivation(),
                                    op.getLowerBoundAttr());
  if (op.getBetaSigmoid())
    in.beta = SigmoidOp::create(b, loc, asF32(in.beta), in.beta);
  return in;
}

/// Builds the per-chunk algebra into a loop body (kda.chunk_loop's, or
/// kda.chunk_grad_loop's forward region).
void buildChunkBody(OpBuilder &b, Location loc, Block &body, UpdateRule update,
                    double effectiveScale, int64_t chunk) {
  Value qc = body.getArgument(ChunkLoopOp::kQ);
  Value kc = body.getArgument(ChunkLoopOp::kK);
  Value vc = body.getArgument(ChunkLoopOp::kV);
  Value gch = body.getArgument(ChunkLoopOp::kG);
  Value bc = body.getArgument(ChunkLoopOp::kBeta);
  Value state = body.getArgument(ChunkLoopOp::kState);
  auto f32 = b.getF32Type();
  auto square = RankedTensorType::get({chunk, chunk}, f32);
  FloatAttr scale = b.getF64FloatAttr(effectiveScale);

  Value gc = CumsumOp::create(b, loc, gch);
  Value values; // v' = the chunk's values after the state's correction
  if (update == UpdateRule::delta) {
    Value akk = DecayedGramOp::create(b, loc, square, kc, kc, gc, bc,
                                      CausalMask::strict, FloatAttr(), 0);
    Value m = UTInverseOp::create(b, loc, akk);
    auto wy = WYOp::create(b, loc, kc.getType(), vc.getType(), m, kc, vc, gc, bc);
    values = StateApplyOp::create(b, loc, wy.getU(), wy.getW(), state);
  } else {
    values = ScaleRowsOp::create(b, loc, vc, bc);
  }
  Value aqk = DecayedGramOp::create(b, loc, square, qc, kc, gc, Value(),
                                    CausalMask::inclusive, scale, 0);
  Value out = OutputOp::create(b, loc, vc.getType(), qc, gc, state, aqk, values,
                               scale);
  Value next = StateUpdateOp::create(b, loc, state, kc, gc, values);
  YieldOp::create(b, loc, out, next);
}

struct KDAChunkPass : kdac::impl::KDAChunkBase<KDAChunkPass> {
  using KDAChunkBase::KDAChunkBase;

  void runOnOperation() override {
    std::string problem =
        kdac::limits::checkIRChunkSize(chunkSize, "kda-chunk: chunk-size");
    if (!problem.empty()) {
      emitError(getOperation().getLoc()) << problem;
      return signalPassFailure();
    }
    getOperation().walk([&](RecurrenceGradOp op) { rewriteGrad(op); });
    WalkResult result = getOperation().walk([&](RecurrenceOp op) {
      // A pool's slot indirection and per-token writes exist only
      // token by token.
      if (op.getStateIndices()) {
        op.emitOpError() << "with state_indices (a state pool) has no "
                            "chunkwise form; use the decode lowering "
                            "(convert-kda-recurrence-to-kdk, --op=decode)";
        return WalkResult::interrupt();
      }
      rewrite(op);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

  /// A loop body's block on [C, K] / [C, V] tiles: q, k, v, g, beta, state.
  Block *createChunkBlock(OpBuilder &b, Location loc, Region &region,
                          int64_t kDim, int64_t vDim) {
    auto f32 = b.getF32Type();
    Type tileK = RankedTensorType::get({chunkSize, kDim}, f32);
    Type tileV = RankedTensorType::get({chunkSize, vDim}, f32);
    Type argTypes[] = {tileK, tileK, tileV, tileK,
                       RankedTensorType::get({chunkSize}, f32),
                       RankedTensorType::get({kDim, vDim}, f32)};
    SmallVector<Location> argLocs(std::size(argTypes), loc);
    return b.createBlock(&region, {}, argTypes, argLocs);
  }

  /// The backward: the prologue again, a kda.chunk_grad_loop whose forward
  /// region is the chunk body (kda-chunk-adjoint derives the backward one),
  /// then the adjoints of GVA's sharing and of the prologue.
  void rewriteGrad(RecurrenceGradOp op) {
    OpBuilder b(op);
    Location loc = op.getLoc();
    PreparedInputs in = emitPrologue(b, op);
    auto f32 = b.getF32Type();
    auto asF32Type = [&](Value value) {
      return cast<RankedTensorType>(value.getType()).clone(f32);
    };
    auto qType = cast<RankedTensorType>(op.getQ().getType());
    auto vType = cast<RankedTensorType>(op.getV().getType());
    const int64_t kDim = qType.getDimSize(3), vDim = vType.getDimSize(3);
    const int64_t numValueHeads = vType.getDimSize(2);
    auto perValueHead = RankedTensorType::get(
        {qType.getDimSize(0), qType.getDimSize(1), numValueHeads, kDim}, f32);
    SmallVector<Type> loopTypes = {perValueHead, perValueHead, asF32Type(op.getV())};
    if (in.g)
      loopTypes.push_back(asF32Type(in.g));
    loopTypes.push_back(asF32Type(op.getBeta()));
    if (op.getInitialState())
      loopTypes.push_back(asF32Type(op.getInitialState()));
    auto loop = ChunkGradLoopOp::create(
        b, loc, loopTypes, in.q, in.k, op.getV(), in.g, in.beta,
        op.getInitialState(), op.getCuSeqlens(), op.getDOut(), op.getDht(),
        chunkSize, op.getGate(), op.getLayout());
    {
      OpBuilder::InsertionGuard guard(b);
      Block *body = createChunkBlock(b, loc, loop.getForward(), kDim, vDim);
      b.setInsertionPointToStart(body);
      buildChunkBody(b, loc, *body, op.getUpdate(), op.getEffectiveScale(),
                     chunkSize);
    }

    ValueRange grads = loop.getGrads();
    unsigned next = 0;
    auto qkGrad = [&](Value grad, Value raw) {
      if (numValueHeads != qType.getDimSize(2))
        grad = GroupSumOp::create(b, loc, asF32Type(raw), grad);
      if (op.getQkL2norm())
        grad = L2NormGradOp::create(b, loc, asF32Type(raw), raw, grad);
      return grad;
    };
    SmallVector<Value> replacements = {qkGrad(grads[next++], op.getQ()),
                                       qkGrad(grads[next++], op.getK()),
                                       grads[next++]};
    Value dg = in.g ? grads[next++] : Value();
    Value dbeta = grads[next++];
    Value dh0 = op.getInitialState() ? grads[next++] : Value();
    SmallVector<Value> gateParameterGrads;
    if (dg && op.getActivation() != GateActivation::none) {
      SmallVector<Type> types = {asF32Type(op.getG())};
      for (Value parameter : {op.getALog(), op.getDtBias()})
        if (parameter)
          types.push_back(asF32Type(parameter));
      auto gateGrad = GateActivationGradOp::create(
          b, loc, types, op.getG(), op.getALog(), op.getDtBias(), dg,
          op.getActivation(), op.getLowerBoundAttr());
      dg = gateGrad.getGrads()[0];
      gateParameterGrads.append(gateGrad.getGrads().begin() + 1,
                                gateGrad.getGrads().end());
    }
    if (op.getBetaSigmoid())
      dbeta = SigmoidGradOp::create(b, loc, asF32Type(op.getBeta()),
                                    op.getBeta(), dbeta);
    if (dg)
      replacements.push_back(dg);
    replacements.push_back(dbeta);
    replacements.append(gateParameterGrads);
    if (dh0)
      replacements.push_back(dh0);
    op.replaceAllUsesWith(replacements);
    op.erase();
  }

  void rewrite(RecurrenceOp op) {
    OpBuilder b(op);
    Location loc = op.getLoc();
    PreparedInputs in = emitPrologue(b, op);

    Type stateType = op.getFinalState() ? op.getFinalState().getType() : Type();
    auto loop = ChunkLoopOp::create(
        b, loc, op.getO().getType(), stateType, in.q, in.k, op.getV(), in.g,
        in.beta, op.getInitialState(), op.getCuSeqlens(), chunkSize,
        op.getGate(), op.getLayout());

    Block *body = createChunkBlock(b, loc, loop.getBody(), op.getKeyDim(),
                                   op.getValueDim());
    b.setInsertionPointToStart(body);
    buildChunkBody(b, loc, *body, op.getUpdate(), op.getEffectiveScale(),
                   chunkSize);

    op.replaceAllUsesWith(loop.getResults());
    op.erase();
  }
};

} // namespace
