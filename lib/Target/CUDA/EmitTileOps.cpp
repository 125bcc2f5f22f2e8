//===- EmitTileOps.cpp - kdk ops as device-library calls ------------------===//
//
// Each kdk op becomes one call into runtime/device/kdac/kdac_tile.cuh with
// its static shapes and flags as template arguments and every tile as
// `pointer, ld`. The device functions trust the shapes, which the kdk op
// verifiers checked; what the emitter still checks is the aliasing of the
// tiles as kdk-allocate-shared-memory placed them.
//
//===----------------------------------------------------------------------===//
#include "DeviceCall.h"

#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace kdac::cuda;

static std::string shapeString(const TileRef &tile) {
  return tile.isVector ? std::to_string(tile.rows)
                       : std::to_string(tile.rows) + "x" +
                             std::to_string(tile.cols);
}

/// `out` is written while `input` is read by other threads: they must be
/// disjoint, or (for element-wise ops, `exactAliasOk`) the very same view.
LogicalResult kdac::cuda::checkNoOverlap(Operation *op, StringRef outName,
                                         const TileRef &out,
                                         StringRef inputName,
                                         const TileRef &input,
                                         bool exactAliasOk) {
  if (!out.overlaps(input))
    return success();
  if (exactAliasOk && out.firstByte == input.firstByte && out.ld == input.ld &&
      out.elementType == input.elementType)
    return success();
  return op->emitOpError() << "has " << outName << " overlapping " << inputName
                           << " in shared memory, which the CUDA emitter "
                              "cannot execute in place";
}

/// Gets the tiles of `values`, failing at the first that is not one.
LogicalResult kdac::cuda::getTiles(CudaEmitter &emitter, Operation *op,
                                   ArrayRef<Value> values,
                                   ArrayRef<TileRef *> tiles) {
  for (auto [value, tile] : llvm::zip(values, tiles)) {
    FailureOr<TileRef> ref = emitter.getTile(op, value);
    if (failed(ref))
      return failure();
    *tile = *ref;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Geometry and work decomposition.
//===----------------------------------------------------------------------===//

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::BlockIdOp op) {
  static const char *const kAxes[] = {"x", "y", "z"};
  StringRef name = emitter.bindNewName(op.getResult());
  emitter.ostream() << "const long long " << name << " = (long long)blockIdx."
                    << kAxes[op.getAxis()] << ";\n";
  return success();
}

/// Binds each result to a field of one struct-valued local.
static LogicalResult emitStructCall(CudaEmitter &emitter, Operation *op,
                                    StringRef structType, StringRef function,
                                    ArrayRef<StringRef> fields, Value slot,
                                    Value seqLen, Value cuSeqlens,
                                    int64_t chunkSize) {
  FailureOr<std::string> slotName = emitter.getName(op, slot);
  FailureOr<std::string> lengthName = emitter.getName(op, seqLen);
  if (failed(slotName) || failed(lengthName))
    return failure();
  std::string cu;
  if (cuSeqlens) {
    FailureOr<std::string> name = emitter.getName(op, cuSeqlens);
    if (failed(name))
      return failure();
    cu = *name + ", ";
  }
  std::string local = emitter.bindNewName(op->getResult(0)).str();
  emitter.ostream() << "const kdac::" << structType << " " << local
                    << " = kdac::" << function << "(" << *slotName << ", "
                    << *lengthName << ", " << cu << chunkSize << "ll);\n";
  for (auto [result, field] : llvm::zip(op->getResults(), fields))
    emitter.bindName(result, local + "." + field.str());
  return success();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::LocateChunkOp op) {
  return emitStructCall(emitter, op, "ChunkLocation", "locateChunk",
                        {"valid", "sequence", "batch", "start", "rows"},
                        op.getSlot(), op.getSeqLen(), op.getCuSeqlens(),
                        op.getChunkSize());
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::SequenceRangeOp op) {
  return emitStructCall(
      emitter, op, "SequenceRange", "sequenceRange",
      {"batch", "start", "length", "numChunks", "firstSlot"}, op.getSequence(),
      op.getSeqLen(), op.getCuSeqlens(), op.getChunkSize());
}

//===----------------------------------------------------------------------===//
// Shared memory and data movement.
//===----------------------------------------------------------------------===//

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::AllocTileOp op) {
  FailureOr<TileRef> tile = getTileLayout(op, op.getTile().getType());
  if (failed(tile))
    return failure();
  if (tile->inRegisters)
    return emitFragmentAlloc(emitter, op, *tile);
  FailureOr<StringRef> type = getCppType(op, tile->elementType);
  if (failed(type))
    return failure();
  int64_t offset = emitter.getAllocOffset(op);
  int64_t bytes = tile->rows * tile->cols * getElementBytes(tile->elementType);
  tile->pointer = emitter.bindNewName(op.getTile()).str();
  tile->firstByte = offset;
  tile->endByte = offset + bytes;
  emitter.ostream() << *type << " *const " << tile->pointer
                    << " = reinterpret_cast<" << *type << " *>(kdac_smem + "
                    << offset << "); // " << shapeString(*tile) << " "
                    << tile->elementType << "\n";
  emitter.bindTile(op.getTile(), *tile);
  return success();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         memref::SubViewOp op) {
  FailureOr<TileRef> source = emitter.getTile(op, op.getSource());
  if (failed(source))
    return failure();
  FailureOr<TileRef> view = getTileLayout(op, op.getType());
  if (failed(view))
    return failure();
  // Both types carry their element offset from the start of the alloc.
  auto [sourceStrides, sourceOffset] = op.getSource().getType().getStridesAndOffset();
  auto [viewStrides, viewOffset] = op.getType().getStridesAndOffset();
  (void)sourceStrides;
  (void)viewStrides;
  int64_t elementBytes = getElementBytes(view->elementType);
  int64_t allocStart = source->firstByte - sourceOffset * elementBytes;
  view->firstByte = allocStart + viewOffset * elementBytes;
  view->endByte = view->firstByte +
                  ((view->rows - 1) * view->ld + view->cols) * elementBytes;
  FailureOr<StringRef> type = getCppType(op, view->elementType);
  if (failed(type))
    return failure();
  view->pointer = emitter.bindNewName(op.getResult()).str();
  emitter.ostream() << *type << " *const " << view->pointer << " = "
                    << source->pointer << " + " << (viewOffset - sourceOffset)
                    << "; // " << shapeString(*view) << ", ld " << view->ld
                    << "\n";
  emitter.bindTile(op.getResult(), *view);
  return success();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::GlobalTileOp op) {
  FailureOr<std::string> buffer = emitter.getName(op, op.getBuffer());
  FailureOr<std::string> offset = emitter.getName(op, op.getOffset());
  MemRefType type = op.getTile().getType();
  FailureOr<StringRef> cppType = getCppType(op, type.getElementType());
  if (failed(buffer) || failed(offset) || failed(cppType))
    return failure();
  auto [strides, start] = type.getStridesAndOffset();
  (void)start;
  TileRef tile;
  tile.elementType = type.getElementType();
  tile.rows = type.getDimSize(0);
  tile.cols = type.getDimSize(1);
  tile.ld = strides[0];
  tile.pointer = emitter.bindNewName(op.getTile()).str();
  // const: only readers take it (a writer's `T *` parameter would not
  // compile).
  emitter.ostream() << "const " << *cppType << " *const " << tile.pointer
                    << " = " << *buffer << " + " << *offset << "; // "
                    << tile.rows << "x" << tile.cols << " in global memory, ld "
                    << tile.ld << "\n";
  emitter.bindTile(op.getTile(), tile);
  return success();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::BarrierOp op) {
  (void)op;
  emitter.ostream() << "__syncthreads();\n";
  return success();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::WaitAsyncOp op) {
  (void)op;
  emitter.ostream() << "kdac::cpAsyncWaitAll();\n";
  return success();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::LoadTileOp op) {
  FailureOr<TileRef> dst = emitter.getTileOrFragment(op, op.getDst());
  if (failed(dst))
    return failure();
  if (dst->inRegisters)
    return emitFragmentLoad(emitter, op, *dst);
  return DeviceCall(emitter, op, op.getAsync() ? "tileLoadAsync" : "tileLoad")
      .templateArg(dst->rows)
      .templateArg(dst->cols)
      .templateArg(op.getColStride())
      .value(op.getSrc())
      .value(op.getOffset())
      .value(op.getRows())
      .value(op.getRowStride())
      .tile(*dst)
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::StoreTileOp op) {
  FailureOr<TileRef> src = emitter.getTileOrFragment(op, op.getSrc());
  if (failed(src))
    return failure();
  if (src->inRegisters)
    return emitFragmentStore(emitter, op, *src);
  return DeviceCall(emitter, op, "tileStore")
      .templateArg(src->rows)
      .templateArg(src->cols)
      .templateArg(op.getColStride())
      .tile(*src)
      .value(op.getDst())
      .value(op.getOffset())
      .value(op.getRows())
      .value(op.getRowStride())
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::ConvertOp op) {
  TileRef src, dst;
  if (failed(getTiles(emitter, op, {op.getSrc(), op.getDst()}, {&src, &dst})) ||
      failed(checkNoOverlap(op, "dst", dst, "src", src, true)))
    return failure();
  return DeviceCall(emitter, op, "tileConvert")
      .templateArg(src.rows)
      .templateArg(src.cols)
      .tile(src)
      .tile(dst)
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::FillOp op) {
  FailureOr<TileRef> tile = emitter.getTileOrFragment(op, op.getTile());
  if (failed(tile))
    return failure();
  if (tile->inRegisters)
    return emitFragmentFill(emitter, op, *tile);
  return DeviceCall(emitter, op, "tileFill")
      .templateArg(tile->rows)
      .templateArg(tile->cols)
      .tile(*tile)
      .floatArg(op.getValue().convertToDouble())
      .emit();
}

//===----------------------------------------------------------------------===//
// Prologue math.
//===----------------------------------------------------------------------===//

/// The in-place f32 ops that take only their tile.
static LogicalResult emitInPlace(CudaEmitter &emitter, Operation *op,
                                 Value value, StringRef function) {
  FailureOr<TileRef> tile = emitter.getTile(op, value);
  if (failed(tile))
    return failure();
  return DeviceCall(emitter, op, function)
      .templateArg(tile->rows)
      .templateArg(tile->cols)
      .tile(*tile)
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::L2NormRowsOp op) {
  return emitInPlace(emitter, op, op.getTile(), "l2normRows");
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::SigmoidOp op) {
  FailureOr<TileRef> tile = emitter.getTile(op, op.getTile());
  if (failed(tile))
    return failure();
  return DeviceCall(emitter, op, "sigmoidTile")
      .templateArg(tile->rows)
      .templateArg(tile->cols)
      .tile(*tile)
      .value(op.getRows())
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::CumsumRowsOp op) {
  return emitInPlace(emitter, op, op.getTile(),
                     op.getReverse() ? "reverseCumsumRows" : "cumsumRows");
}

FailureOr<GateActivationArgs>
kdac::cuda::gateActivationArgs(Operation *op, kda::GateActivation activation,
                               std::optional<APFloat> lowerBound) {
  switch (activation) {
  case kda::GateActivation::none:
    return GateActivationArgs{"kdac::GateNone", 0.0};
  case kda::GateActivation::softplus:
    return GateActivationArgs{"kdac::GateSoftplus", 0.0};
  case kda::GateActivation::lowerbound:
    if (!lowerBound)
      return op->emitOpError() << "lowerbound needs a lower_bound";
    return GateActivationArgs{"kdac::GateLowerBound",
                              lowerBound->convertToDouble()};
  }
  return op->emitOpError() << "unknown gate activation";
}

LogicalResult kdac::cuda::appendGateParameters(DeviceCall &call, Operation *op,
                                               Value aLog, Value dtBias) {
  for (auto [what, global] :
       {std::pair<StringRef, Value>{"A_log", aLog}, {"dt_bias", dtBias}}) {
    if (!global) {
      call.arg("(const float *)nullptr");
      continue;
    }
    call.value(global);
  }
  return success();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::GateActivationOp op) {
  FailureOr<TileRef> tile = emitter.getTile(op, op.getTile());
  if (failed(tile))
    return failure();
  FailureOr<GateActivationArgs> activation =
      gateActivationArgs(op, op.getActivation(), op.getLowerBound());
  if (failed(activation))
    return failure();
  DeviceCall call(emitter, op, "gateActivation");
  call.templateArg(tile->rows)
      .templateArg(tile->cols)
      .templateArg(activation->kind)
      .templateFlag(op.getPerHead());
  if (op.getCumulative())
    call.templateFlag(true);
  call.tile(*tile)
      .value(op.getHead())
      .value(op.getRows());
  if (failed(appendGateParameters(call, op, op.getALog(), op.getDtBias())))
    return failure();
  return call.floatArg(activation->lowerBound).emit();
}

//===----------------------------------------------------------------------===//
// Chunk math.
//===----------------------------------------------------------------------===//

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::DecayedGramOp op) {
  TileRef lhs, rhs, gc, out;
  if (failed(getTiles(emitter, op,
                      {op.getLhs(), op.getRhs(), op.getGc(), op.getOut()},
                      {&lhs, &rhs, &gc, &out})))
    return failure();
  const int64_t rows = lhs.rows, depth = lhs.cols;
  FailureOr<std::optional<TileRef>> rowScale =
      emitter.getOptionalTile(op, op.getRowScale());
  if (failed(rowScale) ||
      failed(checkNoOverlap(op, "out", out, "lhs", lhs)) ||
      failed(checkNoOverlap(op, "out", out, "rhs", rhs)) ||
      failed(checkNoOverlap(op, "out", out, "gc", gc)) ||
      (*rowScale &&
       failed(checkNoOverlap(op, "out", out, "row_scale", **rowScale))))
    return failure();
  bool tensorCores = op.getTensorCores();
  int64_t anchor = op.getAnchorBlock();
  // The tensor-core form anchors every 16-row block itself.
  DeviceCall call(emitter, op,
                  tensorCores ? "decayedGramTensorCore" : "decayedGram");
  call.templateArg(rows)
      .templateArg(depth)
      .templateFlag(op.getMask() == kda::CausalMask::inclusive);
  if (!tensorCores)
    call.templateArg(anchor);
  call.tile(lhs)
      .tile(rhs)
      .tile(gc)
      .optionalVector(*rowScale)
      .tile(out)
      .floatArg(op.getScale().convertToDouble());
  if (tensorCores)
    call.arg(llvm::Twine(op.getFirstWarp()));
  return call.emit();
}

/// The square input and out tiles of tri_inverse and add_identity: same
/// size, and out either disjoint from input or the very same view.
static LogicalResult getSquareInputAndOut(CudaEmitter &emitter, Operation *op,
                                          Value inputValue, Value outValue,
                                          TileRef &input, TileRef &out) {
  if (failed(getTiles(emitter, op, {inputValue, outValue}, {&input, &out})))
    return failure();
  return checkNoOverlap(op, "out", out, "input", input, true);
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::TriInverseOp op) {
  TileRef input, out;
  if (failed(getSquareInputAndOut(emitter, op, op.getInput(), op.getOut(),
                                  input, out)))
    return failure();
  return DeviceCall(emitter, op, "triInverse")
      .templateArg(input.rows)
      .tile(input)
      .tile(out)
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::MmaOp op) {
  FailureOr<TileRef> rhsOrFragment =
      emitter.getTileOrFragment(op, op.getRhs());
  FailureOr<TileRef> outOrFragment =
      emitter.getTileOrFragment(op, op.getOut());
  if (failed(rhsOrFragment) || failed(outOrFragment))
    return failure();
  if (rhsOrFragment->inRegisters || outOrFragment->inRegisters) {
    FailureOr<TileRef> lhs = emitter.getTile(op, op.getLhs());
    if (failed(lhs))
      return failure();
    return emitFragmentMma(emitter, op, *lhs, *rhsOrFragment, *outOrFragment);
  }
  TileRef lhs, rhs = *rhsOrFragment, out = *outOrFragment;
  if (failed(getTiles(emitter, op, {op.getLhs()}, {&lhs})) ||
      failed(checkNoOverlap(op, "out", out, "lhs", lhs)) ||
      failed(checkNoOverlap(op, "out", out, "rhs", rhs)))
    return failure();
  // The op verifier has matched op(A) (M x K), op(B) (K x N) and out (M x N);
  // B^T is read by the f32 functions of kdac_grad.cuh.
  // The tf32 function takes B^T as a flag; the f32 ones are two functions.
  const bool transposeB = op.getTransposeRhs(), tf32 = op.getTf32();
  DeviceCall call(emitter, op,
                  tf32         ? "tileMmaTf32"
                  : transposeB ? "tileMmaTransposedB"
                               : "tileMma");
  call.templateArg(out.rows)
      .templateArg(out.cols)
      .templateArg(transposeB ? rhs.cols : rhs.rows)
      .templateFlag(op.getTransposeLhs());
  if (tf32)
    call.templateFlag(transposeB);
  return call.templateFlag(op.getAccumulate())
      .tile(lhs)
      .tile(rhs)
      .tile(out)
      .floatArg(op.getAlpha().convertToDouble())
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::SubOp op) {
  return printElementwise(emitter, op, op.getLhs(), op.getRhs(), op.getOut(),
                          "tileSub", std::nullopt);
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::AddIdentityOp op) {
  TileRef input, out;
  if (failed(getSquareInputAndOut(emitter, op, op.getInput(), op.getOut(),
                                  input, out)))
    return failure();
  return DeviceCall(emitter, op, "addIdentity")
      .templateArg(input.rows)
      .templateFlag(op.getNegate())
      .tile(input)
      .tile(out)
      .emit();
}

/// The arguments decay_rows and store_decayed_rows share: shape, direction,
/// the input and the cumsum.
static DeviceCall decayCall(CudaEmitter &emitter, Operation *op,
                            StringRef function, const TileRef &input,
                            const TileRef &gc, bool toLast) {
  DeviceCall call(emitter, op, function);
  call.templateArg(input.rows)
      .templateArg(input.cols)
      .templateFlag(toLast)
      .tile(input)
      .tile(gc);
  return call;
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::DecayRowsOp op) {
  TileRef input, gc, out;
  if (failed(getTiles(emitter, op, {op.getInput(), op.getGc(), op.getOut()},
                      {&input, &gc, &out})))
    return failure();
  FailureOr<std::optional<TileRef>> rowScale =
      emitter.getOptionalTile(op, op.getRowScale());
  if (failed(rowScale) ||
      failed(checkNoOverlap(op, "out", out, "input", input, true)) ||
      failed(checkNoOverlap(op, "out", out, "gc", gc)) ||
      (*rowScale &&
       failed(checkNoOverlap(op, "out", out, "row_scale", **rowScale))))
    return failure();
  return decayCall(emitter, op, "decayRows", input, gc, op.getToLast())
      .optionalVector(*rowScale)
      .tile(out)
      .floatArg(op.getScale().convertToDouble())
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::StoreDecayedRowsOp op) {
  TileRef input, gc;
  if (failed(getTiles(emitter, op, {op.getInput(), op.getGc()},
                      {&input, &gc})))
    return failure();
  return decayCall(emitter, op, "storeDecayedRows", input, gc, op.getToLast())
      .value(op.getDst())
      .value(op.getOffset())
      .value(op.getRows())
      .value(op.getRowStride())
      .floatArg(op.getScale().convertToDouble())
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::LastRowExpOp op) {
  return printMatrixToVector(emitter, op, "gc", op.getGc(), op.getOut(),
                             /*perRow=*/false, "lastRowExp");
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter, kdk::ExpOp op) {
  TileRef input, out;
  if (failed(getTiles(emitter, op, {op.getInput(), op.getOut()},
                      {&input, &out})) ||
      failed(checkNoOverlap(op, "out", out, "input", input, true)))
    return failure();
  return DeviceCall(emitter, op, "tileExp")
      .templateArg(input.rows)
      .templateArg(input.cols)
      .tile(input)
      .tile(out)
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::ScaleRowsOp op) {
  FailureOr<TileRef> tileOrFragment =
      emitter.getTileOrFragment(op, op.getTile());
  TileRef rowScale;
  if (failed(tileOrFragment) ||
      failed(getTiles(emitter, op, {op.getRowScale()}, {&rowScale})))
    return failure();
  const TileRef &tile = *tileOrFragment;
  // (The verifier keeps `into` off register fragments.)
  if (tile.inRegisters)
    return emitFragmentScaleRows(emitter, op, tile, rowScale);
  if (failed(checkNoOverlap(op, "tile", tile, "row_scale", rowScale)))
    return failure();
  // In place unless `into` names another tile.
  TileRef out = tile;
  if (op.getOut() &&
      (failed(getTiles(emitter, op, {op.getOut()}, {&out})) ||
       failed(checkNoOverlap(op, "out", out, "tile", tile, true)) ||
       failed(checkNoOverlap(op, "out", out, "row_scale", rowScale))))
    return failure();
  return DeviceCall(emitter, op, "scaleRows")
      .templateArg(tile.rows)
      .templateArg(tile.cols)
      .tile(tile)
      .tile(rowScale)
      .tile(out)
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::LoadIndexOp op) {
  FailureOr<std::string> src = emitter.getName(op, op.getSrc());
  FailureOr<std::string> offset = emitter.getName(op, op.getOffset());
  if (failed(src) || failed(offset))
    return failure();
  emitter.ostream() << "const long long " << emitter.bindNewName(op.getResult())
                    << " = (long long)" << *src << "[" << *offset << "];\n";
  return success();
}
