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

#include "kdac/Spec/Limits.h"

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
    if (op.getTokenRecords()) {
      if (!op.getInitialState() || !op.getRecords())
        return op.emitOpError() << "expects initial_state (the pool, only "
                                   "read) and a records result with "
                                   "token_records";
    } else if (!op.getInitialState() || !op.getFinalState())
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

/// The tokens of a records call: [B, T, HV, 2K + V] f32, the call within
/// limits::checkTokenRecordCall.
static LogicalResult verifyRecordsTensor(ShapeChecker &shapes,
                                         RankedTensorType type,
                                         ArrayRef<int64_t> expected) {
  if (failed(shapes.rank({"records", type}, 4)) ||
      failed(shapes.dims({"records", type}, expected,
                         {"N", "T", "HV", "2K + V"}, "[N, T, HV, 2K + V]")))
    return failure();
  if (!type.getElementType().isF32())
    return shapes.error() << "expects records of f32, got " << type;
  return success();
}

static LogicalResult verifyTokenRecords(RecurrenceOp op, ShapeChecker &shapes,
                                        const HeadDims &dims) {
  if (!op.getTokenRecords())
    return success();
  if (!op.getStateIndices())
    return op.emitOpError() << "expects state_indices with token_records (the "
                               "records stand for a pool's per-token states)";
  Value indices = op.getStateIndices();
  std::string problem = kdac::limits::checkTokenRecordCall(
      {ShapedType::isDynamic(dims.t) ? -1 : dims.t,
       static_cast<bool>(op.getCuSeqlens()),
       cast<RankedTensorType>(indices.getType()).getRank() == 2,
       static_cast<bool>(op.getNumAccepted()), op.getLayout() == StateLayout::kv,
       op.getGate() != GateGranularity::none,
       op.getUpdate() == UpdateRule::delta, /*commit=*/false});
  if (!problem.empty())
    return op.emitOpError() << problem;
  return verifyRecordsTensor(
      shapes, cast<RankedTensorType>(op.getRecords().getType()),
      {dims.b, dims.t, dims.hv, 2 * dims.k + dims.v});
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

  if (failed(verifyTokenRecords(*this, shapes, *dims)))
    return failure();

  Value initial = getInitialState();
  Value final = getWrittenState();
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

LogicalResult CommitRecordsOp::verify() {
  ShapeChecker shapes(*this);
  auto pool = cast<RankedTensorType>(getStatePool().getType());
  auto indices = cast<RankedTensorType>(getStateIndices().getType());
  auto accepted = cast<RankedTensorType>(getNumAccepted().getType());
  auto records = cast<RankedTensorType>(getRecords().getType());
  if (failed(shapes.rank({"state_pool", pool}, 4)) ||
      failed(shapes.rank({"records", records}, 4)))
    return failure();
  for (int64_t dim : {1, 2, 3})
    if (pool.isDynamicDim(dim))
      return emitOpError() << "expects a state_pool with static heads and "
                              "head dims, got "
                           << pool;
  if (pool != getNewPool().getType())
    return emitOpError() << "expects the new pool of the pool's type, got "
                         << getNewPool().getType() << " for " << pool;
  Type element = pool.getElementType();
  if (!element.isF32() && !element.isBF16())
    return emitOpError() << "expects a state_pool of f32 or bf16, got " << pool;
  int64_t hv = pool.getDimSize(1);
  int64_t kDim = getKeyDim(), vDim = getValueDim();
  for (int64_t d : {kDim, vDim})
    if (d > kdac::limits::kMaxHeadDim)
      return emitOpError() << "expects head dims of at most "
                           << kdac::limits::kMaxHeadDim << ", got " << pool;
  int64_t n = records.getDimSize(0), t = records.getDimSize(1);
  std::string problem = kdac::limits::checkTokenRecordCall(
      {ShapedType::isDynamic(t) ? -1 : t, /*varlen=*/false,
       indices.getRank() == 2, /*acceptedCounts=*/true,
       getLayout() == StateLayout::kv, true, true, /*commit=*/true});
  if (!problem.empty())
    return emitOpError() << problem;
  if (failed(verifyRecordsTensor(shapes, records, {n, t, hv, 2 * kDim + vDim})))
    return failure();
  for (NamedTensor index : {NamedTensor{"state_indices", indices},
                            NamedTensor{"num_accepted", accepted}}) {
    if (index.type.getRank() != 1 || !index.type.getElementType().isInteger(32))
      return emitOpError() << "expects " << index.name
                           << " to be an [N] tensor of i32, got " << index.type;
    if (failed(shapes.dims(index, {n}, {"N"}, "[N]")))
      return failure();
  }
  return success();
}
