//===- DeviceCall.h - One call into the device library, as text -*- C++ -*-===//
//
// The emitter writes every kdk op as one call of a runtime/device/kdac
// function with static shapes as template arguments; this builder collects
// those arguments (the block size NT always first) and prints the call.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_TARGET_CUDA_DEVICECALL_H
#define KDAC_LIB_TARGET_CUDA_DEVICECALL_H

#include "Emitter.h"

#include "llvm/ADT/StringExtras.h"

namespace kdac::cuda {

/// Collects the template and call arguments of one device-library call.
class DeviceCall {
public:
  DeviceCall(CudaEmitter &emitter, mlir::Operation *op, llvm::StringRef function)
      : emitter(emitter), op(op), function(function) {
    templateArgs.push_back("NT");
  }

  /// For functions whose shapes come from an argument's type (fragments):
  /// no template arguments but those added after.
  DeviceCall &withoutBlockThreads() {
    templateArgs.clear();
    return *this;
  }
  DeviceCall &templateArg(const llvm::Twine &arg) {
    templateArgs.push_back(arg.str());
    return *this;
  }
  DeviceCall &templateArg(int64_t arg) { return templateArg(llvm::Twine(arg)); }
  DeviceCall &templateFlag(bool flag) {
    return templateArg(flag ? "true" : "false");
  }
  DeviceCall &arg(const llvm::Twine &arg) {
    args.push_back(arg.str());
    return *this;
  }
  DeviceCall &tile(const TileRef &tile) {
    return arg(tile.pointer).arg(llvm::Twine(tile.ld));
  }
  /// An optional 1-D tile: `pointer, stride`, or a typed null pointer.
  DeviceCall &optionalVector(const std::optional<TileRef> &tile) {
    if (tile)
      return this->tile(*tile);
    return arg("(const float *)nullptr").arg("0");
  }
  /// A scalar or global operand by its C++ name.
  DeviceCall &value(mlir::Value operand) {
    mlir::FailureOr<std::string> name = emitter.getName(op, operand);
    if (mlir::failed(name))
      failedOperand = true;
    return arg(mlir::failed(name) ? "" : *name);
  }
  DeviceCall &floatArg(double value) { return arg(formatFloatLiteral(value)); }

  mlir::LogicalResult emit() {
    if (failedOperand)
      return mlir::failure();
    emitter.ostream() << "kdac::" << function;
    if (!templateArgs.empty())
      emitter.ostream() << "<" << llvm::join(templateArgs, ", ") << ">";
    emitter.ostream() << "(" << llvm::join(args, ", ") << ");\n";
    return mlir::success();
  }

private:
  CudaEmitter &emitter;
  mlir::Operation *op;
  llvm::StringRef function;
  llvm::SmallVector<std::string> templateArgs;
  llvm::SmallVector<std::string> args;
  bool failedOperand = false;
};

// What every tile op's printer needs besides the call (EmitTileOps.cpp): its
// tiles, and the check that an output does not alias an input as placed.

/// `out` is written while `input` is read by other threads: they must be
/// disjoint, or (for element-wise ops, `exactAliasOk`) the very same view.
mlir::LogicalResult checkNoOverlap(mlir::Operation *op, llvm::StringRef outName,
                                   const TileRef &out,
                                   llvm::StringRef inputName,
                                   const TileRef &input,
                                   bool exactAliasOk = false);
/// Gets the tiles of `values`, failing at the first that is not one.
mlir::LogicalResult getTiles(CudaEmitter &emitter, mlir::Operation *op,
                             llvm::ArrayRef<mlir::Value> values,
                             llvm::ArrayRef<TileRef *> tiles);


/// A gate activation as the device library's template arguments.
struct GateActivationArgs {
  const char *kind; ///< kdac::GateNone, GateSoftplus or GateLowerBound
  double lowerBound;
};
mlir::FailureOr<GateActivationArgs>
gateActivationArgs(mlir::Operation *op, mlir::kda::GateActivation activation,
                   std::optional<llvm::APFloat> lowerBound);
/// Appends the A_log and dt_bias buffers (or typed null pointers) of
/// kdk.gate_activation and its adjoint.
mlir::LogicalResult appendGateParameters(DeviceCall &call, mlir::Operation *op,
                                         mlir::Value aLog, mlir::Value dtBias);

/// A matrix reduced to a vector, one element per row (`perRow`) or column:
/// `function<NT, rows, cols>(input, out)` with out disjoint from the input
/// (kdk.row_sum and kdk.column_sum in EmitGradOps.cpp, kdk.last_row_exp
/// in EmitTileOps.cpp).
mlir::LogicalResult printMatrixToVector(CudaEmitter &emitter,
                                        mlir::Operation *op,
                                        llvm::StringRef inputName,
                                        mlir::Value inputValue,
                                        mlir::Value outValue, bool perRow,
                                        llvm::StringRef function);

/// out = f(lhs, rhs) element-wise on f32 tiles of one shape (out may be
/// either input exactly): `function<NT, rows, cols>(lhs, rhs, out[, scale])`.
/// kdk.sub (EmitTileOps.cpp), kdk.add and kdk.mul (EmitGradOps.cpp).
mlir::LogicalResult printElementwise(CudaEmitter &emitter, mlir::Operation *op,
                                     mlir::Value lhs, mlir::Value rhs,
                                     mlir::Value out, llvm::StringRef function,
                                     std::optional<double> scale);

} // namespace kdac::cuda

#endif // KDAC_LIB_TARGET_CUDA_DEVICECALL_H
