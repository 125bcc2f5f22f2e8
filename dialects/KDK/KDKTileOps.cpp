//===- KDKTileOps.cpp - Verifiers of the forward's kdk tile ops -----------===//
//
// Shapes, element types and operands of the tile ops the forward and decode
// lowerings build (chunk geometry, transfers, prologue and chunk math): the
// device functions trust them, so every mismatch is an error at the op, and
// the CUDA emitter only prints.
//
//===----------------------------------------------------------------------===//
#include "KDK/KDKVerifyUtils.h"

#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::kdk;
using namespace mlir::kdk::verify;

/// A register fragment moves whole: its load or store covers every row,
/// except that a chunk's output (an mma_fragment, with `partialMmaRows`)
/// stores only its first `rows`.
static LogicalResult verifyFragmentRows(Operation *op, Value tile, Value rows,
                                        bool partialMmaRows) {
  auto type = cast<MemRefType>(tile.getType());
  if (!isRegisterFragment(type) || (partialMmaRows && isMmaFragment(type)))
    return success();
  APInt value;
  if (matchPattern(rows, m_ConstantInt(&value)) &&
      value.getSExtValue() == type.getDimSize(0))
    return success();
  return op->emitOpError() << "moves a register fragment, which needs rows = "
                           << type.getDimSize(0) << " as a constant";
}

/// The chunk geometry ops: a positive chunk size, integer cu_seqlens.
static LogicalResult verifyChunkGeometry(Operation *op, int64_t chunkSize,
                                         Value cuSeqlens) {
  if (chunkSize <= 0)
    return op->emitOpError() << "expects a positive chunk_size";
  if (!cuSeqlens)
    return success();
  if (failed(expectKernelBuffer(op, "cu_seqlens", cuSeqlens, true)))
    return failure();
  Type element = cast<MemRefType>(cuSeqlens.getType()).getElementType();
  if (!element.isInteger(64) && !element.isInteger(32))
    return op->emitOpError() << "expects i64 or i32 cu_seqlens";
  return success();
}

LogicalResult LocateChunkOp::verify() {
  return verifyChunkGeometry(*this, getChunkSize(), getCuSeqlens());
}

LogicalResult SequenceRangeOp::verify() {
  return verifyChunkGeometry(*this, getChunkSize(), getCuSeqlens());
}

LogicalResult LoadIndexOp::verify() {
  return expectKernelBuffer(*this, "the index buffer", getSrc(), true);
}

/// The global side of a transfer: a float kernel buffer, and a column
/// stride the device function's 32-bit index arithmetic can take.
static LogicalResult verifyTransfer(Operation *op, Value global,
                                    int64_t colStride) {
  if (failed(expectKernelBuffer(op, "the global buffer", global, false)))
    return failure();
  if (colStride < 0 || colStride > INT32_MAX)
    return op->emitOpError() << "expects col_stride in [0, 2^31), got "
                             << colStride;
  return success();
}

LogicalResult LoadTileOp::verify() {
  if (failed(verifyTransfer(*this, getSrc(), getColStride())))
    return failure();
  if (failed(verifyFragmentRows(*this, getDst(), getRows(),
                                /*partialMmaRows=*/false)))
    return failure();
  if (!getAsync())
    return success();
  MemRefType dst = getDst().getType();
  if (isRegisterFragment(dst) ||
      dst.getElementType() != getSrc().getType().getElementType())
    return emitOpError() << "async expects a shared tile of the buffer's "
                            "element type (cp.async does not convert)";
  return success();
}

LogicalResult StoreTileOp::verify() {
  if (failed(verifyTransfer(*this, getDst(), getColStride())))
    return failure();
  return verifyFragmentRows(*this, getSrc(), getRows(),
                            /*partialMmaRows=*/true);
}

LogicalResult ConvertOp::verify() {
  return expectShape(*this, "dst", getDst(), shapeOf(getSrc()));
}

LogicalResult GateActivationOp::verify() {
  if (getActivation() == kda::GateActivation::lowerbound && !getLowerBound())
    return emitOpError() << "lowerbound needs a lower_bound";
  return verifyGateParameters(*this, getALog(), getDtBias());
}

LogicalResult DecayedGramOp::verify() {
  ArrayRef<int64_t> lhs = shapeOf(getLhs());
  const int64_t rows = lhs[0], depth = lhs[1];
  if (failed(expectShape(*this, "rhs", getRhs(), lhs)) ||
      failed(expectShape(*this, "gc", getGc(), lhs)) ||
      failed(expectShape(*this, "out", getOut(), {rows, rows})) ||
      failed(expectOptionalVector(*this, "row_scale", getRowScale(), rows)))
    return failure();
  if (getTensorCores() && !fitsTensorCoreGram(rows, depth))
    return emitOpError() << "with tensor_cores needs rows a multiple of 16 "
                            "and depth a multiple of 8, got "
                         << rows << "x" << depth;
  int64_t anchor = getAnchorBlock();
  if (anchor < 0 || (anchor > 0 && rows % anchor != 0))
    return emitOpError() << "anchor_block " << anchor
                         << " does not divide the " << rows << " rows";
  int64_t firstWarp = static_cast<int64_t>(getFirstWarp());
  if (firstWarp < 0)
    return emitOpError() << "first_warp must be >= 0, got " << firstWarp;
  if (firstWarp > 0 && !getTensorCores())
    return emitOpError() << "first_warp places tensor-core blocks; it needs "
                            "tensor_cores";
  return success();
}

/// tri_inverse and add_identity: a square input and an out of its size.
static LogicalResult verifySquare(Operation *op, Value input, Value out) {
  ArrayRef<int64_t> x = shapeOf(input);
  if (x[0] != x[1])
    return op->emitOpError() << "expects a square input, got "
                             << shapeOf(cast<MemRefType>(input.getType()));
  return expectShape(op, "out", out, x);
}

LogicalResult TriInverseOp::verify() {
  return verifySquare(*this, getInput(), getOut());
}

LogicalResult AddIdentityOp::verify() {
  return verifySquare(*this, getInput(), getOut());
}

LogicalResult SubOp::verify() {
  return verifyElementwise(*this, getLhs(), getRhs(), getOut());
}

LogicalResult DecayRowsOp::verify() {
  ArrayRef<int64_t> x = shapeOf(getInput());
  if (failed(expectShape(*this, "gc", getGc(), x)) ||
      failed(expectShape(*this, "out", getOut(), x)) ||
      failed(expectOptionalVector(*this, "row_scale", getRowScale(), x[0])))
    return failure();
  return expectFinite(*this, getScale());
}

LogicalResult StoreDecayedRowsOp::verify() {
  if (failed(expectShape(*this, "gc", getGc(), shapeOf(getInput()))) ||
      failed(verifyTransfer(*this, getDst(), 1)))
    return failure();
  return expectFinite(*this, getScale());
}

LogicalResult LastRowExpOp::verify() {
  return expectShape(*this, "out", getOut(), {shapeOf(getGc())[1]});
}

LogicalResult ExpOp::verify() {
  if (getInput().getType().getShape() != getOut().getType().getShape())
    return emitOpError() << "needs `into` of the input's shape";
  return success();
}

LogicalResult ScaleRowsOp::verify() {
  if (failed(expectShape(*this, "row_scale", getRowScale(),
                         {shapeOf(getTile())[0]})))
    return failure();
  if (!getOut()) {
    if (!getTile().getType().getElementType().isF32())
      return emitOpError() << "scales in place only an f32 tile";
    return success();
  }
  auto out = cast<MemRefType>(getOut().getType());
  if (isRegisterFragment(getTile().getType()) || isRegisterFragment(out))
    return emitOpError() << "scales a register fragment only in place";
  if (getTile().getType().getShape() != out.getShape())
    return emitOpError() << "needs `into` of the tile's shape";
  return success();
}

LogicalResult mlir::kdk::verifyTileOperands(Operation *op) {
  bool fragments = op->hasTrait<FragmentOperands>();
  for (auto [index, operand] : llvm::enumerate(op->getOperands())) {
    auto type = dyn_cast<MemRefType>(operand.getType());
    if (!type || isGlobalBuffer(type) || operand.getDefiningOp<GlobalTileOp>())
      continue;
    auto fail = [&]() {
      return op->emitOpError() << "operand #" << index << " (" << type
                               << ") ";
    };
    if (isRegisterFragment(type)) {
      if (!fragments)
        return fail() << "is a register fragment, which this op has no "
                         "form for";
      continue; // kdk.alloc_tile made it whole and contiguous
    }
    if (!isSharedTile(type))
      return fail() << "is not a tile: tiles live in shared memory (memory "
                       "space "
                    << kSharedMemorySpace
                    << ") or registers (a #kdk.fragment or #kdk.mma_fragment "
                       "memory space), views of global memory come from "
                       "kdk.global_tile";
    SmallVector<int64_t> strides;
    int64_t offset = 0;
    if (!type.hasStaticShape() ||
        failed(type.getStridesAndOffset(strides, offset)) ||
        ShapedType::isDynamic(offset) ||
        llvm::any_of(strides, ShapedType::isDynamic))
      return fail() << "needs a static shape and static strides";
    if (type.getRank() == 2 && strides[1] != 1)
      return fail() << "needs contiguous rows (inner stride 1)";
  }
  return success();
}
