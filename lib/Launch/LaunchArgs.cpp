//===- LaunchArgs.cpp - Check the tensors of a KDA launch -----------------===//
//
// Every tensor passed to a kernel set is checked against the spec: presence,
// dtype and shape, with the sizes B, T and N read off q and cu_seqlens.
//
//===----------------------------------------------------------------------===//
#include "kdac/Launch/LaunchArgs.h"

#include "TensorSlots.h"

#include "kdac/Spec/Limits.h"

#include <algorithm>
#include <sstream>

namespace kdac {

bool TensorShape::operator==(const TensorShape &other) const {
  return rank_ == other.rank_ && std::equal(begin(), end(), other.begin());
}

std::string shapeString(const TensorShape &shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    s << (i ? ", " : "");
    if (shape[i] < 0)
      s << "?"; // any positive size
    else
      s << shape[i];
  }
  if (shape.overflowed())
    s << ", ...";
  s << "]";
  return s.str();
}

namespace launch {

rt::Error argError(const std::string &message) {
  return rt::makeError("kdac launch: " + message);
}

std::array<const DeviceTensor *, kNumTensorSlots>
tensorSlots(const KdaLaunchArgs &a) {
  return {&a.q,         &a.k,          &a.v,          &a.g,
          &a.beta,      &a.aLog,       &a.dtBias,     &a.initialState,
          &a.cuSeqlens, &a.o,          &a.finalState, &a.statePool,
          &a.stateIndices, &a.numAccepted, &a.dO,   &a.dht,        &a.dq,
          &a.dk,        &a.dv,         &a.dg,         &a.dbeta,
          &a.dALog,     &a.dDtBias,    &a.dh0,        &a.tokenRecords};
}

} // namespace launch

using namespace launch;

namespace {

/// Checks one tensor: present iff `expected`, of dtype `dtype` and shape
/// `shape`.
rt::Status checkTensor(const char *name, const DeviceTensor &t, bool expected,
                       TensorDType dtype, const TensorShape &shape) {
  if (!expected) {
    if (t.present())
      return argError(std::string(name) +
                      " was passed but the kernel's spec has none");
    return rt::Status::success();
  }
  if (!t.present())
    return argError(std::string(name) + " is required by the spec but missing");
  if (t.dtype != dtype)
    return argError(std::string(name) + " has dtype " + toString(t.dtype) +
                    ", the spec needs " + toString(dtype));
  bool matches = !t.shape.overflowed() && t.shape.size() == shape.size();
  for (size_t i = 0; matches && i < shape.size(); ++i)
    matches = shape[i] < 0 ? t.shape[i] > 0 : t.shape[i] == shape[i];
  if (!matches)
    return argError(std::string(name) + " has shape " + shapeString(t.shape) +
                    ", the spec needs " + shapeString(shape));
  return rt::Status::success();
}

/// Every tensor's layout in TensorSlot order (no allocation: shapes are
/// inline).
std::array<TensorLayout, kNumTensorSlots>
layoutsBySlot(const KernelSpec &s, int64_t B, int64_t T, int64_t N) {
  TensorDType io = toTensorDType(s.dtype);
  TensorDType state = toTensorDType(s.stateDType);
  bool kv = s.stateLayout == StateLayout::KV;
  TensorShape stateShape = {N, s.HV, kv ? s.K : s.V, kv ? s.V : s.K};
  TensorShape poolShape = stateShape;
  poolShape[0] = -1;
  TensorShape indexShape = {N};
  if (s.perTokenStates)
    indexShape.push_back(-1);
  bool channel = s.gate == GateGranularity::Channel;
  TensorShape gShape = {B, T, s.HV};
  if (channel)
    gShape.push_back(s.K);
  std::array<TensorLayout, kNumTensorSlots> l;
  l[kQ] = {true, io, {B, T, s.H, s.K}};
  l[kK] = {true, io, {B, T, s.H, s.K}};
  l[kV] = {true, io, {B, T, s.HV, s.V}};
  l[kG] = {s.gate != GateGranularity::None, toTensorDType(s.gateDType), gShape};
  l[kBeta] = {true, toTensorDType(s.betaDType), {B, T, s.HV}};
  l[kALog] = {s.hasALog, TensorDType::F32, {s.HV}};
  l[kDtBias] = {s.hasDtBias, TensorDType::F32, {channel ? s.HV * s.K : s.HV}};
  l[kInitialState] = {s.hasInitialState, state, stateShape};
  l[kCuSeqlens] = {s.varlen, TensorDType::I64, {N + 1}};
  const bool backward = s.op == KernelOp::Backward;
  const TensorDType f32 = TensorDType::F32;
  l[kO] = {!backward, io, {B, T, s.HV, s.V}};
  l[kFinalState] = {s.hasFinalState && !backward, state, stateShape};
  l[kStatePool] = {s.statePool, state, poolShape};
  l[kStateIndices] = {s.statePool, TensorDType::I32, indexShape};
  l[kNumAccepted] = {s.acceptedCounts, TensorDType::I32, {N}};
  l[kDO] = {backward, f32, {B, T, s.HV, s.V}};
  l[kDht] = {backward && s.hasFinalState, f32, stateShape};
  l[kDq] = {backward, f32, {B, T, s.H, s.K}};
  l[kDk] = {backward, f32, {B, T, s.H, s.K}};
  l[kDv] = {backward, f32, {B, T, s.HV, s.V}};
  l[kDg] = {backward && l[kG].present, f32, gShape};
  l[kDbeta] = {backward, f32, {B, T, s.HV}};
  l[kDALog] = {backward && s.hasALog, f32, l[kALog].shape};
  l[kDDtBias] = {backward && s.hasDtBias, f32, l[kDtBias].shape};
  l[kDh0] = {backward && s.hasInitialState, f32, stateShape};
  l[kTokenRecords] = {s.tokenRecords, f32, {B, T, s.HV, s.recordWidth()}};
  if (s.isCommit()) {
    // Only the pool, its indices and the records.
    for (unsigned i = 0; i < kNumTensorSlots; ++i)
      if (i != kStatePool && i != kStateIndices && i != kNumAccepted &&
          i != kTokenRecords)
        l[i].present = false;
  }
  return l;
}

} // namespace

std::map<std::string, TensorLayout> tensorLayouts(const KernelSpec &s,
                                                  int64_t B, int64_t T,
                                                  int64_t N) {
  std::array<TensorLayout, kNumTensorSlots> bySlot = layoutsBySlot(s, B, T, N);
  std::map<std::string, TensorLayout> layouts;
  for (unsigned i = 0; i < kNumTensorSlots; ++i)
    layouts[kTensorNames[i]] = bySlot[i];
  return layouts;
}

rt::Expected<rt::RuntimeSizes> checkLaunchArgs(const KernelSpec &s,
                                               int64_t chunkSize,
                                               const KdaLaunchArgs &a) {
  // A commit has no q: its records carry B and T.
  const DeviceTensor &sized = s.isCommit() ? a.tokenRecords : a.q;
  const char *sizedName = s.isCommit() ? "token_records" : "q";
  if (!sized.present() || sized.shape.size() != 4 || sized.shape.overflowed())
    return argError(s.isCommit()
                        ? "token_records must be a [N, T, HV, 2K + V] device "
                          "tensor"
                        : "q must be a [B, T, H, K] device tensor");
  rt::RuntimeSizes sizes;
  sizes.B = sized.shape[0];
  sizes.T = sized.shape[1];
  if (sizes.B <= 0 || sizes.T < 0)
    return argError(std::string(sizedName) + " has shape " +
                    shapeString(sized.shape) +
                    ", which needs B > 0 and T >= 0");
  if (s.T != kDynamic && sizes.T != s.T)
    return argError(std::string(sizedName) + " has T = " +
                    std::to_string(sizes.T) +
                    ", the kernel was compiled for T = " + std::to_string(s.T) +
                    (s.tokenRecords
                         ? std::string(" (token records keep the call's T)")
                         : " (decode specs keep T static up to " +
                               std::to_string(limits::kMaxStaticDecodeTokens) +
                               "); use a spec with T = -1 for any T"));
  if (s.varlen) {
    if (sizes.B != 1)
      return argError("varlen (cu_seqlens) needs B == 1, q has B = " +
                      std::to_string(sizes.B));
    if (!a.cuSeqlens.present() || a.cuSeqlens.shape.size() != 1 ||
        a.cuSeqlens.shape[0] < 2)
      return argError("cu_seqlens must be an int64 [N + 1] tensor with N >= 1");
    sizes.N = a.cuSeqlens.shape[0] - 1;
  } else {
    sizes.N = sizes.B;
  }
  if (sizes.N > limits::kMaxSequences)
    return argError(std::to_string(sizes.N) + " sequences, more than the " +
                    std::to_string(limits::kMaxSequences) +
                    " a launch can cover (the grid's z extent)");
  if (limits::checkedMul(sizes.B, sizes.T).value_or(limits::kMaxTokens + 1) >
      limits::kMaxTokens)
    return argError("B * T = " + std::to_string(sizes.B) + " * " +
                    std::to_string(sizes.T) + " tokens, more than the limit of " +
                    std::to_string(limits::kMaxTokens));
  sizes.chunkSlots =
      rt::chunkSlotsFor(sizes.B, sizes.T, sizes.N, s.varlen, chunkSize);
  std::array<TensorLayout, kNumTensorSlots> layouts =
      layoutsBySlot(s, sizes.B, sizes.T, sizes.N);
  std::array<const DeviceTensor *, kNumTensorSlots> passed = tensorSlots(a);
  for (unsigned i = 0; i < kNumTensorSlots; ++i)
    if (rt::Status st = checkTensor(kTensorNames[i], *passed[i],
                                    layouts[i].present, layouts[i].dtype,
                                    layouts[i].shape);
        !st)
      return st;
  if (s.perTokenStates) {
    sizes.S = a.stateIndices.shape[1];
    if (!s.varlen && sizes.S < sizes.T)
      return argError("state_indices has " + std::to_string(sizes.S) +
                      " slots per sequence, fewer than the T = " +
                      std::to_string(sizes.T) + " tokens of each");
  }
  return sizes;
}

} // namespace kdac
