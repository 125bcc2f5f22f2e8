//===- EmitFragmentOps.cpp - kdk ops on register fragments ----------------===//
//
// A tile in memory space 5 lives in registers, spread over the block as
// runtime/device/kdac/kdac_fragment.cuh describes. Only the ops a
// register-resident state needs have a fragment form: load, store, fill,
// row scaling, and mma with the fragment as B (a vector times the state) or
// as an accumulated rank-one product (the state update). Anything else on a
// fragment is an error at the op, never a silent shared-memory access.
//
//===----------------------------------------------------------------------===//
#include "DeviceCall.h"

#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace kdac::cuda;

LogicalResult kdac::cuda::emitFragmentAlloc(CudaEmitter &emitter,
                                            kdk::AllocTileOp op,
                                            TileRef fragment) {
  int64_t threads = emitter.getBlockThreads();
  int64_t group = fragment.cols > 0 ? threads / fragment.cols : 0;
  if (threads % fragment.cols != 0 || group < 1 || group > 32 ||
      (group & (group - 1)) != 0 || fragment.rows % group != 0)
    return op.emitOpError()
           << "cannot spread a " << fragment.rows << "x" << fragment.cols
           << " register fragment over " << threads
           << " threads: block threads / columns must be a power of two "
              "<= 32 that divides the rows";
  fragment.pointer = emitter.bindNewName(op.getTile()).str();
  emitter.ostream() << "float " << fragment.pointer << "["
                    << fragment.rows / group << "]; // " << fragment.rows
                    << "x" << fragment.cols << " f32 fragment, "
                    << group << " threads per column\n";
  emitter.bindTile(op.getTile(), fragment);
  return success();
}

/// A fragment moves whole: its transfer must cover every row.
static LogicalResult expectAllRows(Operation *op, Value rows,
                                   const TileRef &fragment) {
  APInt value;
  if (matchPattern(rows, m_ConstantInt(&value)) &&
      value.getSExtValue() == fragment.rows)
    return success();
  return op->emitOpError() << "moves a register fragment, which needs rows = "
                           << fragment.rows << " as a constant";
}

LogicalResult kdac::cuda::emitFragmentLoad(CudaEmitter &emitter,
                                           kdk::LoadTileOp op,
                                           const TileRef &fragment) {
  if (failed(expectAllRows(op, op.getRows(), fragment)))
    return failure();
  return DeviceCall(emitter, op, "fragmentLoad")
      .templateArg(fragment.rows)
      .templateArg(fragment.cols)
      .templateArg(op.getColStride())
      .value(op.getSrc())
      .value(op.getOffset())
      .value(op.getRowStride())
      .arg(fragment.pointer)
      .emit();
}

LogicalResult kdac::cuda::emitFragmentStore(CudaEmitter &emitter,
                                            kdk::StoreTileOp op,
                                            const TileRef &fragment) {
  if (failed(expectAllRows(op, op.getRows(), fragment)))
    return failure();
  return DeviceCall(emitter, op, "fragmentStore")
      .templateArg(fragment.rows)
      .templateArg(fragment.cols)
      .templateArg(op.getColStride())
      .arg(fragment.pointer)
      .value(op.getDst())
      .value(op.getOffset())
      .value(op.getRowStride())
      .emit();
}

LogicalResult kdac::cuda::emitFragmentFill(CudaEmitter &emitter,
                                           kdk::FillOp op,
                                           const TileRef &fragment) {
  return DeviceCall(emitter, op, "fragmentFill")
      .templateArg(fragment.rows)
      .templateArg(fragment.cols)
      .arg(fragment.pointer)
      .floatArg(op.getValue().convertToDouble())
      .emit();
}

LogicalResult kdac::cuda::emitFragmentScaleRows(CudaEmitter &emitter,
                                                kdk::ScaleRowsOp op,
                                                const TileRef &fragment,
                                                const TileRef &rowScale) {
  return DeviceCall(emitter, op, "fragmentScaleRows")
      .templateArg(fragment.rows)
      .templateArg(fragment.cols)
      .arg(fragment.pointer)
      .tile(rowScale)
      .emit();
}

/// The element stride of a shared operand seen as a vector: a 1 x n tile
/// walks its row, an n x 1 tile its column.
static FailureOr<int64_t> vectorStride(Operation *op, StringRef what,
                                       const TileRef &tile, int64_t length) {
  if (tile.rows == 1 && tile.cols == length)
    return int64_t(1);
  if (tile.cols == 1 && tile.rows == length)
    return tile.ld;
  return op->emitOpError() << "expects " << what << " to be a vector of "
                           << length << " elements next to a register "
                           << "fragment";
}

LogicalResult kdac::cuda::emitFragmentMma(CudaEmitter &emitter,
                                          kdk::MmaOp op, const TileRef &lhs,
                                          const TileRef &rhs,
                                          const TileRef &out) {
  double alpha = op.getAlpha().convertToDouble();
  // out(0, :) (+)= alpha * a^T B with B the fragment.
  if (rhs.inRegisters && !out.inRegisters) {
    FailureOr<int64_t> aStride = vectorStride(op, "A", lhs, rhs.rows);
    if (failed(aStride))
      return failure();
    FailureOr<int64_t> outStride = vectorStride(op, "out", out, rhs.cols);
    if (failed(outStride))
      return failure();
    return DeviceCall(emitter, op, "fragmentVectorTimes")
        .templateArg(rhs.rows)
        .templateArg(rhs.cols)
        .templateFlag(op.getAccumulate())
        .arg(lhs.pointer)
        .arg(Twine(*aStride))
        .arg(rhs.pointer)
        .arg(out.pointer)
        .arg(Twine(*outStride))
        .floatArg(alpha)
        .emit();
  }
  // out += alpha * a b^T with out the fragment and a depth of one.
  if (out.inRegisters && !rhs.inRegisters && op.getAccumulate() &&
      rhs.rows == 1) {
    FailureOr<int64_t> aStride = vectorStride(op, "A", lhs, out.rows);
    if (failed(aStride))
      return failure();
    FailureOr<int64_t> bStride = vectorStride(op, "B", rhs, out.cols);
    if (failed(bStride))
      return failure();
    return DeviceCall(emitter, op, "fragmentRankOneUpdate")
        .templateArg(out.rows)
        .templateArg(out.cols)
        .arg(lhs.pointer)
        .arg(Twine(*aStride))
        .arg(rhs.pointer)
        .arg(Twine(*bStride))
        .arg(out.pointer)
        .floatArg(alpha)
        .emit();
  }
  return op.emitOpError()
         << "with a register fragment supports only a vector times the "
            "fragment, or an accumulated rank-one product into it";
}
