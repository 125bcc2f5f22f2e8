//===- KDAVerify.cpp - Verifier of kda.recurrence -------------------------===//
//
// Every inconsistent combination of shapes, dtypes and flags is rejected here
// with a diagnostic that names the operand and the dimension at fault, so a
// bad spec never reaches code generation.
//
//===----------------------------------------------------------------------===//
#include "KDA/KDAOps.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::kda;

/// Largest head dimension the code generators accept; the state of one head
/// must fit on chip.
static constexpr int64_t kMaxHeadDim = 256;
static constexpr double kMinLowerBound = -5.0;

namespace {
/// One tensor operand or result, with the name diagnostics use for it.
struct NamedTensor {
  StringRef name;
  RankedTensorType type;
};

/// Checks the shape of one tensor against an expected list of dimensions,
/// where kDynamic in either place matches anything.
class ShapeChecker {
public:
  explicit ShapeChecker(RecurrenceOp op) : op(op) {}

  LogicalResult rank(NamedTensor t, int64_t expected) {
    if (t.type.getRank() == expected)
      return success();
    return op.emitOpError() << "expects " << t.name << " of rank " << expected
                            << ", got " << t.type;
  }

  LogicalResult dims(NamedTensor t, ArrayRef<int64_t> expected,
                     ArrayRef<StringRef> dimNames, StringRef layoutName) {
    if (failed(rank(t, expected.size())))
      return failure();
    for (auto [i, want] : llvm::enumerate(expected)) {
      int64_t got = t.type.getDimSize(i);
      if (ShapedType::isDynamic(got) || ShapedType::isDynamic(want) ||
          got == want)
        continue;
      return op.emitOpError()
             << "expects " << t.name << " of shape " << layoutName << ", but "
             << dimNames[i] << " (dim " << i << ") is " << got
             << " where " << want << " is required";
    }
    return success();
  }

private:
  RecurrenceOp op;
};
} // namespace

static bool isSupportedFloat(Type type) {
  return type.isBF16() || type.isF16() || type.isF32();
}

static LogicalResult checkFloatElement(RecurrenceOp op, NamedTensor t) {
  if (isSupportedFloat(t.type.getElementType()))
    return success();
  return op.emitOpError() << "expects " << t.name
                          << " to have element type bf16, f16 or f32, got "
                          << t.type.getElementType();
}

/// Merges two possibly-dynamic sizes of the same dimension.
static int64_t merge(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) ? b : a;
}

static LogicalResult verifyStateTensor(RecurrenceOp op, ShapeChecker &shapes,
                                       NamedTensor state, int64_t numStates,
                                       int64_t hv, int64_t kDim, int64_t vDim) {
  Type element = state.type.getElementType();
  if (!element.isF32() && !element.isBF16())
    return op.emitOpError() << "expects " << state.name
                            << " to have element type f32 or bf16, got "
                            << element;
  bool kvLayout = op.getLayout() == StateLayout::kv;
  SmallVector<int64_t> expected = {numStates, hv, kvLayout ? kDim : vDim,
                                   kvLayout ? vDim : kDim};
  SmallVector<StringRef> names = {"N", "HV", kvLayout ? "K" : "V",
                                  kvLayout ? "V" : "K"};
  return shapes.dims(state, expected, names,
                     kvLayout ? "[N, HV, K, V] (layout = kv)"
                              : "[N, HV, V, K] (layout = vk)");
}

LogicalResult RecurrenceOp::verify() {
  ShapeChecker shapes(*this);
  NamedTensor q{"q", getQ().getType()}, k{"k", getK().getType()},
      v{"v", getV().getType()}, beta{"beta", getBeta().getType()},
      o{"o", getO().getType()};

  for (NamedTensor t : {q, k, v, o})
    if (failed(shapes.rank(t, 4)))
      return failure();
  if (failed(shapes.rank(beta, 3)))
    return failure();
  for (NamedTensor t : {q, k, v, beta})
    if (failed(checkFloatElement(*this, t)))
      return failure();
  if (q.type.getElementType() != k.type.getElementType() ||
      q.type.getElementType() != v.type.getElementType())
    return emitOpError() << "expects q, k and v to share one element type, got "
                         << q.type.getElementType() << ", "
                         << k.type.getElementType() << " and "
                         << v.type.getElementType();
  if (o.type.getElementType() != v.type.getElementType())
    return emitOpError() << "expects o to have the element type of v ("
                         << v.type.getElementType() << "), got "
                         << o.type.getElementType();

  // Head counts and head dims select the kernel, so they must be static.
  int64_t h = q.type.getDimSize(2), kDim = q.type.getDimSize(3);
  int64_t hv = v.type.getDimSize(2), vDim = v.type.getDimSize(3);
  if (ShapedType::isDynamic(h) || ShapedType::isDynamic(kDim) ||
      ShapedType::isDynamic(hv) || ShapedType::isDynamic(vDim))
    return emitOpError()
           << "expects static head counts and head dims (H, K of q; HV, V of "
              "v)";
  if (h <= 0 || hv <= 0 || kDim <= 0 || vDim <= 0)
    return emitOpError() << "expects positive H, HV, K and V";
  if (hv % h != 0)
    return emitOpError() << "expects the value head count HV (" << hv
                         << ") to be a multiple of the query/key head count H ("
                         << h << ")";
  if (kDim > kMaxHeadDim)
    return emitOpError() << "supports key head dim K up to " << kMaxHeadDim
                         << ", got " << kDim;
  if (vDim > kMaxHeadDim)
    return emitOpError() << "supports value head dim V up to " << kMaxHeadDim
                         << ", got " << vDim;

  int64_t b = merge(merge(q.type.getDimSize(0), k.type.getDimSize(0)),
                    v.type.getDimSize(0));
  int64_t t = merge(merge(q.type.getDimSize(1), k.type.getDimSize(1)),
                    v.type.getDimSize(1));
  const StringRef qkNames[] = {"B", "T", "H", "K"};
  const StringRef vNames[] = {"B", "T", "HV", "V"};
  if (failed(shapes.dims(q, {b, t, h, kDim}, qkNames, "[B, T, H, K]")) ||
      failed(shapes.dims(k, {b, t, h, kDim}, qkNames, "[B, T, H, K]")) ||
      failed(shapes.dims(v, {b, t, hv, vDim}, vNames, "[B, T, HV, V]")) ||
      failed(shapes.dims(o, {b, t, hv, vDim}, vNames, "[B, T, HV, V]")) ||
      failed(shapes.dims(beta, {b, t, hv}, {"B", "T", "HV"}, "[B, T, HV]")))
    return failure();

  // The gate tensor's presence and shape follow the gate granularity.
  GateGranularity gate = getGate();
  if (Value g = getG()) {
    NamedTensor gt{"g", cast<RankedTensorType>(g.getType())};
    if (failed(checkFloatElement(*this, gt)))
      return failure();
    if (gate == GateGranularity::none)
      return emitOpError() << "expects no g with gate = none";
    if (gate == GateGranularity::scalar &&
        failed(shapes.dims(gt, {b, t, hv}, {"B", "T", "HV"},
                           "[B, T, HV] (gate = scalar)")))
      return failure();
    if (gate == GateGranularity::channel &&
        failed(shapes.dims(gt, {b, t, hv, kDim}, {"B", "T", "HV", "K"},
                           "[B, T, HV, K] (gate = channel)")))
      return failure();
  } else if (gate != GateGranularity::none) {
    return emitOpError() << "expects a g operand with gate = "
                         << stringifyGateGranularity(gate);
  }

  // Gate activation and its parameters.
  GateActivation activation = getActivation();
  if (activation != GateActivation::none && gate == GateGranularity::none)
    return emitOpError() << "expects a gate (scalar or channel) with activation = "
                         << stringifyGateActivation(activation);
  if (activation == GateActivation::none && (getALog() || getDtBias()))
    return emitOpError()
           << "expects A_log and dt_bias only with a fused gate activation";
  if (activation == GateActivation::softplus && !getALog())
    return emitOpError() << "expects A_log with activation = softplus";
  if (Value aLog = getALog()) {
    NamedTensor at{"A_log", cast<RankedTensorType>(aLog.getType())};
    if (failed(checkFloatElement(*this, at)) ||
        failed(shapes.dims(at, {hv}, {"HV"}, "[HV]")))
      return failure();
  }
  if (Value dtBias = getDtBias()) {
    NamedTensor dt{"dt_bias", cast<RankedTensorType>(dtBias.getType())};
    int64_t width = gate == GateGranularity::channel ? hv * kDim : hv;
    if (failed(checkFloatElement(*this, dt)) ||
        failed(shapes.dims(dt, {width}, {"HV*K"},
                           gate == GateGranularity::channel
                               ? "[HV*K] (gate = channel)"
                               : "[HV] (gate = scalar)")))
      return failure();
  }
  std::optional<double> lowerBound = getLowerBoundValue();
  if (activation == GateActivation::lowerbound) {
    if (!lowerBound)
      return emitOpError() << "expects lower_bound with activation = lowerbound";
    if (!(*lowerBound >= kMinLowerBound && *lowerBound < 0.0))
      return emitOpError() << "expects lower_bound in [-5, 0), got "
                           << *lowerBound;
  } else if (lowerBound) {
    return emitOpError() << "expects lower_bound only with activation = "
                            "lowerbound";
  }

  if (std::optional<double> scale = getScaleValue())
    if (!(*scale > 0.0) || !std::isfinite(*scale))
      return emitOpError() << "expects a positive finite scale, got " << *scale;

  // Varlen packing: cu_seqlens holds N + 1 offsets into a single batch row.
  int64_t numStates = b;
  if (Value cuSeqlens = getCuSeqlens()) {
    auto cuType = cast<RankedTensorType>(cuSeqlens.getType());
    if (cuType.getRank() != 1 || !(cuType.getElementType().isInteger(64) ||
                                   cuType.getElementType().isInteger(32)))
      return emitOpError() << "expects cu_seqlens to be a 1-D tensor of i64 or "
                              "i32, got "
                           << cuType;
    if (b != 1)
      return emitOpError() << "expects B == 1 with cu_seqlens (sequences are "
                              "packed along T), got B = "
                           << (ShapedType::isDynamic(b) ? std::string("?")
                                                        : std::to_string(b));
    int64_t offsets = cuType.getDimSize(0);
    if (!ShapedType::isDynamic(offsets) && offsets < 2)
      return emitOpError() << "expects cu_seqlens to hold at least 2 offsets, "
                              "got "
                           << offsets;
    numStates =
        ShapedType::isDynamic(offsets) ? ShapedType::kDynamic : offsets - 1;
  }

  // A state pool: the state tensors hold P slots, any P.
  Value indices = getStateIndices();
  int64_t numSequences = numStates;
  if (indices) {
    auto indexType = cast<RankedTensorType>(indices.getType());
    if (indexType.getRank() < 1 || indexType.getRank() > 2 ||
        !indexType.getElementType().isInteger(32))
      return emitOpError() << "expects state_indices to be an [N] or [N, S] "
                              "tensor of i32, got "
                           << indexType;
    bool perToken = indexType.getRank() == 2;
    if (failed(shapes.dims(
            {"state_indices", indexType},
            perToken ? SmallVector<int64_t>{numSequences, ShapedType::kDynamic}
                     : SmallVector<int64_t>{numSequences},
            {"N", "S"}, perToken ? "[N, S]" : "[N]")))
      return failure();
    if (!getInitialState() || !getFinalState())
      return emitOpError() << "expects initial_state and a final_state result "
                              "with state_indices (the pool is read and "
                              "written in place)";
    numStates = ShapedType::kDynamic;
  }
  if (Value accepted = getNumAccepted()) {
    auto acceptedType = cast<RankedTensorType>(accepted.getType());
    if (!indices || cast<RankedTensorType>(indices.getType()).getRank() != 2)
      return emitOpError() << "expects num_accepted only with [N, S] "
                              "state_indices";
    if (acceptedType.getRank() != 1 ||
        !acceptedType.getElementType().isInteger(32))
      return emitOpError() << "expects num_accepted to be an [N] tensor of "
                              "i32, got "
                           << acceptedType;
    if (failed(shapes.dims({"num_accepted", acceptedType}, {numSequences},
                           {"N"}, "[N]")))
      return failure();
  }

  Value initial = getInitialState();
  Value final = getFinalState();
  if (initial &&
      failed(verifyStateTensor(
          *this, shapes,
          {"initial_state", cast<RankedTensorType>(initial.getType())},
          numStates, hv, kDim, vDim)))
    return failure();
  if (final &&
      failed(verifyStateTensor(
          *this, shapes,
          {"final_state", cast<RankedTensorType>(final.getType())}, numStates,
          hv, kDim, vDim)))
    return failure();
  if (initial && final && initial.getType() != final.getType())
    return emitOpError() << "expects initial_state and final_state of one type, "
                            "got "
                         << initial.getType() << " and " << final.getType();
  return success();
}
