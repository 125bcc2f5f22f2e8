//===- EmitGradOps.cpp - The backward's kdk tile ops as device calls ------===//
//
// Each of the tile primitives kda-grad-decompose's ops lower to becomes one
// call into runtime/device/kdac/kdac_grad.cuh. As in EmitTileOps.cpp, the
// op verifiers checked the shapes; the aliasing of the placed tiles is
// checked here.
//
//===----------------------------------------------------------------------===//
#include "DeviceCall.h"

using namespace mlir;
using namespace kdac::cuda;

LogicalResult kdac::cuda::printElementwise(CudaEmitter &emitter, Operation *op,
                                          Value lhsValue, Value rhsValue,
                                          Value outValue, StringRef function,
                                          std::optional<double> scale) {
  TileRef lhs, rhs, out;
  if (failed(getTiles(emitter, op, {lhsValue, rhsValue, outValue},
                      {&lhs, &rhs, &out})))
    return failure();
  if (failed(checkNoOverlap(op, "out", out, "lhs", lhs, true)) ||
      failed(checkNoOverlap(op, "out", out, "rhs", rhs, true)))
    return failure();
  DeviceCall call(emitter, op, function);
  call.templateArg(lhs.rows).templateArg(lhs.cols).tile(lhs).tile(rhs).tile(out);
  if (scale)
    call.floatArg(*scale);
  return call.emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter, kdk::AddOp op) {
  return printElementwise(emitter, op, op.getLhs(), op.getRhs(), op.getOut(),
                          "tileAdd", std::nullopt);
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter, kdk::MulOp op) {
  return printElementwise(emitter, op, op.getLhs(), op.getRhs(), op.getOut(),
                          "tileMul", op.getScale().convertToDouble());
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::RowDotOp op) {
  TileRef lhs, rhs, out;
  if (failed(getTiles(emitter, op, {op.getLhs(), op.getRhs(), op.getOut()},
                      {&lhs, &rhs, &out})) ||
      failed(checkNoOverlap(op, "out", out, "lhs", lhs)) ||
      failed(checkNoOverlap(op, "out", out, "rhs", rhs)))
    return failure();
  return DeviceCall(emitter, op, "rowDot")
      .templateArg(lhs.rows)
      .templateArg(lhs.cols)
      .tile(lhs)
      .tile(rhs)
      .tile(out)
      .emit();
}

LogicalResult kdac::cuda::printMatrixToVector(CudaEmitter &emitter,
                                              Operation *op, StringRef inputName,
                                              Value inputValue, Value outValue,
                                              bool perRow, StringRef function) {
  TileRef input, out;
  if (failed(getTiles(emitter, op, {inputValue, outValue}, {&input, &out})) ||
      failed(checkNoOverlap(op, "out", out, inputName, input)))
    return failure();
  return DeviceCall(emitter, op, function)
      .templateArg(input.rows)
      .templateArg(input.cols)
      .tile(input)
      .tile(out)
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::ColumnSumOp op) {
  return printMatrixToVector(emitter, op, "input", op.getInput(), op.getOut(),
                             /*perRow=*/false, "columnSum");
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::AddToLastRowOp op) {
  TileRef tile, row;
  if (failed(getTiles(emitter, op, {op.getTile(), op.getRow()},
                      {&tile, &row})) ||
      failed(checkNoOverlap(op, "tile", tile, "row", row)))
    return failure();
  return DeviceCall(emitter, op, "addToLastRow")
      .templateArg(tile.rows)
      .templateArg(tile.cols)
      .tile(tile)
      .tile(row)
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::TrilOp op) {
  FailureOr<TileRef> tile = emitter.getTile(op, op.getTile());
  if (failed(tile))
    return failure();
  return DeviceCall(emitter, op, "tril")
      .templateArg(tile->rows)
      .templateFlag(op.getMask() == kda::CausalMask::inclusive)
      .tile(*tile)
      .floatArg(op.getScale().convertToDouble())
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::DecayedGramGradOp op) {
  TileRef dA, lhs, rhs, gc, dlhs, drhs, dgc;
  if (failed(getTiles(emitter, op,
                      {op.getDA(), op.getLhs(), op.getRhs(), op.getGc(),
                       op.getDlhs(), op.getDrhs(), op.getDgc()},
                      {&dA, &lhs, &rhs, &gc, &dlhs, &drhs, &dgc})))
    return failure();
  const int64_t c = lhs.rows, d = lhs.cols;
  FailureOr<std::optional<TileRef>> rowScale =
      emitter.getOptionalTile(op, op.getRowScale());
  FailureOr<std::optional<TileRef>> drowScale =
      emitter.getOptionalTile(op, op.getDrowScale());
  if (failed(rowScale) || failed(drowScale))
    return failure();
  // Every output is written while the other warps still read every input.
  SmallVector<std::pair<StringRef, TileRef>> inputs = {
      {"dA", dA}, {"lhs", lhs}, {"rhs", rhs}, {"gc", gc}};
  if (*rowScale)
    inputs.push_back({"row_scale", **rowScale});
  SmallVector<std::pair<StringRef, TileRef>> outputs = {
      {"dlhs", dlhs}, {"drhs", drhs}, {"dgc", dgc}};
  if (*drowScale)
    outputs.push_back({"drow_scale", **drowScale});
  for (auto &[outName, out] : outputs) {
    for (auto &[inName, in] : inputs)
      if (failed(checkNoOverlap(op, outName, out, inName, in)))
        return failure();
  }
  DeviceCall call(emitter, op,
                  op.getTensorCores() ? "decayedGramGradTensorCore"
                                      : "decayedGramGrad");
  call.templateArg(c)
      .templateArg(d)
      .templateFlag(op.getMask() == kda::CausalMask::inclusive)
      .tile(dA)
      .tile(lhs)
      .tile(rhs)
      .tile(gc)
      .optionalVector(*rowScale)
      .tile(dlhs)
      .tile(drhs)
      .tile(dgc);
  // drow_scale is written: a null one is typed for writing.
  if (*drowScale)
    call.tile(**drowScale);
  else
    call.arg("(float *)nullptr").arg("0");
  return call.floatArg(op.getScale().convertToDouble())
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::RowSumOp op) {
  return printMatrixToVector(emitter, op, "input", op.getInput(), op.getOut(),
                             /*perRow=*/true, "rowSum");
}

//===----------------------------------------------------------------------===//
// The prologue's adjoints.
//===----------------------------------------------------------------------===//

/// The raw input and the cotangent it updates in place: one shape, f32,
/// disjoint.
static LogicalResult getInputAndGrad(CudaEmitter &emitter, Operation *op,
                                     Value inputValue, Value gradValue,
                                     TileRef &input, TileRef &grad) {
  if (failed(getTiles(emitter, op, {inputValue, gradValue}, {&input, &grad})))
    return failure();
  return checkNoOverlap(op, "grad", grad, "input", input);
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::L2NormRowsGradOp op) {
  TileRef input, grad;
  if (failed(getInputAndGrad(emitter, op, op.getInput(), op.getGrad(), input,
                             grad)))
    return failure();
  return DeviceCall(emitter, op, "l2normRowsGrad")
      .templateArg(input.rows)
      .templateArg(input.cols)
      .tile(input)
      .tile(grad)
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::SigmoidGradOp op) {
  TileRef input, grad;
  if (failed(getInputAndGrad(emitter, op, op.getInput(), op.getGrad(), input,
                             grad)))
    return failure();
  return DeviceCall(emitter, op, "sigmoidGrad")
      .templateArg(input.rows)
      .templateArg(input.cols)
      .tile(input)
      .tile(grad)
      .value(op.getRows())
      .emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::GateActivationGradOp op) {
  TileRef input, grad;
  if (failed(getInputAndGrad(emitter, op, op.getInput(), op.getGrad(), input,
                             grad)))
    return failure();
  FailureOr<GateActivationArgs> activation =
      gateActivationArgs(op, op.getActivation(), op.getLowerBound());
  if (failed(activation))
    return failure();
  DeviceCall call(emitter, op, "gateActivationGrad");
  call.templateArg(input.rows)
      .templateArg(input.cols)
      .templateArg(activation->kind)
      .templateFlag(input.isVector)
      .tile(input)
      .tile(grad)
      .value(op.getHead())
      .value(op.getRows());
  if (failed(appendGateParameters(call, op, op.getALog(), op.getDtBias())))
    return failure();
  for (Value partial : {op.getDtBiasGrad(), op.getALogGrad()}) {
    if (!partial) {
      call.arg("(float *)nullptr").arg("0");
      continue;
    }
    TileRef out;
    if (failed(getTiles(emitter, op, {partial}, {&out})) ||
        failed(checkNoOverlap(op, "a partial", out, "grad", grad)))
      return failure();
    call.tile(out);
  }
  return call.floatArg(activation->lowerBound).emit();
}
