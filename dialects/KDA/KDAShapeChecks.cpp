//===- KDAShapeChecks.cpp - Shape rules shared by kda verifiers -----------===//
//
// The checks behind kda.recurrence, kda.chunk_loop and kda.gate_activation;
// see KDAShapeChecks.h. Messages name the operand, the dimension and both
// sizes, as the tests in test/Dialect/KDA/invalid.mlir expect.
//
//===----------------------------------------------------------------------===//
#include "KDAShapeChecks.h"

#include "kdac/Spec/Limits.h"

#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::kda;
namespace limits = kdac::limits;

LogicalResult ShapeChecker::rank(NamedTensor t, int64_t expected) {
  if (t.type.getRank() == expected)
    return success();
  return error() << "expects " << t.name << " of rank " << expected << ", got "
                 << t.type;
}

LogicalResult ShapeChecker::dims(NamedTensor t, ArrayRef<int64_t> expected,
                                 ArrayRef<StringRef> dimNames,
                                 StringRef layoutName) {
  if (failed(rank(t, expected.size())))
    return failure();
  for (auto [i, want] : llvm::enumerate(expected)) {
    int64_t got = t.type.getDimSize(i);
    if (ShapedType::isDynamic(got) || ShapedType::isDynamic(want) ||
        got == want)
      continue;
    return error() << "expects " << t.name << " of shape " << layoutName
                   << ", but " << dimNames[i] << " (dim " << i << ") is "
                   << got << " where " << want << " is required";
  }
  return success();
}

LogicalResult ShapeChecker::floatElement(NamedTensor t) {
  Type element = t.type.getElementType();
  if (element.isBF16() || element.isF16() || element.isF32())
    return success();
  return error() << "expects " << t.name
                 << " to have element type bf16, f16 or f32, got " << element;
}

/// Merges two possibly-dynamic sizes of the same dimension.
static int64_t merge(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) ? b : a;
}

FailureOr<HeadDims> kda::verifyHeadTensors(ShapeChecker &shapes, NamedTensor q,
                                           NamedTensor k, NamedTensor v,
                                           NamedTensor o, NamedTensor beta,
                                           bool oneInputType) {
  for (NamedTensor t : {q, k, v, o})
    if (failed(shapes.rank(t, 4)))
      return failure();
  if (failed(shapes.rank(beta, 3)))
    return failure();
  for (NamedTensor t : {q, k, v, beta})
    if (failed(shapes.floatElement(t)))
      return failure();
  Type qType = q.type.getElementType(), vType = v.type.getElementType();
  if (oneInputType && (qType != k.type.getElementType() || qType != vType))
    return shapes.error() << "expects q, k and v to share one element type, got "
                          << qType << ", " << k.type.getElementType() << " and "
                          << vType;
  if (!oneInputType && qType != k.type.getElementType())
    return shapes.error() << "expects q and k to share one element type, got "
                          << qType << " and " << k.type.getElementType();
  if (o.type.getElementType() != vType)
    return shapes.error() << "expects o to have the element type of v ("
                          << vType << "), got " << o.type.getElementType();

  // Head counts and head dims select the kernel, so they must be static.
  HeadDims d;
  d.h = q.type.getDimSize(2);
  d.k = q.type.getDimSize(3);
  d.hv = v.type.getDimSize(2);
  d.v = v.type.getDimSize(3);
  if (ShapedType::isDynamic(d.h) || ShapedType::isDynamic(d.k) ||
      ShapedType::isDynamic(d.hv) || ShapedType::isDynamic(d.v))
    return shapes.error()
           << "expects static head counts and head dims (H, K of q; HV, V of "
              "v)";
  if (d.h <= 0 || d.hv <= 0 || d.k <= 0 || d.v <= 0)
    return shapes.error() << "expects positive H, HV, K and V";
  if (d.h > limits::kMaxHeads || d.hv > limits::kMaxHeads)
    return shapes.error() << "supports at most " << limits::kMaxHeads
                          << " heads (the grid's y extent), got H = " << d.h
                          << " and HV = " << d.hv;
  if (d.hv % d.h != 0)
    return shapes.error() << "expects the value head count HV (" << d.hv
                          << ") to be a multiple of the query/key head count H ("
                          << d.h << ")";
  if (d.k > limits::kMaxHeadDim)
    return shapes.error() << "supports key head dim K up to "
                          << limits::kMaxHeadDim << ", got " << d.k;
  if (d.v > limits::kMaxHeadDim)
    return shapes.error() << "supports value head dim V up to "
                          << limits::kMaxHeadDim << ", got " << d.v;

  d.b = merge(merge(q.type.getDimSize(0), k.type.getDimSize(0)),
              v.type.getDimSize(0));
  d.t = merge(merge(q.type.getDimSize(1), k.type.getDimSize(1)),
              v.type.getDimSize(1));
  if (!ShapedType::isDynamic(d.b) && d.b > limits::kMaxSequences)
    return shapes.error() << "supports a batch B of at most "
                          << limits::kMaxSequences
                          << " (the grid's z extent), got " << d.b;
  if (!ShapedType::isDynamic(d.t) &&
      limits::checkedMul(d.t, ShapedType::isDynamic(d.b) ? 1 : d.b)
              .value_or(limits::kMaxTokens + 1) > limits::kMaxTokens)
    return shapes.error() << "supports at most " << limits::kMaxTokens
                          << " tokens (B * T) per call";
  const StringRef qkNames[] = {"B", "T", "H", "K"};
  const StringRef vNames[] = {"B", "T", "HV", "V"};
  if (failed(shapes.dims(q, {d.b, d.t, d.h, d.k}, qkNames, "[B, T, H, K]")) ||
      failed(shapes.dims(k, {d.b, d.t, d.h, d.k}, qkNames, "[B, T, H, K]")) ||
      failed(shapes.dims(v, {d.b, d.t, d.hv, d.v}, vNames, "[B, T, HV, V]")) ||
      failed(shapes.dims(o, {d.b, d.t, d.hv, d.v}, vNames, "[B, T, HV, V]")) ||
      failed(shapes.dims(beta, {d.b, d.t, d.hv}, {"B", "T", "HV"},
                         "[B, T, HV]")))
    return failure();
  return d;
}

LogicalResult kda::verifyGateTensor(ShapeChecker &shapes, Value g,
                                    GateGranularity gate, const HeadDims &d) {
  if (!g) {
    if (gate == GateGranularity::none)
      return success();
    return shapes.error() << "expects a g operand with gate = "
                          << stringifyGateGranularity(gate);
  }
  NamedTensor gt{"g", cast<RankedTensorType>(g.getType())};
  if (failed(shapes.floatElement(gt)))
    return failure();
  switch (gate) {
  case GateGranularity::none:
    return shapes.error() << "expects no g with gate = none";
  case GateGranularity::scalar:
    return shapes.dims(gt, {d.b, d.t, d.hv}, {"B", "T", "HV"},
                       "[B, T, HV] (gate = scalar)");
  case GateGranularity::channel:
    return shapes.dims(gt, {d.b, d.t, d.hv, d.k}, {"B", "T", "HV", "K"},
                       "[B, T, HV, K] (gate = channel)");
  }
  llvm_unreachable("unknown gate granularity");
}

LogicalResult kda::verifyGateParameters(ShapeChecker &shapes,
                                        GateGranularity gate,
                                        GateActivation activation, Value aLog,
                                        Value dtBias,
                                        std::optional<double> lowerBound,
                                        int64_t hv, int64_t kDim) {
  if (activation == GateActivation::none && (aLog || dtBias))
    return shapes.error()
           << "expects A_log and dt_bias only with a fused gate activation";
  if (activation == GateActivation::softplus && !aLog)
    return shapes.error() << "expects A_log with activation = softplus";
  if (aLog) {
    NamedTensor at{"A_log", cast<RankedTensorType>(aLog.getType())};
    if (failed(shapes.floatElement(at)) ||
        failed(shapes.dims(at, {hv}, {"HV"}, "[HV]")))
      return failure();
  }
  if (dtBias) {
    NamedTensor dt{"dt_bias", cast<RankedTensorType>(dtBias.getType())};
    bool channel = gate == GateGranularity::channel;
    // hv * kDim cannot overflow: both are bounded by the head limits.
    if (failed(shapes.floatElement(dt)) ||
        failed(shapes.dims(dt, {channel ? hv * kDim : hv},
                           {channel ? "HV*K" : "HV"},
                           channel ? "[HV*K] (gate = channel)"
                                   : "[HV] (gate = scalar)")))
      return failure();
  }
  if (activation == GateActivation::lowerbound) {
    if (!lowerBound)
      return shapes.error()
             << "expects lower_bound with activation = lowerbound";
    if (!(*lowerBound >= limits::kMinLowerBound && *lowerBound < 0.0))
      return shapes.error() << "expects lower_bound in [-5, 0), got "
                            << *lowerBound;
  } else if (lowerBound) {
    return shapes.error() << "expects lower_bound only with activation = "
                             "lowerbound";
  }
  return success();
}

FailureOr<int64_t> kda::verifyCuSeqlens(ShapeChecker &shapes, Value cuSeqlens,
                                        const HeadDims &d) {
  if (!cuSeqlens)
    return d.b;
  auto cuType = cast<RankedTensorType>(cuSeqlens.getType());
  if (cuType.getRank() != 1 || !(cuType.getElementType().isInteger(64) ||
                                 cuType.getElementType().isInteger(32)))
    return shapes.error() << "expects cu_seqlens to be a 1-D tensor of i64 or "
                             "i32, got "
                          << cuType;
  if (d.b != 1)
    return shapes.error() << "expects B == 1 with cu_seqlens (sequences are "
                             "packed along T), got B = "
                          << (ShapedType::isDynamic(d.b) ? std::string("?")
                                                         : std::to_string(d.b));
  int64_t offsets = cuType.getDimSize(0);
  if (ShapedType::isDynamic(offsets))
    return ShapedType::kDynamic;
  if (offsets < 2)
    return shapes.error() << "expects cu_seqlens to hold at least 2 offsets, "
                             "got "
                          << offsets;
  if (offsets - 1 > limits::kMaxSequences)
    return shapes.error() << "supports at most " << limits::kMaxSequences
                          << " sequences (the grid's z extent), got "
                          << offsets - 1;
  return offsets - 1;
}

LogicalResult kda::verifyStateTensor(ShapeChecker &shapes, NamedTensor state,
                                     StateLayout layout, int64_t numStates,
                                     const HeadDims &d) {
  Type element = state.type.getElementType();
  if (!element.isF32() && !element.isBF16())
    return shapes.error() << "expects " << state.name
                          << " to have element type f32 or bf16, got "
                          << element;
  bool kvLayout = layout == StateLayout::kv;
  SmallVector<int64_t> expected = {numStates, d.hv, kvLayout ? d.k : d.v,
                                   kvLayout ? d.v : d.k};
  SmallVector<StringRef> names = {"N", "HV", kvLayout ? "K" : "V",
                                  kvLayout ? "V" : "K"};
  return shapes.dims(state, expected, names,
                     kvLayout ? "[N, HV, K, V] (layout = kv)"
                              : "[N, HV, V, K] (layout = vk)");
}

LogicalResult kda::verifyScale(ShapeChecker &shapes,
                               std::optional<double> scale) {
  if (scale && (!(*scale > 0.0) || !std::isfinite(*scale)))
    return shapes.error() << "expects a positive finite scale, got " << *scale;
  return success();
}

LogicalResult mlir::kda::expectTile(Operation *op, StringRef name,
                                   Value value, ArrayRef<int64_t> shape,
                                   StringRef names) {
  auto type = cast<RankedTensorType>(value.getType());
  if (!type.hasStaticShape())
    return op->emitOpError() << "expects " << name
                             << " to be a static tile, got " << type;
  bool matches = type.getRank() == int64_t(shape.size());
  for (size_t i = 0; matches && i < shape.size(); ++i)
    matches = ShapedType::isDynamic(shape[i]) || type.getDimSize(i) == shape[i];
  if (matches)
    return success();
  return op->emitOpError() << "expects " << name << " of shape " << names
                           << ", got " << type;
}

FailureOr<HeadDims> kda::verifyChunkLoopTensors(Operation *op, int64_t c,
                                                Value q, Value k, Value v,
                                                Value output, Value beta,
                                                Value g, GateGranularity gate,
                                                Value cuSeqlens,
                                                int64_t &numStates) {
  std::string problem = limits::checkIRChunkSize(c, "chunk_size");
  if (!problem.empty())
    return op->emitOpError() << "expects " << problem;
  ShapeChecker shapes(op);
  auto typeOf = [](Value value) {
    return cast<RankedTensorType>(value.getType());
  };
  // The output (or its cotangent, f32 for a bf16 o) is checked as an
  // output of v's element type.
  FailureOr<HeadDims> dims = verifyHeadTensors(
      shapes, {"q", typeOf(q)}, {"k", typeOf(k)}, {"v", typeOf(v)},
      {"do", typeOf(output).clone(typeOf(v).getElementType())},
      {"beta", typeOf(beta)}, /*oneInputType=*/false);
  if (failed(dims) || failed(verifyGateTensor(shapes, g, gate, *dims)))
    return failure();
  FailureOr<int64_t> states = verifyCuSeqlens(shapes, cuSeqlens, *dims);
  if (failed(states))
    return failure();
  numStates = *states;
  return dims;
}
