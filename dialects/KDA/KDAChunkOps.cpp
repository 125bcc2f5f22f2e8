//===- KDAChunkOps.cpp - Verifiers of the chunkwise kda ops ---------------===//
//
// Shape rules of the chunk loop, its prologue and the small matrix ops of
// its body, so a malformed hand-written or mis-rewritten body fails at the
// op with a located message, not in the interpreter or the code generator.
// Per-chunk ops work on static f32 tiles: every one of their dimensions is
// a chunk length C, a head dim K or V, checked against its neighbours.
//
//===----------------------------------------------------------------------===//
#include "KDA/KDAOps.h"
#include "KDAShapeChecks.h"

#include "kdac/Spec/Limits.h"

#include <cmath>

using namespace mlir;
using namespace mlir::kda;

static int64_t dim(Value value, unsigned i) {
  return cast<RankedTensorType>(value.getType()).getDimSize(i);
}

/// A static square matrix; returns its size.
static FailureOr<int64_t> expectSquare(Operation *op, StringRef name,
                                       Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  if (!type.hasStaticShape() || type.getRank() != 2 ||
      type.getDimSize(0) != type.getDimSize(1))
    return op->emitOpError() << "expects " << name
                             << " to be a static square matrix, got " << type;
  return type.getDimSize(0);
}

//===----------------------------------------------------------------------===//
// Prologue
//===----------------------------------------------------------------------===//

static LogicalResult verifyElementwise(Operation *op) {
  auto input = cast<RankedTensorType>(op->getOperand(0).getType());
  auto result = cast<RankedTensorType>(op->getResult(0).getType());
  if (input.getRank() < 1 || input.getShape() != result.getShape())
    return op->emitOpError() << "expects a result of the input's shape (rank "
                                ">= 1), got "
                             << input << " -> " << result;
  return success();
}

LogicalResult L2NormOp::verify() { return verifyElementwise(*this); }
LogicalResult SigmoidOp::verify() { return verifyElementwise(*this); }

LogicalResult GateActivationOp::verify() {
  if (failed(verifyElementwise(*this)))
    return failure();
  auto input = getInput().getType();
  // [B, T, HV, K] (channel gate) or [B, T, HV] (scalar gate).
  if (input.getRank() != 3 && input.getRank() != 4)
    return emitOpError() << "expects a [B, T, HV] or [B, T, HV, K] gate, got "
                         << input;
  int64_t hv = input.getDimSize(2);
  int64_t kDim = input.getRank() == 4 ? input.getDimSize(3) : 1;
  if (ShapedType::isDynamic(hv) || ShapedType::isDynamic(kDim) ||
      hv > kdac::limits::kMaxHeads || kDim > kdac::limits::kMaxHeadDim)
    return emitOpError() << "expects a static HV of at most "
                         << kdac::limits::kMaxHeads << " and K of at most "
                         << kdac::limits::kMaxHeadDim << ", got " << input;
  if (getActivation() == GateActivation::none)
    return emitOpError() << "expects activation softplus or lowerbound";
  ShapeChecker shapes(*this);
  std::optional<double> lowerBound;
  if (FloatAttr bound = getLowerBoundAttr())
    lowerBound = bound.getValueAsDouble();
  return verifyGateParameters(shapes,
                              input.getRank() == 4 ? GateGranularity::channel
                                                   : GateGranularity::scalar,
                              getActivation(), getALog(), getDtBias(),
                              lowerBound, hv, kDim);
}

//===----------------------------------------------------------------------===//
// The loop over chunks
//===----------------------------------------------------------------------===//

int64_t ChunkLoopOp::getKeyDim() { return dim(getQ(), 3); }
int64_t ChunkLoopOp::getValueDim() { return dim(getV(), 3); }

LogicalResult mlir::kda::verifyChunkBody(Operation *op, Region &region,
                                        int64_t c, int64_t kDim, int64_t vDim,
                                        TypeRange prepared) {
  if (region.empty())
    return op->emitOpError() << "expects a body block (q, k, v, g, beta, "
                                "state) ending in kda.yield";
  Block &body = region.front();
  Type f32 = Float32Type::get(op->getContext());
  SmallVector<Type> expected = {
      RankedTensorType::get({c, kDim}, f32), RankedTensorType::get({c, kDim}, f32),
      RankedTensorType::get({c, vDim}, f32), RankedTensorType::get({c, kDim}, f32),
      RankedTensorType::get({c}, f32),       RankedTensorType::get({kDim, vDim}, f32)};
  expected.append(prepared.begin(), prepared.end());
  if (body.getNumArguments() != expected.size())
    return op->emitOpError() << "expects a body with " << expected.size()
                             << " arguments (q, k, v, g, beta, state"
                             << (prepared.empty() ? "" : ", prepared...")
                             << "), got " << body.getNumArguments();
  for (auto [i, type] : llvm::enumerate(expected))
    if (body.getArgument(i).getType() != type)
      return op->emitOpError() << "expects body argument #" << i << " of type "
                               << type << ", got "
                               << body.getArgument(i).getType();
  // A block without ops has no terminator to ask for.
  auto yield = body.mightHaveTerminator()
                   ? dyn_cast<YieldOp>(body.getTerminator())
                   : YieldOp();
  if (!yield)
    return op->emitOpError() << "expects the body to end in kda.yield";
  if (yield.getO().getType() != RankedTensorType::get({c, vDim}, f32) ||
      yield.getState().getType() != expected[ChunkLoopOp::kState])
    return yield.emitOpError() << "expects to yield the chunk output (" << c
                               << "x" << vDim << ") and the state (" << kDim
                               << "x" << vDim << ")";
  return success();
}

FailureOr<SmallVector<Type>>
mlir::kda::verifyPrepared(Operation *op, ValueRange prepared, int64_t hv) {
  SmallVector<Type> tiles;
  for (auto [i, value] : llvm::enumerate(prepared)) {
    auto type = cast<RankedTensorType>(value.getType());
    if (type.getRank() < 3 || type.getDimSize(1) != hv ||
        !type.getElementType().isF32() ||
        llvm::any_of(type.getShape().drop_front(2), ShapedType::isDynamic))
      return op->emitOpError()
             << "expects prepared value #" << i << " of type tensor<?x" << hv
             << "x(static tile dims)xf32> (per chunk slot and value head), "
                "got "
             << type;
    tiles.push_back(
        RankedTensorType::get(type.getShape().drop_front(2), type.getElementType()));
  }
  return tiles;
}

/// The loop's operands and results: the recurrence's shapes.
static LogicalResult verifyLoopTensors(ChunkLoopOp op) {
  ShapeChecker shapes(op);
  FailureOr<HeadDims> dims = verifyHeadTensors(
      shapes, {"q", cast<RankedTensorType>(op.getQ().getType())},
      {"k", cast<RankedTensorType>(op.getK().getType())},
      {"v", cast<RankedTensorType>(op.getV().getType())},
      {"o", cast<RankedTensorType>(op.getO().getType())},
      {"beta", cast<RankedTensorType>(op.getBeta().getType())},
      /*oneInputType=*/false);
  if (failed(dims) ||
      failed(verifyGateTensor(shapes, op.getG(), op.getGate(), *dims)))
    return failure();
  FailureOr<int64_t> numStates =
      verifyCuSeqlens(shapes, op.getCuSeqlens(), *dims);
  if (failed(numStates))
    return failure();
  for (auto [name, state] :
       {std::pair<StringRef, Value>{"initial_state", op.getInitialState()},
        {"final_state", op.getFinalState()}})
    if (state && failed(verifyStateTensor(
                     shapes, {name, cast<RankedTensorType>(state.getType())},
                     op.getLayout(), *numStates, *dims)))
      return failure();
  return success();
}

LogicalResult ChunkLoopOp::verify() {
  int64_t c = getChunkSize();
  std::string problem = kdac::limits::checkIRChunkSize(c, "chunk_size");
  if (!problem.empty())
    return emitOpError() << "expects " << problem;
  if (failed(verifyLoopTensors(*this)))
    return failure();
  return verifyChunkBody(*this, getBody(), c, getKeyDim(),
                         getValueDim());
}

//===----------------------------------------------------------------------===//
// Per-chunk algebra
//===----------------------------------------------------------------------===//

LogicalResult CumsumOp::verify() {
  return expectTile(*this, "the input", getInput(),
                    {ShapedType::kDynamic, ShapedType::kDynamic}, "[C, K]");
}

LogicalResult DecayedGramOp::verify() {
  auto lhs = getLhs().getType();
  if (failed(expectTile(*this, "lhs", getLhs(),
                        {ShapedType::kDynamic, ShapedType::kDynamic}, "[C, K]")))
    return failure();
  int64_t c = lhs.getDimSize(0);
  if (failed(expectTile(*this, "the result", getResult(), {c, c}, "[C, C]")))
    return failure();
  if (getRowScale() &&
      failed(expectTile(*this, "row_scale", getRowScale(), {c}, "[C]")))
    return failure();
  ShapeChecker shapes(*this);
  if (FloatAttr scale = getScaleAttr())
    if (failed(verifyScale(shapes, scale.getValueAsDouble())))
      return failure();
  int64_t block = getAnchorBlock();
  if (block < 0 || (block > 0 && c % block != 0))
    return emitOpError() << "expects anchor_block to divide the chunk size "
                         << c << ", got " << block;
  return success();
}

LogicalResult UTInverseOp::verify() {
  return expectSquare(*this, "the input", getInput());
}

LogicalResult ForwardSubstitutionOp::verify() {
  return expectSquare(*this, "the input", getInput());
}

LogicalResult AddIdentityOp::verify() {
  return expectSquare(*this, "the input", getInput());
}

LogicalResult MatmulOp::verify() {
  auto lhs = getLhs().getType(), rhs = getRhs().getType();
  if (!lhs.hasStaticShape() || !rhs.hasStaticShape() || lhs.getRank() != 2 ||
      rhs.getRank() != 2)
    return emitOpError() << "expects static matrices";
  int64_t m = getTransposeLhs() ? lhs.getDimSize(1) : lhs.getDimSize(0);
  int64_t k = getTransposeLhs() ? lhs.getDimSize(0) : lhs.getDimSize(1);
  int64_t rhsK = getTransposeRhs() ? rhs.getDimSize(1) : rhs.getDimSize(0);
  int64_t n = getTransposeRhs() ? rhs.getDimSize(0) : rhs.getDimSize(1);
  if (k != rhsK)
    return emitOpError() << "expects a contraction dim of " << k
                         << " on both sides, got " << rhsK;
  if (getResult().getType().getShape() != ArrayRef<int64_t>{m, n})
    return emitOpError() << "expects a " << m << "x" << n << " result";
  if (!std::isfinite(getScale().convertToDouble()))
    return emitOpError() << "expects a finite scale";
  return success();
}

LogicalResult SubOp::verify() {
  return expectTile(*this, "lhs", getLhs(),
                    {ShapedType::kDynamic, ShapedType::kDynamic}, "[M, N]");
}

/// A rows x cols block at (row, col) lies inside a matrix of `whole` type.
static LogicalResult verifyBlock(Operation *op, RankedTensorType whole,
                                 RankedTensorType block, int64_t row,
                                 int64_t col) {
  if (!whole.hasStaticShape() || !block.hasStaticShape() ||
      whole.getRank() != 2 || block.getRank() != 2)
    return op->emitOpError() << "expects static matrices, got " << whole
                             << " and " << block;
  if (row < 0 || col < 0 || row > whole.getDimSize(0) - block.getDimSize(0) ||
      col > whole.getDimSize(1) - block.getDimSize(1))
    return op->emitOpError()
           << "expects the " << block.getDimSize(0) << "x"
           << block.getDimSize(1) << " block at (" << row << ", " << col
           << ") to lie inside the " << whole.getDimSize(0) << "x"
           << whole.getDimSize(1) << " matrix";
  return success();
}

LogicalResult ExtractBlockOp::verify() {
  return verifyBlock(*this, getInput().getType(), getResult().getType(),
                     getRow(), getCol());
}

LogicalResult InsertBlockOp::verify() {
  return verifyBlock(*this, getDest().getType(), getBlock().getType(),
                     getRow(), getCol());
}

LogicalResult ZeroOp::verify() {
  if (!getResult().getType().hasStaticShape())
    return emitOpError() << "expects a static shape, got "
                         << getResult().getType();
  return success();
}

LogicalResult WYOp::verify() {
  FailureOr<int64_t> c = expectSquare(*this, "M", getM());
  if (failed(c) ||
      failed(expectTile(*this, "k", getK(), {*c, ShapedType::kDynamic},
                        "[C, K]")) ||
      failed(expectTile(*this, "v", getV(), {*c, ShapedType::kDynamic},
                        "[C, V]")) ||
      failed(expectTile(*this, "beta", getBeta(), {*c}, "[C]")))
    return failure();
  return success();
}

LogicalResult ScaleRowsOp::verify() {
  if (failed(expectTile(*this, "the input", getInput(),
                        {ShapedType::kDynamic, ShapedType::kDynamic}, "[C, V]")))
    return failure();
  return expectTile(*this, "row_scale", getRowScale(), {dim(getInput(), 0)},
                    "[C]");
}

LogicalResult StateApplyOp::verify() {
  if (failed(expectTile(*this, "u", getU(),
                        {ShapedType::kDynamic, ShapedType::kDynamic}, "[C, V]")))
    return failure();
  int64_t c = dim(getU(), 0), vDim = dim(getU(), 1);
  if (failed(expectTile(*this, "w", getW(), {c, ShapedType::kDynamic},
                        "[C, K]")))
    return failure();
  return expectTile(*this, "the state", getState(), {dim(getW(), 1), vDim},
                    "[K, V]");
}

LogicalResult OutputOp::verify() {
  if (failed(expectTile(*this, "q", getQ(),
                        {ShapedType::kDynamic, ShapedType::kDynamic}, "[C, K]")))
    return failure();
  int64_t c = dim(getQ(), 0), kDim = dim(getQ(), 1);
  if (failed(expectTile(*this, "the state", getState(),
                        {kDim, ShapedType::kDynamic}, "[K, V]")) ||
      failed(expectTile(*this, "Aqk", getAqk(), {c, c}, "[C, C]")) ||
      failed(expectTile(*this, "the values", getValues(),
                        {c, dim(getState(), 1)}, "[C, V]")))
    return failure();
  ShapeChecker shapes(*this);
  return verifyScale(shapes, getScale().convertToDouble());
}

LogicalResult StateUpdateOp::verify() {
  if (failed(expectTile(*this, "k", getK(),
                        {ShapedType::kDynamic, ShapedType::kDynamic}, "[C, K]")))
    return failure();
  int64_t c = dim(getK(), 0), kDim = dim(getK(), 1);
  if (failed(expectTile(*this, "the state", getState(),
                        {kDim, ShapedType::kDynamic}, "[K, V]")))
    return failure();
  return expectTile(*this, "the values", getValues(), {c, dim(getState(), 1)},
                    "[C, V]");
}
