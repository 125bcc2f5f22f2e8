//===- KDAChunkOps.cpp - Verifiers of the chunkwise kda ops ---------------===//
//
// Shape rules of the chunk loop's body and of the small matrix ops, so a
// malformed hand-written or mis-rewritten body fails at the op, not in the
// interpreter or the code generator.
//
//===----------------------------------------------------------------------===//
#include "KDA/KDAOps.h"

using namespace mlir;
using namespace mlir::kda;

static int64_t dim(Value value, unsigned i) {
  return cast<RankedTensorType>(value.getType()).getDimSize(i);
}

int64_t ChunkLoopOp::getKeyDim() { return dim(getQ(), 3); }
int64_t ChunkLoopOp::getValueDim() { return dim(getV(), 3); }

LogicalResult ChunkLoopOp::verify() {
  int64_t c = getChunkSize();
  if (c <= 0)
    return emitOpError() << "expects a positive chunk_size, got " << c;
  int64_t kDim = getKeyDim(), vDim = getValueDim();
  Block &body = getBody().front();
  Type f32 = Float32Type::get(getContext());
  SmallVector<Type> expected = {
      RankedTensorType::get({c, kDim}, f32), RankedTensorType::get({c, kDim}, f32),
      RankedTensorType::get({c, vDim}, f32), RankedTensorType::get({c, kDim}, f32),
      RankedTensorType::get({c}, f32),       RankedTensorType::get({kDim, vDim}, f32)};
  if (body.getNumArguments() != expected.size())
    return emitOpError() << "expects a body with " << expected.size()
                         << " arguments (q, k, v, g, beta, state), got "
                         << body.getNumArguments();
  for (auto [i, type] : llvm::enumerate(expected))
    if (body.getArgument(i).getType() != type)
      return emitOpError() << "expects body argument #" << i << " of type "
                           << type << ", got " << body.getArgument(i).getType();
  auto yield = dyn_cast<YieldOp>(body.getTerminator());
  if (!yield)
    return emitOpError() << "expects the body to end in kda.yield";
  if (yield.getO().getType() != RankedTensorType::get({c, vDim}, f32) ||
      yield.getState().getType() != expected[kState])
    return yield.emitOpError() << "expects to yield the chunk output (" << c
                               << "x" << vDim << ") and the state (" << kDim
                               << "x" << vDim << ")";
  return success();
}

LogicalResult DecayedGramOp::verify() {
  auto lhs = getLhs().getType(), rhs = getRhs().getType();
  if (lhs.getRank() != 2 || lhs != rhs || getGc().getType() != lhs)
    return emitOpError() << "expects lhs, rhs and gc of one [C, K] type";
  int64_t c = lhs.getDimSize(0);
  if (getResult().getType().getShape() != ArrayRef<int64_t>{c, c})
    return emitOpError() << "expects a " << c << "x" << c << " result";
  if (getRowScale() && getRowScale().getType().getShape() != ArrayRef<int64_t>{c})
    return emitOpError() << "expects row_scale of shape [" << c << "]";
  int64_t block = getAnchorBlock();
  if (block < 0 || (block > 0 && c % block != 0))
    return emitOpError() << "expects anchor_block to divide the chunk size "
                         << c << ", got " << block;
  return success();
}

LogicalResult MatmulOp::verify() {
  auto lhs = getLhs().getType(), rhs = getRhs().getType();
  if (lhs.getRank() != 2 || rhs.getRank() != 2)
    return emitOpError() << "expects matrices";
  int64_t m = getTransposeLhs() ? lhs.getDimSize(1) : lhs.getDimSize(0);
  int64_t k = getTransposeLhs() ? lhs.getDimSize(0) : lhs.getDimSize(1);
  if (k != rhs.getDimSize(0))
    return emitOpError() << "expects a contraction dim of " << k
                         << " on both sides, got " << rhs.getDimSize(0);
  if (getResult().getType().getShape() !=
      ArrayRef<int64_t>{m, rhs.getDimSize(1)})
    return emitOpError() << "expects a " << m << "x" << rhs.getDimSize(1)
                         << " result";
  return success();
}
