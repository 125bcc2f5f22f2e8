//===- Reference.cpp - fp64 oracle for the KDA recurrence -----------------===//
//
// Deliberately the plainest form of the recurrence: one token at a time, one
// value head at a time, every quantity in double. Its only job is to be
// obviously right; speed does not matter (the largest golden case runs in
// milliseconds).
//
//===----------------------------------------------------------------------===//
#include "kdac/Reference/Reference.h"

#include "Activations.h"

#include "kdac/Spec/Limits.h"

#include "llvm/ADT/Twine.h"

#include <cmath>
#include <limits>

using namespace kdac;

static llvm::Error fail(const llvm::Twine &msg) {
  return llvm::make_error<llvm::StringError>(msg.str(),
                                             llvm::inconvertibleErrorCode());
}

using reference::sigmoid;
using reference::softplus;

int64_t kdac::numSequences(const KernelSpec &spec, const KdaInputs &in) {
  if (spec.varlen)
    return in.cuSeqlens.empty() ? 0 : int64_t(in.cuSeqlens.size()) - 1;
  return in.B;
}

double kdac::relativeError(const std::vector<double> &x,
                           const std::vector<double> &ref) {
  if (x.size() != ref.size())
    return std::numeric_limits<double>::infinity();
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    diff += (x[i] - ref[i]) * (x[i] - ref[i]);
    norm += ref[i] * ref[i];
  }
  return norm == 0.0 ? std::sqrt(diff) : std::sqrt(diff / norm);
}

/// Checks one array's size; \p formula names the expected size for the
/// message ("B*T*H*K").
static llvm::Error checkSize(const char *name, size_t got, int64_t expected,
                             const char *formula) {
  if (int64_t(got) == expected)
    return llvm::Error::success();
  return fail(llvm::Twine(name) + " has " + llvm::Twine(uint64_t(got)) +
              " elements, expected " + formula + " = " + llvm::Twine(expected));
}

llvm::Error kdac::checkProblemSize(const KernelSpec &spec, int64_t B,
                                   int64_t T, int64_t N) {
  using limits::checkedAdd;
  using limits::checkedMul;
  // Each tensor's element count as a product of its dims; nothing on overflow.
  auto product = [](std::initializer_list<int64_t> dims) {
    std::optional<int64_t> n = 1;
    for (int64_t d : dims)
      n = n ? checkedMul(*n, d) : std::nullopt;
    return n;
  };
  const int64_t H = spec.H, HV = spec.HV, K = spec.K, V = spec.V;
  std::optional<int64_t> qk = product({B, T, H, K});
  std::optional<int64_t> vo = product({B, T, HV, V});
  std::optional<int64_t> gate = product({B, T, HV, K});
  std::optional<int64_t> state = product({N, HV, K, V});
  std::optional<int64_t> total = 0;
  // q, k, v, o, g, beta, and the initial and final states.
  for (std::optional<int64_t> n : {qk, qk, vo, vo, gate, product({B, T, HV}),
                                   state, state})
    total = total && n ? checkedAdd(*total, *n) : std::nullopt;
  if (total && *total <= limits::kMaxCaseElements)
    return llvm::Error::success();
  std::string size = total ? std::to_string(*total) + " elements"
                           : std::string("more elements than int64 counts");
  return fail("the problem (B=" + llvm::Twine(B) + ", T=" + llvm::Twine(T) +
              ", N=" + llvm::Twine(N) + ", H=" + llvm::Twine(H) + ", HV=" +
              llvm::Twine(HV) + ", K=" + llvm::Twine(K) + ", V=" +
              llvm::Twine(V) + ") needs " + size +
              ", over the oracle's limit of " +
              llvm::Twine(limits::kMaxCaseElements));
}

llvm::Error kdac::checkInputs(const KernelSpec &spec, const KdaInputs &in) {
  std::string specError = validate(spec);
  if (!specError.empty())
    return fail("invalid spec: " + specError);
  const int64_t B = in.B, T = in.T, H = spec.H, HV = spec.HV, K = spec.K,
                V = spec.V;
  if (B <= 0 || T < 0)
    return fail("inputs need B > 0 and T >= 0 (got B=" + llvm::Twine(B) +
                ", T=" + llvm::Twine(T) + ")");
  if (spec.B != kDynamic && spec.B != B)
    return fail("inputs have B=" + llvm::Twine(B) +
                " but the spec says B=" + llvm::Twine(spec.B));
  if (spec.T != kDynamic && spec.T != T)
    return fail("inputs have T=" + llvm::Twine(T) +
                " but the spec says T=" + llvm::Twine(spec.T));

  if (spec.varlen) {
    if (B != 1)
      return fail("varlen (cu_seqlens) requires B == 1, got B=" +
                  llvm::Twine(B));
    const std::vector<int64_t> &cu = in.cuSeqlens;
    if (cu.size() < 2)
      return fail("cu_seqlens needs at least 2 entries, got " +
                  llvm::Twine(uint64_t(cu.size())));
    if (cu.front() != 0)
      return fail("cu_seqlens must start at 0, got " + llvm::Twine(cu[0]));
    for (size_t i = 1; i < cu.size(); ++i)
      if (cu[i] < cu[i - 1])
        return fail("cu_seqlens must be non-decreasing, but cu_seqlens[" +
                    llvm::Twine(uint64_t(i)) + "] = " + llvm::Twine(cu[i]) +
                    " < cu_seqlens[" + llvm::Twine(uint64_t(i - 1)) +
                    "] = " + llvm::Twine(cu[i - 1]));
    if (cu.back() != T)
      return fail("cu_seqlens must end at T = " + llvm::Twine(T) + ", got " +
                  llvm::Twine(cu.back()));
  } else if (!in.cuSeqlens.empty()) {
    return fail("cu_seqlens given but the spec is not varlen");
  }
  const int64_t N = numSequences(spec, in);
  if (llvm::Error e = checkProblemSize(spec, B, T, N))
    return e;

  if (llvm::Error e = checkSize("q", in.q.size(), B * T * H * K, "B*T*H*K"))
    return e;
  if (llvm::Error e = checkSize("k", in.k.size(), B * T * H * K, "B*T*H*K"))
    return e;
  if (llvm::Error e = checkSize("v", in.v.size(), B * T * HV * V, "B*T*HV*V"))
    return e;
  switch (spec.gate) {
  case GateGranularity::None:
    if (llvm::Error e = checkSize("g", in.g.size(), 0, "0 (gate none)"))
      return e;
    break;
  case GateGranularity::Scalar:
    if (llvm::Error e =
            checkSize("g", in.g.size(), B * T * HV, "B*T*HV (scalar gate)"))
      return e;
    break;
  case GateGranularity::Channel:
    if (llvm::Error e = checkSize("g", in.g.size(), B * T * HV * K,
                                  "B*T*HV*K (channel gate)"))
      return e;
    break;
  }
  if (llvm::Error e = checkSize("beta", in.beta.size(), B * T * HV, "B*T*HV"))
    return e;
  if (llvm::Error e = checkSize("A_log", in.aLog.size(), spec.hasALog ? HV : 0,
                                spec.hasALog ? "HV" : "0 (no A_log)"))
    return e;
  bool channel = spec.gate == GateGranularity::Channel;
  if (llvm::Error e = checkSize("dt_bias", in.dtBias.size(),
                                spec.hasDtBias ? (channel ? HV * K : HV) : 0,
                                !spec.hasDtBias ? "0 (no dt_bias)"
                                : channel       ? "HV*K"
                                                : "HV"))
    return e;
  if (llvm::Error e =
          checkSize("initial_state", in.initialState.size(),
                    spec.hasInitialState ? N * HV * K * V : 0,
                    spec.hasInitialState ? "N*HV*K*V" : "0 (no initial state)"))
    return e;
  return llvm::Error::success();
}

void kdac::tokenPrologue(const KernelSpec &spec, const KdaInputs &in,
                         int64_t t, int64_t hv, TokenPrologue &out) {
  const int64_t H = spec.H, HV = spec.HV, K = spec.K;
  const int64_t h = hv / (HV / H);
  std::vector<double> &q = out.q, &k = out.k;
  q.resize(K);
  k.resize(K);
  out.logDecay.assign(K, 0.0);
  for (int64_t i = 0; i < K; ++i) {
    q[i] = in.q[(t * H + h) * K + i];
    k[i] = in.k[(t * H + h) * K + i];
  }
  if (spec.qkL2Norm) {
    double qq = 0.0, kk = 0.0;
    for (int64_t i = 0; i < K; ++i) {
      qq += q[i] * q[i];
      kk += k[i] * k[i];
    }
    double qn = std::sqrt(qq + 1e-6), kn = std::sqrt(kk + 1e-6);
    for (int64_t i = 0; i < K; ++i) {
      q[i] /= qn;
      k[i] /= kn;
    }
  }
  // Per-row log-decay of the state (all rows equal for a scalar gate).
  if (spec.gate != GateGranularity::None)
    for (int64_t i = 0; i < K; ++i) {
      bool channel = spec.gate == GateGranularity::Channel;
      double g = channel ? in.g[(t * HV + hv) * K + i] : in.g[t * HV + hv];
      if (spec.activation != GateActivation::None) {
        if (spec.hasDtBias)
          g += channel ? in.dtBias[hv * K + i] : in.dtBias[hv];
        double a = spec.hasALog ? std::exp(in.aLog[hv]) : 1.0;
        if (spec.activation == GateActivation::Softplus)
          g = -a * softplus(g);
        else
          g = *spec.lowerBound * sigmoid(a * g);
      }
      out.logDecay[i] = g;
    }
  out.beta = in.beta[t * HV + hv];
  if (spec.betaSigmoid)
    out.beta = sigmoid(out.beta);
}

llvm::Expected<KdaOutputs> kdac::runReference(const KernelSpec &spec,
                                              const KdaInputs &in) {
  if (llvm::Error e = checkInputs(spec, in))
    return std::move(e);

  const int64_t T = in.T, HV = spec.HV, K = spec.K, V = spec.V;
  const int64_t N = numSequences(spec, in);
  const double scale = spec.effectiveScale();
  const bool vk = spec.stateLayout == StateLayout::VK;
  // Offset of state element (i, j), i over K and j over V, in one [K, V] or
  // [V, K] state slot.
  auto stateIndex = [&](int64_t i, int64_t j) {
    return vk ? j * K + i : i * V + j;
  };

  KdaOutputs out;
  out.o.assign(in.B * T * HV * V, 0.0);
  out.finalState.assign(N * HV * K * V, 0.0);

  std::vector<double> S(K * V), q(K), k(K), decay(K), u(V);
  TokenPrologue prologue;
  for (int64_t n = 0; n < N; ++n) {
    // Tokens [bos, eos) of sequence n, as rows of the flattened [B*T] axis.
    int64_t bos = spec.varlen ? in.cuSeqlens[n] : n * T;
    int64_t eos = spec.varlen ? in.cuSeqlens[n + 1] : (n + 1) * T;
    for (int64_t hv = 0; hv < HV; ++hv) {
      const int64_t slot = (n * HV + hv) * K * V;
      // S is kept in [K, V] order here; the layout only affects I/O.
      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < V; ++j)
          S[i * V + j] = spec.hasInitialState
                             ? in.initialState[slot + stateIndex(i, j)]
                             : 0.0;

      for (int64_t t = bos; t < eos; ++t) {
        tokenPrologue(spec, in, t, hv, prologue);
        for (int64_t i = 0; i < K; ++i) {
          q[i] = prologue.q[i];
          k[i] = prologue.k[i];
          decay[i] = std::exp(prologue.logDecay[i]);
        }
        double beta = prologue.beta;

        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j)
            S[i * V + j] *= decay[i];
        // Delta rule: write beta * (v - S^T k), the correction towards v;
        // additive (GLA-style): write beta * v.
        for (int64_t j = 0; j < V; ++j) {
          double vj = in.v[(t * HV + hv) * V + j];
          if (spec.update == UpdateRule::Delta)
            for (int64_t i = 0; i < K; ++i)
              vj -= S[i * V + j] * k[i];
          u[j] = beta * vj;
        }
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j)
            S[i * V + j] += k[i] * u[j];
        for (int64_t j = 0; j < V; ++j) {
          double o = 0.0;
          for (int64_t i = 0; i < K; ++i)
            o += S[i * V + j] * q[i];
          out.o[(t * HV + hv) * V + j] = scale * o;
        }
      }

      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < V; ++j)
          out.finalState[slot + stateIndex(i, j)] = S[i * V + j];
    }
  }
  return out;
}
