//===- KDKVerifyUtils.h - Shape checks the kdk op verifiers share -*- C++ -*-===//
//
// The device functions trust the shapes of every tile they are handed, so
// each kdk op's verifier checks them; these are the checks the forward's
// (KDKTileOps.cpp) and the backward's (KDKGradOps.cpp) ops have in common.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_DIALECTS_KDK_KDKVERIFYUTILS_H
#define KDAC_DIALECTS_KDK_KDKVERIFYUTILS_H

#include "KDK/KDKOps.h"

#include "mlir/Interfaces/FunctionInterfaces.h"

#include <cmath>
#include <string>

namespace mlir::kdk::verify {

/// "16x64" for a matrix, "16" for a vector.
inline std::string shapeOf(MemRefType type) {
  std::string s;
  for (int64_t d : type.getShape())
    s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

/// `value` has exactly `shape`.
inline LogicalResult expectShape(Operation *op, StringRef name, Value value,
                                 ArrayRef<int64_t> shape) {
  auto type = cast<MemRefType>(value.getType());
  if (type.getShape() == shape)
    return success();
  std::string want;
  for (int64_t d : shape)
    want += (want.empty() ? "" : "x") + std::to_string(d);
  return op->emitOpError() << "expects " << name << " of shape " << want
                           << ", got " << shapeOf(type);
}

/// Shared tiles only: these ops have no register-fragment form.
inline LogicalResult expectShared(Operation *op, ValueRange tiles) {
  for (Value operand : tiles)
    if (auto type = dyn_cast<MemRefType>(operand.getType()))
      if (!isSharedTile(type))
        return op->emitOpError() << "expects shared tiles (memory space "
                                 << kSharedMemorySpace << "), got " << type;
  return success();
}
inline LogicalResult expectShared(Operation *op) {
  return expectShared(op, op->getOperands());
}

/// Tiles an op only reads: shared, or read in place from global memory
/// (kdk.global_tile).
inline LogicalResult expectReadable(Operation *op, ValueRange tiles) {
  for (Value operand : tiles)
    if (!operand.getDefiningOp<GlobalTileOp>() &&
        failed(expectShared(op, operand)))
      return failure();
  return success();
}

inline LogicalResult expectFinite(Operation *op, APFloat scale) {
  if (std::isfinite(scale.convertToDouble()))
    return success();
  return op->emitOpError() << "expects a finite scale";
}

inline ArrayRef<int64_t> shapeOf(Value v) {
  return cast<MemRefType>(v.getType()).getShape();
}

/// out = f(lhs, rhs) element-wise: three tiles of one shape, the inputs
/// shared or read in place from global memory.
inline LogicalResult verifyElementwise(Operation *op, Value lhs, Value rhs,
                                       Value out) {
  if (failed(expectReadable(op, {lhs, rhs})) ||
      failed(expectShared(op, out)) ||
      failed(expectShape(op, "rhs", rhs, shapeOf(lhs))) ||
      failed(expectShape(op, "out", out, shapeOf(lhs))))
    return failure();
  return success();
}

/// `value` is a buffer argument of the kernel (a name the emitted C++ has),
/// of float elements unless `allowInteger`.
inline LogicalResult expectKernelBuffer(Operation *op, StringRef what,
                                        Value value, bool allowInteger) {
  auto arg = dyn_cast<BlockArgument>(value);
  if (!arg || !isGlobalBuffer(value.getType()) ||
      !isa<FunctionOpInterface>(arg.getOwner()->getParentOp()))
    return op->emitOpError() << "expects " << what
                             << " to be a kernel buffer argument";
  Type element = cast<MemRefType>(value.getType()).getElementType();
  if (!allowInteger && !isa<FloatType>(element))
    return op->emitOpError() << "expects " << what
                             << " with float elements, got " << element;
  return success();
}

/// `value`, when given, is a vector of `length`.
inline LogicalResult expectOptionalVector(Operation *op, StringRef name,
                                          Value value, int64_t length) {
  return value ? expectShape(op, name, value, {length}) : success();
}

/// The optional A_log and dt_bias of a gate activation (or its adjoint):
/// float kernel buffers.
inline LogicalResult verifyGateParameters(Operation *op, Value aLog,
                                          Value dtBias) {
  for (auto [what, global] :
       {std::pair<StringRef, Value>{"A_log", aLog}, {"dt_bias", dtBias}})
    if (global && failed(expectKernelBuffer(op, what, global, false)))
      return failure();
  return success();
}

} // namespace mlir::kdk::verify

#endif // KDAC_DIALECTS_KDK_KDKVERIFYUTILS_H
