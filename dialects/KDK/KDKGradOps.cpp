//===- KDKGradOps.cpp - Verifiers of the backward's kdk tile ops ----------===//
//
// Shapes of the tile primitives kda-grad-decompose's ops lower to: the
// device functions trust them, so every mismatch is an error at the op.
//
//===----------------------------------------------------------------------===//
#include "KDK/KDKVerifyUtils.h"

using namespace mlir;
using namespace mlir::kdk;
using namespace mlir::kdk::verify;

LogicalResult AddOp::verify() {
  return verifyElementwise(*this, getLhs(), getRhs(), getOut());
}

LogicalResult MulOp::verify() {
  if (failed(verifyElementwise(*this, getLhs(), getRhs(), getOut())))
    return failure();
  return expectFinite(*this, getScale());
}

LogicalResult RowDotOp::verify() {
  ArrayRef<int64_t> a = shapeOf(getLhs());
  if (failed(expectReadable(*this, {getLhs(), getRhs()})) ||
      failed(expectShared(*this, getOut())) ||
      failed(expectShape(*this, "rhs", getRhs(), a)) ||
      failed(expectShape(*this, "out", getOut(), {a[0]})))
    return failure();
  return success();
}

LogicalResult ColumnSumOp::verify() {
  if (failed(expectShared(*this)) ||
      failed(expectShape(*this, "out", getOut(), {shapeOf(getInput())[1]})))
    return failure();
  return success();
}

LogicalResult AddToLastRowOp::verify() {
  if (failed(expectShared(*this)) ||
      failed(expectShape(*this, "row", getRow(), {shapeOf(getTile())[1]})))
    return failure();
  return success();
}

LogicalResult TrilOp::verify() {
  ArrayRef<int64_t> x = shapeOf(getTile());
  if (failed(expectShared(*this)))
    return failure();
  if (x[0] != x[1])
    return emitOpError() << "expects a square tile, got "
                         << shapeOf(cast<MemRefType>(getTile().getType()));
  return expectFinite(*this, getScale());
}

LogicalResult DecayedGramGradOp::verify() {
  ArrayRef<int64_t> a = shapeOf(getLhs());
  const int64_t c = a[0];
  if (failed(expectShared(*this)) ||
      failed(expectShape(*this, "dA", getDA(), {c, c})) ||
      failed(expectShape(*this, "rhs", getRhs(), a)) ||
      failed(expectShape(*this, "gc", getGc(), a)) ||
      failed(expectShape(*this, "dlhs", getDlhs(), a)) ||
      failed(expectShape(*this, "drhs", getDrhs(), a)) ||
      failed(expectShape(*this, "dgc", getDgc(), a)))
    return failure();
  if (bool(getRowScale()) != bool(getDrowScale()))
    return emitOpError() << "expects drow_scale exactly when row_scale is "
                            "given";
  if (getRowScale() &&
      (failed(expectShape(*this, "row_scale", getRowScale(), {c})) ||
       failed(expectShape(*this, "drow_scale", getDrowScale(), {c}))))
    return failure();
  if (getTensorCores() && !fitsTensorCoreGramGrad(c, a[1]))
    return emitOpError() << "with tensor_cores needs 16 rows and a depth "
                            "that is a multiple of 8, got "
                         << c << "x" << a[1];
  return expectFinite(*this, getScale());
}

LogicalResult RowSumOp::verify() {
  if (failed(expectShared(*this)) ||
      failed(expectShape(*this, "out", getOut(), {shapeOf(getInput())[0]})))
    return failure();
  return success();
}

LogicalResult L2NormRowsGradOp::verify() {
  if (failed(expectShared(*this)) ||
      failed(expectShape(*this, "grad", getGrad(), shapeOf(getInput()))))
    return failure();
  return success();
}

LogicalResult SigmoidGradOp::verify() {
  if (failed(expectShared(*this)) ||
      failed(expectShape(*this, "grad", getGrad(), shapeOf(getInput()))))
    return failure();
  return success();
}

LogicalResult GateActivationGradOp::verify() {
  ArrayRef<int64_t> x = shapeOf(getInput());
  // A per-head gate's vector counts as one column.
  const int64_t columns = x.size() == 2 ? x[1] : 1;
  SmallVector<Value> tiles = {getInput(), getGrad()};
  for (Value partial : {getDtBiasGrad(), getALogGrad()})
    if (partial)
      tiles.push_back(partial);
  if (failed(expectShared(*this, tiles)) ||
      failed(expectShape(*this, "grad", getGrad(), x)))
    return failure();
  if (getActivation() == kda::GateActivation::none)
    return emitOpError() << "expects softplus or lowerbound (no activation "
                            "has no adjoint to apply)";
  if (getActivation() == kda::GateActivation::lowerbound && !getLowerBound())
    return emitOpError() << "lowerbound needs a lower_bound";
  if (bool(getDtBiasGrad()) != bool(getDtBias()))
    return emitOpError() << "expects dt_bias_grad exactly when dt_bias is "
                            "given";
  if (bool(getALogGrad()) != bool(getALog()))
    return emitOpError() << "expects A_log_grad exactly when A_log is given";
  for (auto [name, partial] :
       {std::pair<StringRef, Value>{"dt_bias_grad", getDtBiasGrad()},
        {"A_log_grad", getALogGrad()}})
    if (partial && failed(expectShape(*this, name, partial, {columns})))
      return failure();
  return verifyGateParameters(*this, getALog(), getDtBias());
}
