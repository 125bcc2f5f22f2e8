//===- KDAOps.cpp - Operations of the kda dialect -------------------------===//
//
// Generated op definitions and the small accessors ops share. The verifier
// rules live in KDAVerify.cpp.
//
//===----------------------------------------------------------------------===//
#include "KDA/KDAOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

#include <cmath>

using namespace mlir;
using namespace mlir::kda;

#include "KDA/KDAEnums.cpp.inc"

#define GET_OP_CLASSES
#include "KDA/KDAOps.cpp.inc"

static int64_t dimOf(Value value, unsigned dim) {
  return cast<RankedTensorType>(value.getType()).getDimSize(dim);
}

int64_t RecurrenceOp::getNumQKHeads() { return dimOf(getQ(), 2); }
int64_t RecurrenceOp::getNumValueHeads() { return dimOf(getV(), 2); }
int64_t RecurrenceOp::getKeyDim() { return dimOf(getQ(), 3); }
int64_t RecurrenceOp::getValueDim() { return dimOf(getV(), 3); }

static std::optional<double> valueOf(FloatAttr attr) {
  if (!attr)
    return std::nullopt;
  return attr.getValueAsDouble();
}

std::optional<double> RecurrenceOp::getLowerBoundValue() {
  return valueOf(getLowerBoundAttr());
}
std::optional<double> RecurrenceOp::getScaleValue() {
  return valueOf(getScaleAttr());
}

double RecurrenceOp::getEffectiveScale() {
  if (std::optional<double> scale = getScaleValue())
    return *scale;
  return 1.0 / std::sqrt(static_cast<double>(getKeyDim()));
}

// kda.commit_records reads its dims off the pool ([P, HV, K, V]).
int64_t CommitRecordsOp::getNumValueHeads() { return dimOf(getStatePool(), 1); }
int64_t CommitRecordsOp::getKeyDim() { return dimOf(getStatePool(), 2); }
int64_t CommitRecordsOp::getValueDim() { return dimOf(getStatePool(), 3); }
int64_t CommitRecordsOp::getNumTokens() { return dimOf(getRecords(), 1); }

// The second result prints as what it holds.
void RecurrenceOp::getAsmResultNames(OpAsmSetValueNameFn setNameFn) {
  setNameFn(getO(), "o");
  if (Value second = getFinalState())
    setNameFn(second, getTokenRecords() ? "records" : "final_state");
}
