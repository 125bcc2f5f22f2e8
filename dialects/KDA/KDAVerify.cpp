//===- KDAVerify.cpp - Verifier of kda.recurrence -------------------------===//
//
// Every inconsistent combination of shapes, dtypes and flags is rejected here
// with a diagnostic that names the operand and the dimension at fault, so a
// bad spec never reaches code generation. The tensor rules shared with
// kda.chunk_loop live in KDAShapeChecks.cpp; what is particular to the
// recurrence (state pools, speculative decoding) is here.
//
//===----------------------------------------------------------------------===//
#include "KDA/KDAOps.h"
#include "KDAShapeChecks.h"

using namespace mlir;
using namespace mlir::kda;

/// state_indices ([N] or [N, S] i32) and num_accepted ([N] i32, only with
/// [N, S] indices). A pool holds any number of slots: returns kDynamic as
/// the state tensors' slot count when there is one, else `numStates`.
static FailureOr<int64_t> verifyStatePool(RecurrenceOp op,
                                          ShapeChecker &shapes,
                                          int64_t numStates) {
  Value indices = op.getStateIndices();
  int64_t numSequences = numStates;
  if (indices) {
    auto indexType = cast<RankedTensorType>(indices.getType());
    if (indexType.getRank() < 1 || indexType.getRank() > 2 ||
        !indexType.getElementType().isInteger(32))
      return op.emitOpError() << "expects state_indices to be an [N] or [N, S] "
                                 "tensor of i32, got "
                              << indexType;
    bool perToken = indexType.getRank() == 2;
    if (failed(shapes.dims(
            {"state_indices", indexType},
            perToken ? SmallVector<int64_t>{numSequences, ShapedType::kDynamic}
                     : SmallVector<int64_t>{numSequences},
            {"N", "S"}, perToken ? "[N, S]" : "[N]")))
      return failure();
    if (!op.getInitialState() || !op.getFinalState())
      return op.emitOpError() << "expects initial_state and a final_state "
                                 "result with state_indices (the pool is read "
                                 "and written in place)";
    numStates = ShapedType::kDynamic;
  }
  if (Value accepted = op.getNumAccepted()) {
    auto acceptedType = cast<RankedTensorType>(accepted.getType());
    if (!indices || cast<RankedTensorType>(indices.getType()).getRank() != 2)
      return op.emitOpError() << "expects num_accepted only with [N, S] "
                                 "state_indices";
    if (acceptedType.getRank() != 1 ||
        !acceptedType.getElementType().isInteger(32))
      return op.emitOpError() << "expects num_accepted to be an [N] tensor of "
                                 "i32, got "
                              << acceptedType;
    if (failed(shapes.dims({"num_accepted", acceptedType}, {numSequences},
                           {"N"}, "[N]")))
      return failure();
  }
  return numStates;
}

LogicalResult RecurrenceOp::verify() {
  ShapeChecker shapes(*this);
  FailureOr<HeadDims> dims = verifyHeadTensors(
      shapes, {"q", getQ().getType()}, {"k", getK().getType()},
      {"v", getV().getType()}, {"o", getO().getType()},
      {"beta", getBeta().getType()}, /*oneInputType=*/true);
  if (failed(dims) || failed(verifyGateTensor(shapes, getG(), getGate(), *dims)))
    return failure();

  GateActivation activation = getActivation();
  if (activation != GateActivation::none && getGate() == GateGranularity::none)
    return emitOpError() << "expects a gate (scalar or channel) with activation = "
                         << stringifyGateActivation(activation);
  if (failed(verifyGateParameters(shapes, getGate(), activation, getALog(),
                                  getDtBias(), getLowerBoundValue(), dims->hv,
                                  dims->k)) ||
      failed(verifyScale(shapes, getScaleValue())))
    return failure();

  FailureOr<int64_t> numStates = verifyCuSeqlens(shapes, getCuSeqlens(), *dims);
  if (failed(numStates))
    return failure();
  numStates = verifyStatePool(*this, shapes, *numStates);
  if (failed(numStates))
    return failure();

  Value initial = getInitialState();
  Value final = getFinalState();
  if (initial &&
      failed(verifyStateTensor(
          shapes, {"initial_state", cast<RankedTensorType>(initial.getType())},
          getLayout(), *numStates, *dims)))
    return failure();
  if (final &&
      failed(verifyStateTensor(
          shapes, {"final_state", cast<RankedTensorType>(final.getType())},
          getLayout(), *numStates, *dims)))
    return failure();
  if (initial && final && initial.getType() != final.getType())
    return emitOpError() << "expects initial_state and final_state of one type, "
                            "got "
                         << initial.getType() << " and " << final.getType();
  return success();
}
