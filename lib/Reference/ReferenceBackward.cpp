//===- ReferenceBackward.cpp - fp64 gradients of the KDA recurrence -------===//
//
// Reverse mode by hand over the same token-by-token recurrence as
// Reference.cpp, every quantity in double. Per (sequence, value head) the
// forward runs once keeping the state every C ~ sqrt(length) tokens; the
// backward then walks the segments last to first, recomputes each segment's
// per-token states from its checkpoint and carries dL/dS back through them.
// That keeps memory at O(sqrt(T) K V) per head (all states of a 32k-token
// K = V = 128 sequence would be 4 GiB) at the cost of a second forward, and
// the gradients stay exact: recomputation replays the same arithmetic.
//
// One token, with S_a = Diag(exp(g)) S_prev, w = v - S_a^T k (delta rule) or
// v (additive), u = beta w, S = S_a + k u^T, o = scale S^T q, and dS = dL/dS
// arriving from the later tokens and final_state:
//
//   dS   += scale q do^T                  dq  = scale S do
//   du    = dS^T k                        dk  = dS u
//   dbeta = du . w                        dv  = beta du
//   delta rule only: dS_a = dS - beta k du^T, dk -= beta S_a du
//   dg_i  = sum_j dS_a[i, j] S_a[i, j]    (S_a[i, :] = exp(g_i) S_prev[i, :])
//   dS_prev = Diag(exp(g)) dS_a
//
// The prologue's chain rule (L2 norm, gate activation, beta sigmoid) then
// maps these gradients of the activated values back to the raw inputs.
//
//===----------------------------------------------------------------------===//
#include "kdac/Reference/ReferenceBackward.h"

#include "Activations.h"

#include "llvm/ADT/Twine.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

using namespace kdac;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::make_error<llvm::StringError>(msg.str(),
                                             llvm::inconvertibleErrorCode());
}

using reference::sigmoid;
using reference::softplus;

/// PyTorch's softplus gradient: 1 above the threshold, sigmoid(x) below.
static double softplusDerivative(double x) {
  return x > 20.0 ? 1.0 : sigmoid(x);
}

/// sigmoid'(x) = sigmoid(x) sigmoid(-x), which unlike s (1 - s) keeps its
/// relative precision for large |x|.
static double sigmoidDerivative(double x) { return sigmoid(x) * sigmoid(-x); }

namespace {

/// One token of one value head after the fused prologue, with the local
/// derivatives the chain rule back to the raw inputs needs.
struct Token {
  std::vector<double> q, k;  // [K], L2-normalised when the spec fuses it
  std::vector<double> decay; // [K], exp(log-decay) of each state row
  // One entry per gate value: K for a channel gate, 1 for a scalar gate, 0
  // for gate none.
  std::vector<double> dLogDecayDRaw;  // d log-decay / d g (= d / d dt_bias)
  std::vector<double> dLogDecayDALog; // d log-decay / d A_log[hv]
  double beta = 0.0;
  double dBetaDRaw = 1.0; // d beta / d raw beta
};

/// The backward of one problem: sizes, indexing and the gradient arrays the
/// heads accumulate into.
class Backward {
public:
  Backward(const KernelSpec &spec, const KdaInputs &in,
           const KdaCotangents &cot)
      : spec(spec), in(in), cot(cot), T(in.T), H(spec.H), HV(spec.HV),
        K(spec.K), V(spec.V), groupSize(spec.HV / spec.H),
        numGates(spec.gate == GateGranularity::Channel  ? spec.K
                 : spec.gate == GateGranularity::Scalar ? 1
                                                        : 0),
        scale(spec.effectiveScale()) {
    const int64_t B = in.B, N = numSequences(spec, in);
    grads.dq.assign(B * T * H * K, 0.0);
    grads.dk.assign(B * T * H * K, 0.0);
    grads.dv.assign(B * T * HV * V, 0.0);
    grads.dg.assign(B * T * HV * numGates, 0.0);
    grads.dbeta.assign(B * T * HV, 0.0);
    if (spec.hasALog)
      grads.dALog.assign(HV, 0.0);
    if (spec.hasDtBias)
      grads.dDtBias.assign(HV * numGates, 0.0);
    if (spec.hasInitialState)
      grads.dInitialState.assign(N * HV * K * V, 0.0);
  }

  /// Accumulates the gradients of sequence \p n, value head \p hv.
  void runHead(int64_t n, int64_t hv);
  /// Maps dq, dk from the normalised to the raw q, k (after every head,
  /// since GVA sums the heads of a group first).
  void finishL2Norm();

  KdaGradients grads;

private:
  /// Offset of element (i over K, j over V) in one state slot.
  int64_t stateIndex(int64_t i, int64_t j) const {
    return spec.stateLayout == StateLayout::VK ? j * K + i : i * V + j;
  }
  void prologue(int64_t t, int64_t hv, Token &tok) const;
  void advance(const Token &tok, const double *v, double *S, double *w,
               double *u, double *sDecayed) const;
  void backwardToken(int64_t t, int64_t hv, const Token &tok,
                     const double *sPrev, std::vector<double> &dS);

  const KernelSpec &spec;
  const KdaInputs &in;
  const KdaCotangents &cot;
  const int64_t T, H, HV, K, V, groupSize, numGates;
  const double scale;
  // Scratch of one token's backward: S_a, S, w, u, du.
  std::vector<double> sDecayed, sAfter, w, u, du;
};
} // namespace

/// Token row \p t (of the flattened [B*T] axis), value head \p hv, through
/// the fused prologue: the same operations as runReference, plus their
/// derivatives.
void Backward::prologue(int64_t t, int64_t hv, Token &tok) const {
  const int64_t h = hv / groupSize;
  tok.q.assign(&in.q[(t * H + h) * K], &in.q[(t * H + h) * K] + K);
  tok.k.assign(&in.k[(t * H + h) * K], &in.k[(t * H + h) * K] + K);
  if (spec.qkL2Norm) {
    double qq = 0.0, kk = 0.0;
    for (int64_t i = 0; i < K; ++i) {
      qq += tok.q[i] * tok.q[i];
      kk += tok.k[i] * tok.k[i];
    }
    double qn = std::sqrt(qq + 1e-6), kn = std::sqrt(kk + 1e-6);
    for (int64_t i = 0; i < K; ++i) {
      tok.q[i] /= qn;
      tok.k[i] /= kn;
    }
  }

  tok.decay.assign(K, 1.0);
  tok.dLogDecayDRaw.assign(numGates, 1.0);
  tok.dLogDecayDALog.assign(numGates, 0.0);
  const bool channel = spec.gate == GateGranularity::Channel;
  for (int64_t e = 0; e < numGates; ++e) {
    double x = in.g[(t * HV + hv) * numGates + e];
    double logDecay = x;
    if (spec.activation != GateActivation::None) {
      if (spec.hasDtBias)
        x += in.dtBias[hv * numGates + e];
      double a = spec.hasALog ? std::exp(in.aLog[hv]) : 1.0;
      if (spec.activation == GateActivation::Softplus) {
        // -a softplus(x): d/dx = -a softplus'(x), d/dA_log = itself
        // (da/dA_log = a).
        logDecay = -a * softplus(x);
        tok.dLogDecayDRaw[e] = -a * softplusDerivative(x);
        tok.dLogDecayDALog[e] = logDecay;
      } else {
        // lb sigmoid(a x): d/dx = lb sigmoid'(a x) a, d/dA_log = that * x.
        double lb = *spec.lowerBound;
        logDecay = lb * sigmoid(a * x);
        tok.dLogDecayDRaw[e] = lb * sigmoidDerivative(a * x) * a;
        tok.dLogDecayDALog[e] = tok.dLogDecayDRaw[e] * x;
      }
    }
    double decay = std::exp(logDecay);
    if (channel)
      tok.decay[e] = decay;
    else
      std::fill(tok.decay.begin(), tok.decay.end(), decay);
  }

  double b = in.beta[t * HV + hv];
  tok.beta = spec.betaSigmoid ? sigmoid(b) : b;
  tok.dBetaDRaw = spec.betaSigmoid ? sigmoidDerivative(b) : 1.0;
}

/// One token of the recurrence on \p S (K x V, row-major, in place): S <-
/// Diag(decay) S, w = v - S^T k (delta) or v (additive), u = beta w, S += k
/// u^T. When \p sDecayed is given it receives the decayed state.
void Backward::advance(const Token &tok, const double *v, double *S, double *w,
                       double *u, double *sDecayed) const {
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j < V; ++j)
      S[i * V + j] *= tok.decay[i];
  if (sDecayed)
    std::copy(S, S + K * V, sDecayed);
  for (int64_t j = 0; j < V; ++j) {
    double wj = v[j];
    if (spec.update == UpdateRule::Delta)
      for (int64_t i = 0; i < K; ++i)
        wj -= S[i * V + j] * tok.k[i];
    w[j] = wj;
    u[j] = tok.beta * wj;
  }
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j < V; ++j)
      S[i * V + j] += tok.k[i] * u[j];
}

/// Takes \p dS from dL/dS_t to dL/dS_{t-1} across token \p t, whose entering
/// state is \p sPrev, and writes or accumulates the token's gradients (see
/// the file comment for the formulas).
void Backward::backwardToken(int64_t t, int64_t hv, const Token &tok,
                             const double *sPrev, std::vector<double> &dS) {
  const int64_t h = hv / groupSize;
  const double *v = &in.v[(t * HV + hv) * V];
  const double *dO = &cot.dO[(t * HV + hv) * V];
  sAfter.assign(sPrev, sPrev + K * V);
  advance(tok, v, sAfter.data(), w.data(), u.data(), sDecayed.data());

  // o = scale S^T q.
  double *dq = &grads.dq[(t * H + h) * K];
  for (int64_t i = 0; i < K; ++i) {
    double acc = 0.0;
    for (int64_t j = 0; j < V; ++j) {
      acc += sAfter[i * V + j] * dO[j];
      dS[i * V + j] += scale * tok.q[i] * dO[j];
    }
    dq[i] += scale * acc;
  }

  // S = S_a + k u^T.
  double *dk = &grads.dk[(t * H + h) * K];
  for (int64_t j = 0; j < V; ++j) {
    double acc = 0.0;
    for (int64_t i = 0; i < K; ++i)
      acc += dS[i * V + j] * tok.k[i];
    du[j] = acc;
  }
  for (int64_t i = 0; i < K; ++i) {
    double acc = 0.0;
    for (int64_t j = 0; j < V; ++j)
      acc += dS[i * V + j] * u[j];
    dk[i] += acc;
  }

  // u = beta w, w = v - S_a^T k (delta) or v.
  double dBeta = 0.0;
  for (int64_t j = 0; j < V; ++j) {
    dBeta += du[j] * w[j];
    grads.dv[(t * HV + hv) * V + j] = tok.beta * du[j];
  }
  grads.dbeta[t * HV + hv] = dBeta * tok.dBetaDRaw;
  if (spec.update == UpdateRule::Delta) {
    for (int64_t i = 0; i < K; ++i) {
      double acc = 0.0;
      for (int64_t j = 0; j < V; ++j) {
        acc += sDecayed[i * V + j] * du[j];
        dS[i * V + j] -= tok.beta * tok.k[i] * du[j];
      }
      dk[i] -= tok.beta * acc;
    }
  }

  // S_a = Diag(exp(g)) S_prev: the log-decay's gradient, then its chain
  // rule through the activation (a scalar gate sums over the rows).
  if (numGates > 0) {
    std::vector<double> dLogDecay(numGates, 0.0);
    for (int64_t i = 0; i < K; ++i) {
      double acc = 0.0;
      for (int64_t j = 0; j < V; ++j)
        acc += dS[i * V + j] * sDecayed[i * V + j];
      dLogDecay[spec.gate == GateGranularity::Channel ? i : 0] += acc;
    }
    for (int64_t e = 0; e < numGates; ++e) {
      double dRaw = dLogDecay[e] * tok.dLogDecayDRaw[e];
      grads.dg[(t * HV + hv) * numGates + e] = dRaw;
      if (spec.hasDtBias)
        grads.dDtBias[hv * numGates + e] += dRaw;
      if (spec.hasALog)
        grads.dALog[hv] += dLogDecay[e] * tok.dLogDecayDALog[e];
    }
  }
  for (int64_t i = 0; i < K; ++i)
    for (int64_t j = 0; j < V; ++j)
      dS[i * V + j] *= tok.decay[i];
}

void Backward::runHead(int64_t n, int64_t hv) {
  const int64_t bos = spec.varlen ? in.cuSeqlens[n] : n * T;
  const int64_t eos = spec.varlen ? in.cuSeqlens[n + 1] : (n + 1) * T;
  const int64_t len = eos - bos, slot = (n * HV + hv) * K * V, KV = K * V;
  // Segments of C tokens; checkpoint s is the state entering token
  // bos + s * C.
  const int64_t C = std::max<int64_t>(
      1, int64_t(std::ceil(std::sqrt(double(std::max<int64_t>(len, 1))))));
  const int64_t numSegments = (len + C - 1) / C;
  sDecayed.resize(KV);
  w.resize(V);
  u.resize(V);
  du.resize(V);

  // S is kept in [K, V] order; the layout only affects I/O.
  std::vector<double> S(KV, 0.0);
  if (spec.hasInitialState)
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < V; ++j)
        S[i * V + j] = in.initialState[slot + stateIndex(i, j)];
  std::vector<double> checkpoints(numSegments * KV);
  Token tok;
  for (int64_t s = 0; s < numSegments; ++s) {
    std::copy(S.begin(), S.end(), &checkpoints[s * KV]);
    for (int64_t t = bos + s * C; t < std::min(eos, bos + (s + 1) * C); ++t) {
      prologue(t, hv, tok);
      advance(tok, &in.v[(t * HV + hv) * V], S.data(), w.data(), u.data(),
              nullptr);
    }
  }

  std::vector<double> dS(KV, 0.0);
  if (!cot.dFinalState.empty())
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < V; ++j)
        dS[i * V + j] = cot.dFinalState[slot + stateIndex(i, j)];
  // states[r] = the state entering token begin + r of the current segment.
  std::vector<double> states(C * KV);
  for (int64_t s = numSegments - 1; s >= 0; --s) {
    const int64_t begin = bos + s * C, end = std::min(eos, begin + C);
    std::copy(&checkpoints[s * KV], &checkpoints[s * KV] + KV, S.begin());
    for (int64_t t = begin; t < end; ++t) {
      std::copy(S.begin(), S.end(), &states[(t - begin) * KV]);
      prologue(t, hv, tok);
      advance(tok, &in.v[(t * HV + hv) * V], S.data(), w.data(), u.data(),
              nullptr);
    }
    for (int64_t t = end - 1; t >= begin; --t) {
      prologue(t, hv, tok);
      backwardToken(t, hv, tok, &states[(t - begin) * KV], dS);
    }
  }

  if (spec.hasInitialState)
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < V; ++j)
        grads.dInitialState[slot + stateIndex(i, j)] = dS[i * V + j];
}

/// x_hat = x / r with r = sqrt(|x|^2 + eps): dx = (dx_hat - x_hat (x_hat .
/// dx_hat)) / r.
void Backward::finishL2Norm() {
  if (!spec.qkL2Norm)
    return;
  for (auto [raw, grad] :
       {std::pair<const std::vector<double> *, std::vector<double> *>{
            &in.q, &grads.dq},
        {&in.k, &grads.dk}}) {
    for (int64_t row = 0; row < in.B * T * H; ++row) {
      const double *x = &(*raw)[row * K];
      double *dx = &(*grad)[row * K];
      double xx = 0.0;
      for (int64_t i = 0; i < K; ++i)
        xx += x[i] * x[i];
      double r = std::sqrt(xx + 1e-6), dot = 0.0;
      for (int64_t i = 0; i < K; ++i)
        dot += x[i] / r * dx[i];
      for (int64_t i = 0; i < K; ++i)
        dx[i] = (dx[i] - x[i] / r * dot) / r;
    }
  }
}

llvm::Expected<KdaGradients>
kdac::runReferenceBackward(const KernelSpec &spec, const KdaInputs &in,
                           const KdaCotangents &cot) {
  if (llvm::Error e = checkInputs(spec, in))
    return std::move(e);
  const int64_t N = numSequences(spec, in);
  const int64_t oSize = in.B * in.T * spec.HV * spec.V;
  const int64_t stateSize = N * spec.HV * spec.K * spec.V;
  if (int64_t(cot.dO.size()) != oSize)
    return fail("dO has " + llvm::Twine(uint64_t(cot.dO.size())) +
                " elements, expected B*T*HV*V = " + llvm::Twine(oSize));
  if (!cot.dFinalState.empty() && int64_t(cot.dFinalState.size()) != stateSize)
    return fail("dFinalState has " +
                llvm::Twine(uint64_t(cot.dFinalState.size())) +
                " elements, expected 0 (no final-state cotangent) or "
                "N*HV*K*V = " +
                llvm::Twine(stateSize));

  Backward backward(spec, in, cot);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t hv = 0; hv < spec.HV; ++hv)
      backward.runHead(n, hv);
  backward.finishL2Norm();
  return std::move(backward.grads);
}

KdaCotangents kdac::makeRandomCotangents(const KernelSpec &spec,
                                         const KdaInputs &in, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  KdaCotangents cot;
  cot.dO.resize(in.B * in.T * spec.HV * spec.V);
  for (double &x : cot.dO)
    x = normal(rng);
  if (spec.hasFinalState) {
    cot.dFinalState.resize(numSequences(spec, in) * spec.HV * spec.K * spec.V);
    for (double &x : cot.dFinalState)
      x = normal(rng);
  }
  return cot;
}
