//===- RecurrenceEval.cpp - kda.recurrence and the element-wise prologue --===//
//
// The token-by-token recurrence, written independently of the oracle but in
// the same order of operations, so the double instance agrees with it to
// rounding level and the float instance shows what fp32 does to the plain
// recurrence. The prologue ops (l2norm, sigmoid, gate_activation) are the
// pieces kda-chunk peels off the recurrence, evaluated as the oracle fuses
// them.
//
//===----------------------------------------------------------------------===//
#include "Evaluator.h"

using namespace mlir;
using namespace kdac::interp;

/// The log-decay the state row of channel \p i decays by at token \p t of
/// value head \p hv, after the fused gate activation (if any).
template <typename T> struct GateFn {
  kda::GateGranularity gate;
  kda::GateActivation activation;
  T lowerBound;
  const Tensor<T> *g, *aLog, *dtBias;
  int64_t HV, K;

  T operator()(int64_t t, int64_t hv, int64_t i) const {
    bool channel = gate == kda::GateGranularity::channel;
    T x = channel ? g->data[(t * HV + hv) * K + i] : g->data[t * HV + hv];
    if (activation == kda::GateActivation::none)
      return x;
    if (dtBias)
      x += channel ? dtBias->data[hv * K + i] : dtBias->data[hv];
    T a = aLog ? std::exp(aLog->data[hv]) : T(1);
    if (activation == kda::GateActivation::softplus)
      return -a * softplus(x);
    return lowerBound * sigmoid(a * x);
  }
};

/// Checks A_log and dt_bias against the gate's shape and reads the lower
/// bound; shared by kda.recurrence and kda.gate_activation.
template <typename T>
static llvm::Error
makeGateFn(Operation *op, kda::GateGranularity gate,
           kda::GateActivation activation, std::optional<double> lowerBound,
           const Tensor<T> *g, const Tensor<T> *aLog, const Tensor<T> *dtBias,
           int64_t HV, int64_t K, GateFn<T> &fn) {
  if (activation == kda::GateActivation::lowerbound && !lowerBound)
    return opError(op, "activation lowerbound needs a lower_bound");
  if (activation == kda::GateActivation::none && (aLog || dtBias))
    return opError(op, "A_log and dt_bias need a gate activation");
  if (aLog)
    if (llvm::Error e = expectShape(op, "A_log", aLog->shape, {HV}))
      return e;
  bool channel = gate == kda::GateGranularity::channel;
  if (dtBias)
    if (llvm::Error e =
            expectShape(op, "dt_bias", dtBias->shape, {channel ? HV * K : HV}))
      return e;
  fn = GateFn<T>{gate, activation, T(lowerBound.value_or(0.0)), g, aLog, dtBias,
                 HV,   K};
  return llvm::Error::success();
}

template <typename T>
static const Tensor<T> *optional(const Env<T> &env, Value value) {
  return value ? &env[value] : nullptr;
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::RecurrenceOp op, Env<T> &env) {
  if (op.getStateIndices())
    return opError(op, "state pools (state_indices) are not interpreted; "
                       "the reference oracle checks them");
  llvm::Expected<SequenceTensors<T>> inputs = readSequenceTensors(op, env);
  if (!inputs)
    return inputs.takeError();
  const Tensor<T> &qIn = *inputs->q, &kIn = *inputs->k, &vIn = *inputs->v,
                  &betaIn = *inputs->beta;
  const Tensor<T> *gIn = inputs->g, *initial = inputs->initial;
  const SequenceGeometry &geo = inputs->geo;
  const int64_t H = geo.H, HV = geo.HV, K = geo.K, V = geo.V;

  GateFn<T> gateFn;
  if (gIn)
    if (llvm::Error e = makeGateFn<T>(
            op, op.getGate(), op.getActivation(), op.getLowerBoundValue(), gIn,
            optional(env, op.getALog()), optional(env, op.getDtBias()), HV, K,
            gateFn))
      return e;
  if (!gIn && (op.getALog() || op.getDtBias() ||
               op.getActivation() != kda::GateActivation::none))
    return opError(op, "a gate activation needs a gate");

  const int64_t groupSize = HV / H;
  const T scale = T(op.getEffectiveScale());
  const bool delta = op.getUpdate() == kda::UpdateRule::delta;

  Tensor<T> o = Tensor<T>::zeros({geo.B, geo.T, HV, V});
  Tensor<T> finalState = Tensor<T>::zeros(geo.stateShape());
  std::vector<T> S(K * V), q(K), k(K), decay(K), u(V);
  for (int64_t n = 0; n < geo.N; ++n) {
    for (int64_t hv = 0; hv < HV; ++hv) {
      const int64_t h = hv / groupSize;
      const int64_t slot = (n * HV + hv) * K * V;
      // S is kept [K, V] here whatever the layout; the layout is I/O only.
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < V; ++j)
          S[i * V + j] =
              initial ? initial->data[slot + geo.stateIndex(i, j)] : T(0);

      for (int64_t t = geo.bos[n]; t < geo.eos[n]; ++t) {
        for (int64_t i = 0; i < K; ++i) {
          q[i] = qIn.data[(t * H + h) * K + i];
          k[i] = kIn.data[(t * H + h) * K + i];
        }
        if (op.getQkL2norm()) {
          T qq = 0, kk = 0;
          for (int64_t i = 0; i < K; ++i) {
            qq += q[i] * q[i];
            kk += k[i] * k[i];
          }
          T qn = std::sqrt(qq + T(1e-6)), kn = std::sqrt(kk + T(1e-6));
          for (int64_t i = 0; i < K; ++i) {
            q[i] /= qn;
            k[i] /= kn;
          }
        }
        for (int64_t i = 0; i < K; ++i)
          decay[i] = gIn ? std::exp(gateFn(t, hv, i)) : T(1);
        T beta = betaIn.data[t * HV + hv];
        if (op.getBetaSigmoid())
          beta = sigmoid(beta);

        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j)
            S[i * V + j] *= decay[i];
        // The delta rule writes beta * (v - S^T k), the correction towards
        // v; the additive rule writes beta * v.
        for (int64_t j = 0; j < V; ++j) {
          T vj = vIn.data[(t * HV + hv) * V + j];
          if (delta)
            for (int64_t i = 0; i < K; ++i)
              vj -= S[i * V + j] * k[i];
          u[j] = beta * vj;
        }
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j)
            S[i * V + j] += k[i] * u[j];
        for (int64_t j = 0; j < V; ++j) {
          T acc = 0;
          for (int64_t i = 0; i < K; ++i)
            acc += S[i * V + j] * q[i];
          o.data[(t * HV + hv) * V + j] = scale * acc;
        }
      }

      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < V; ++j)
          finalState.data[slot + geo.stateIndex(i, j)] = S[i * V + j];
    }
  }
  env.bind(op.getO(), std::move(o));
  if (op.getFinalState())
    env.bind(op.getFinalState(), std::move(finalState));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::L2NormOp op, Env<T> &env) {
  const Tensor<T> &in = env[op.getInput()];
  if (in.rank() == 0)
    return opError(op, "needs an input of rank >= 1");
  Tensor<T> out = in;
  const int64_t width = in.shape.back();
  for (size_t row = 0; width > 0 && row < out.data.size(); row += width) {
    T ss = 0;
    for (int64_t i = 0; i < width; ++i)
      ss += out.data[row + i] * out.data[row + i];
    T norm = std::sqrt(ss + T(1e-6));
    for (int64_t i = 0; i < width; ++i)
      out.data[row + i] /= norm;
  }
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::SigmoidOp op, Env<T> &env) {
  Tensor<T> out = env[op.getInput()];
  for (T &x : out.data)
    x = sigmoid(x);
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::GateActivationOp op, Env<T> &env) {
  const Tensor<T> &in = env[op.getInput()];
  // [B, T, HV, K] is a channel gate, [B, T, HV] a scalar one.
  if (in.rank() != 3 && in.rank() != 4)
    return opError(op, "input has shape " + shapeString(in.shape) +
                           ", expected [B, T, HV, K] or [B, T, HV]");
  bool channel = in.rank() == 4;
  const int64_t HV = in.dim(2), K = channel ? in.dim(3) : 1;
  GateFn<T> fn;
  if (llvm::Error e = makeGateFn<T>(
          op,
          channel ? kda::GateGranularity::channel
                  : kda::GateGranularity::scalar,
          op.getActivation(),
          op.getLowerBoundAttr()
              ? std::optional<double>(op.getLowerBoundAttr().getValueAsDouble())
              : std::nullopt,
          &in, optional(env, op.getALog()), optional(env, op.getDtBias()), HV,
          K, fn))
    return e;
  Tensor<T> out = in;
  const int64_t rows = in.dim(0) * in.dim(1);
  for (int64_t t = 0; t < rows; ++t)
    for (int64_t hv = 0; hv < HV; ++hv)
      for (int64_t i = 0; i < K; ++i)
        out.data[(t * HV + hv) * K + i] = fn(t, hv, i);
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template struct kdac::interp::Evaluator<double>;
template struct kdac::interp::Evaluator<float>;
