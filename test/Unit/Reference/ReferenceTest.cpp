//===- ReferenceTest.cpp - Hand-computed checks of the fp64 oracle --------===//
//
// Every option of the recurrence on problems small enough (K, V <= 2, T <= 2)
// to work out on paper; the arithmetic is spelled out next to each expected
// value. Then input validation, and the property that packing sequences with
// cu_seqlens equals running each one alone.
//
//===----------------------------------------------------------------------===//
#include "kdac/Reference/Reference.h"
#include "kdac/Reference/Case.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace kdac;

namespace {

/// One head, gate none, delta rule, scale 1, f32: the base the tests modify.
KernelSpec tinySpec(int64_t K = 1, int64_t V = 1) {
  KernelSpec s;
  s.B = kDynamic;
  s.T = kDynamic;
  s.H = s.HV = 1;
  s.K = K;
  s.V = V;
  s.gate = GateGranularity::None;
  s.scale = 1.0;
  s.dtype = s.gateDType = s.betaDType = DType::F32;
  return s;
}

/// T = 2, K = V = 1: q = [1, 3], k = [1, 1], v = [2, 4], beta = [.5, .5].
KdaInputs baseInputs() {
  KdaInputs in;
  in.B = 1;
  in.T = 2;
  in.q = {1, 3};
  in.k = {1, 1};
  in.v = {2, 4};
  in.beta = {0.5, 0.5};
  return in;
}

KdaOutputs run(const KernelSpec &spec, const KdaInputs &in) {
  llvm::Expected<KdaOutputs> out = runReference(spec, in);
  if (!out) {
    ADD_FAILURE() << llvm::toString(out.takeError());
    return {};
  }
  return std::move(*out);
}

std::string errorOf(const KernelSpec &spec, const KdaInputs &in) {
  llvm::Expected<KdaOutputs> out = runReference(spec, in);
  if (out)
    return "<unexpected success>";
  return llvm::toString(out.takeError());
}

using Vec = std::vector<double>;

void expectNear(const Vec &got, const Vec &want, double tol = 1e-14) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

} // namespace

TEST(Reference, DeltaGateNone) {
  // t1: u = .5 (2 - 0) = 1,  S = 1,          o = 1 * 1 = 1
  // t2: u = .5 (4 - 1) = 1.5, S = 1 + 1.5 = 2.5, o = 3 * 2.5 = 7.5
  KdaOutputs out = run(tinySpec(), baseInputs());
  expectNear(out.o, {1.0, 7.5});
  expectNear(out.finalState, {2.5});
}

TEST(Reference, AdditiveGateNone) {
  // GLA-style, still scaled by beta: S = .5*2 = 1, o = 1; S = 1 + .5*4 = 3,
  // o = 9.
  KernelSpec s = tinySpec();
  s.update = UpdateRule::Additive;
  KdaOutputs out = run(s, baseInputs());
  expectNear(out.o, {1.0, 9.0});
  expectNear(out.finalState, {3.0});
}

TEST(Reference, ScalarGate) {
  // g = [0, log .5]: t1 as before (S = 1); t2: S = .5, then
  // delta:    u = .5 (4 - .5) = 1.75, S = 2.25, o = 6.75
  // additive: S = .5 + .5*4 = 2.5,   o = 7.5
  KernelSpec s = tinySpec();
  s.gate = GateGranularity::Scalar;
  KdaInputs in = baseInputs();
  in.g = {0.0, std::log(0.5)};
  KdaOutputs out = run(s, in);
  expectNear(out.o, {1.0, 6.75});
  expectNear(out.finalState, {2.25});
  s.update = UpdateRule::Additive;
  out = run(s, in);
  expectNear(out.o, {1.0, 7.5});
  expectNear(out.finalState, {2.5});
}

TEST(Reference, ScalarGateDecaysEveryRow) {
  // K = 2: one scalar per token must decay both rows. S0 = (2, 4), g = log .5
  // -> S = (1, 2); k = (1, 0), v = 3, beta = 1: u = 3 - 1 = 2, S = (3, 2);
  // q = (1, 1): o = 5.
  KernelSpec s = tinySpec(2, 1);
  s.gate = GateGranularity::Scalar;
  s.hasInitialState = true;
  KdaInputs in;
  in.T = 1;
  in.q = {1, 1};
  in.k = {1, 0};
  in.v = {3};
  in.beta = {1};
  in.g = {std::log(0.5)};
  in.initialState = {2, 4};
  KdaOutputs out = run(s, in);
  expectNear(out.o, {5.0});
  expectNear(out.finalState, {3.0, 2.0});
}

TEST(Reference, ChannelGate) {
  // K = 2, V = 1, scale 1.
  // t1: g = (0, 0), k = (1, 0), v = 2, beta = 1: u = 2, S = (2, 0);
  //     q = (1, 1): o = 2.
  // t2: g = (log .5, log .25): S = (1, 0); k = (.6, .8), v = 1, beta = 1:
  //     S^T k = .6, u = .4, S = (1 + .24, .32); q = (1, 2): o = 1.24 + .64.
  KernelSpec s = tinySpec(2, 1);
  s.gate = GateGranularity::Channel;
  KdaInputs in;
  in.T = 2;
  in.q = {1, 1, 1, 2};
  in.k = {1, 0, 0.6, 0.8};
  in.v = {2, 1};
  in.beta = {1, 1};
  in.g = {0, 0, std::log(0.5), std::log(0.25)};
  KdaOutputs out = run(s, in);
  expectNear(out.o, {2.0, 1.88});
  expectNear(out.finalState, {1.24, 0.32});
}

namespace {
/// K = V = 1, T = 1, channel gate with a fused activation; S0 = 4, k = q = 1,
/// v = 3, beta = .5. With decay a: S = 4a, u = .5 (3 - 4a), o = S + u.
double fusedExpected(double decay) {
  double S = 4.0 * decay;
  return S + 0.5 * (3.0 - S);
}
KdaInputs fusedInputs(double gRaw) {
  KdaInputs in;
  in.T = 1;
  in.q = {1};
  in.k = {1};
  in.v = {3};
  in.beta = {0.5};
  in.g = {gRaw};
  in.initialState = {4};
  return in;
}
KernelSpec fusedSpec(GateActivation act) {
  KernelSpec s = tinySpec();
  s.gate = GateGranularity::Channel;
  s.activation = act;
  s.hasInitialState = true;
  return s;
}
} // namespace

TEST(Reference, SoftplusGate) {
  // g = -exp(A_log) softplus(g + dt_bias) = -2 softplus(1 - 1) = -2 log 2:
  // decay .25, S = 1, u = .5 (3 - 1) = 1, o = 2.
  KernelSpec s = fusedSpec(GateActivation::Softplus);
  s.hasALog = s.hasDtBias = true;
  KdaInputs in = fusedInputs(1.0);
  in.aLog = {std::log(2.0)};
  in.dtBias = {-1.0};
  KdaOutputs out = run(s, in);
  expectNear(out.o, {2.0});
  expectNear(out.finalState, {2.0});

  // Above FLA's threshold 20 softplus is the identity: g = -(30 - 1).
  in.g = {30.0};
  in.aLog = {0.0};
  out = run(s, in);
  expectNear(out.o, {fusedExpected(std::exp(-29.0))});
  EXPECT_NE(out.o[0], fusedExpected(0.0)); // the decay is tiny, not zero

  // Without dt_bias: g = -softplus(0.5).
  s.hasDtBias = false;
  in.dtBias.clear();
  in.g = {0.5};
  out = run(s, in);
  expectNear(out.o, {fusedExpected(std::exp(-std::log1p(std::exp(0.5))))});
}

TEST(Reference, LowerBoundGateWithALog) {
  // g = lb sigmoid(exp(A_log) (g + dt_bias)) = -2 sigmoid(2 * .75).
  KernelSpec s = fusedSpec(GateActivation::LowerBound);
  s.lowerBound = -2.0;
  s.hasALog = s.hasDtBias = true;
  KdaInputs in = fusedInputs(0.5);
  in.aLog = {std::log(2.0)};
  in.dtBias = {0.25};
  KdaOutputs out = run(s, in);
  expectNear(out.o, {fusedExpected(std::exp(-2.0 * sigmoid(1.5)))});
}

TEST(Reference, LowerBoundGateWithoutALog) {
  // Without A_log: g = lb sigmoid(g + dt_bias) = -2 sigmoid(.75).
  KernelSpec s = fusedSpec(GateActivation::LowerBound);
  s.lowerBound = -2.0;
  s.hasDtBias = true;
  KdaInputs in = fusedInputs(0.5);
  in.dtBias = {0.25};
  KdaOutputs out = run(s, in);
  expectNear(out.o, {fusedExpected(std::exp(-2.0 * sigmoid(0.75)))});
  // And without dt_bias either: -2 sigmoid(.5).
  s.hasDtBias = false;
  in.dtBias.clear();
  out = run(s, in);
  expectNear(out.o, {fusedExpected(std::exp(-2.0 * sigmoid(0.5)))});
}

TEST(Reference, BetaSigmoid) {
  // Raw logits 0 -> beta .5: the base delta case, o = [1, 7.5].
  KernelSpec s = tinySpec();
  s.betaSigmoid = true;
  KdaInputs in = baseInputs();
  in.beta = {0.0, 0.0};
  expectNear(run(s, in).o, {1.0, 7.5});
  // Logit log 3 -> beta .75: u = .75 * 2 = 1.5, o = 1.5.
  in.beta = {std::log(3.0), 0.0};
  EXPECT_NEAR(run(s, in).o[0], 1.5, 1e-14);
}

TEST(Reference, QkL2Norm) {
  // q = (3, 4), k = (0, 2), v = 1, beta = 1, K = 2: the norms include the
  // 1e-6: kn = k / sqrt(4 + 1e-6), qn = q / sqrt(25 + 1e-6);
  // S = kn * 1, o = qn . S = 4 / sqrt(25 + 1e-6) * 2 / sqrt(4 + 1e-6)
  // (0.8 without the epsilon; the difference, 1.2e-7, is far above tol).
  KernelSpec s = tinySpec(2, 1);
  s.qkL2Norm = true;
  KdaInputs in;
  in.T = 1;
  in.q = {3, 4};
  in.k = {0, 2};
  in.v = {1};
  in.beta = {1};
  KdaOutputs out = run(s, in);
  expectNear(out.o,
             {4.0 / std::sqrt(25.0 + 1e-6) * 2.0 / std::sqrt(4.0 + 1e-6)},
             1e-15);
  expectNear(out.finalState, {0.0, 2.0 / std::sqrt(4.0 + 1e-6)}, 1e-15);
}

TEST(Reference, CustomAndDefaultScale) {
  KernelSpec s = tinySpec();
  s.scale = 0.25;
  expectNear(run(s, baseInputs()).o, {0.25, 1.875});
  // Default K^-1/2 with K = 4: k = e0, q = 2 e0, v = 3, beta = 1: S = 3 e0,
  // o = .5 * 6 = 3.
  s = tinySpec(4, 1);
  s.scale.reset();
  KdaInputs in;
  in.T = 1;
  in.q = {2, 0, 0, 0};
  in.k = {1, 0, 0, 0};
  in.v = {3};
  in.beta = {1};
  expectNear(run(s, in).o, {3.0});
}

TEST(Reference, InitialStateBothLayouts) {
  // K = V = 2, S0 = [[1, 2], [3, 4]] (rows over K). k = (1, 0), v = (5, 6),
  // beta = 1: S^T k = (1, 2), u = (4, 4), S = [[5, 6], [3, 4]];
  // q = (0, 1): o = row 1 = (3, 4). Reading S0 in the wrong layout would
  // give u = (4, 3) and o = (2, 4).
  KernelSpec s = tinySpec(2, 2);
  s.hasInitialState = true;
  KdaInputs in;
  in.T = 1;
  in.q = {0, 1};
  in.k = {1, 0};
  in.v = {5, 6};
  in.beta = {1};
  in.initialState = {1, 2, 3, 4};
  KdaOutputs out = run(s, in);
  expectNear(out.o, {3, 4});
  expectNear(out.finalState, {5, 6, 3, 4});

  s.stateLayout = StateLayout::VK;
  in.initialState = {1, 3, 2, 4}; // the same S0, [V, K]
  out = run(s, in);
  expectNear(out.o, {3, 4});
  expectNear(out.finalState, {5, 3, 6, 4});
}

TEST(Reference, GroupedValueHeads) {
  // HV = 2, H = 1: both value heads read q = 2, k = 1.
  // head 0: v = 3, beta = 1:  S = 3,   o = 6
  // head 1: v = 5, beta = .5: S = 2.5, o = 5
  KernelSpec s = tinySpec();
  s.HV = 2;
  KdaInputs in;
  in.T = 1;
  in.q = {2};
  in.k = {1};
  in.v = {3, 5};
  in.beta = {1, 0.5};
  KdaOutputs out = run(s, in);
  expectNear(out.o, {6, 5});
  expectNear(out.finalState, {3, 2.5});

  // H = 2, HV = 4: value head hv reads q/k head hv / 2 (not hv % 2).
  s.H = 2;
  s.HV = 4;
  in.q = {1, 10};
  in.k = {1, 1};
  in.v = {1, 1, 1, 1};
  in.beta = {1, 1, 1, 1};
  expectNear(run(s, in).o, {1, 1, 10, 10});
}

TEST(Reference, BatchRowsAreIndependent) {
  // B = 2, T = 1, S0 = (1 | 10): row b decays nothing, k = q = 1, v = 0,
  // beta = .5: u = -.5 S0, S = .5 S0, o = (.5, 5).
  KernelSpec s = tinySpec();
  s.hasInitialState = true;
  KdaInputs in;
  in.B = 2;
  in.T = 1;
  in.q = {1, 1};
  in.k = {1, 1};
  in.v = {0, 0};
  in.beta = {0.5, 0.5};
  in.initialState = {1, 10};
  KdaOutputs out = run(s, in);
  expectNear(out.o, {0.5, 5});
  expectNear(out.finalState, {0.5, 5});
}

TEST(Reference, EmptySequenceKeepsInitialState) {
  KernelSpec s = tinySpec();
  s.varlen = true;
  s.B = 1; // varlen specs say B == 1
  s.hasInitialState = true;
  KdaInputs in = baseInputs();
  in.cuSeqlens = {0, 0, 2}; // sequence 0 is empty
  in.initialState = {7, 0};
  KdaOutputs out = run(s, in);
  expectNear(out.o, {1.0, 7.5});
  expectNear(out.finalState, {7, 2.5});
}

TEST(Reference, ValidationErrors) {
  auto expectError = [](const KernelSpec &s, const KdaInputs &in,
                        const std::string &needle) {
    std::string msg = errorOf(s, in);
    EXPECT_NE(msg.find(needle), std::string::npos) << "got: " << msg;
  };
  KernelSpec s = tinySpec(32, 1);
  s.H = s.HV = 2;
  KdaInputs in;
  in.T = 2;
  in.q.assign(100, 0.0);
  expectError(s, in, "q has 100 elements, expected B*T*H*K = 128");
  in.q.assign(128, 0.0);
  in.k.assign(128, 0.0);
  in.v.assign(4, 0.0);
  in.beta.assign(3, 0.0);
  expectError(s, in, "beta has 3 elements, expected B*T*HV = 4");
  in.beta.assign(4, 0.0);
  EXPECT_EQ(errorOf(s, in), "<unexpected success>");
  s.gate = GateGranularity::Channel;
  expectError(s, in,
              "g has 0 elements, expected B*T*HV*K (channel gate) = 128");
  s.gate = GateGranularity::None;
  s.hasInitialState = true;
  expectError(s, in, "initial_state has 0 elements, expected N*HV*K*V = 64");
  s.hasInitialState = false;
  s.T = 3;
  expectError(s, in, "inputs have T=2 but the spec says T=3");
  s.T = kDynamic;
  s.HV = 3;
  expectError(s, in, "invalid spec: HV (3) must be a multiple of H (2)");

  KernelSpec v = tinySpec();
  v.varlen = true;
  v.B = 1;
  KdaInputs vin = baseInputs();
  vin.cuSeqlens = {1, 2};
  expectError(v, vin, "cu_seqlens must start at 0");
  vin.cuSeqlens = {0, 2, 1, 2};
  expectError(v, vin, "cu_seqlens must be non-decreasing, but cu_seqlens[2]");
  vin.cuSeqlens = {0, 1};
  expectError(v, vin, "cu_seqlens must end at T = 2, got 1");
  vin.cuSeqlens = {0};
  expectError(v, vin, "cu_seqlens needs at least 2 entries");
  vin.cuSeqlens.clear();
  expectError(
      tinySpec(),
      [&] {
        KdaInputs x = baseInputs();
        x.cuSeqlens = {0, 2};
        return x;
      }(),
      "cu_seqlens given but the spec is not varlen");
}

namespace {
/// Slices sequence [bos, eos) of a varlen case into a standalone B = 1 case.
KdaInputs sliceSequence(const KernelSpec &spec, const KdaInputs &in,
                        int64_t n) {
  int64_t bos = in.cuSeqlens[n], eos = in.cuSeqlens[n + 1];
  int64_t H = spec.H, HV = spec.HV, K = spec.K, V = spec.V;
  auto slice = [&](const Vec &x, int64_t perToken) {
    return Vec(x.begin() + bos * perToken, x.begin() + eos * perToken);
  };
  KdaInputs out;
  out.B = 1;
  out.T = eos - bos;
  out.q = slice(in.q, H * K);
  out.k = slice(in.k, H * K);
  out.v = slice(in.v, HV * V);
  if (!in.g.empty())
    out.g = slice(in.g, spec.gate == GateGranularity::Channel ? HV * K : HV);
  out.beta = slice(in.beta, HV);
  out.aLog = in.aLog;
  out.dtBias = in.dtBias;
  if (spec.hasInitialState)
    out.initialState = Vec(in.initialState.begin() + n * HV * K * V,
                           in.initialState.begin() + (n + 1) * HV * K * V);
  return out;
}

void checkVarlenEqualsSeparate(KernelSpec spec, std::vector<int64_t> lens,
                               uint64_t seed) {
  spec.varlen = true;
  int64_t T = 0;
  for (int64_t l : lens)
    T += l;
  KdaCase c = makeRandomCase(spec, 1, T, lens, seed);
  KdaOutputs packed = run(c.spec, c.inputs);
  KernelSpec single = c.spec;
  single.varlen = false;
  single.T = kDynamic;
  const int64_t HV = spec.HV, K = spec.K, V = spec.V;
  for (size_t n = 0; n < lens.size(); ++n) {
    SCOPED_TRACE("sequence " + std::to_string(n));
    KdaOutputs alone = run(single, sliceSequence(c.spec, c.inputs, n));
    int64_t bos = c.inputs.cuSeqlens[n];
    // The same operations in the same order: equal to the last bit.
    ASSERT_EQ(alone.o.size(), size_t(lens[n] * HV * V));
    for (size_t i = 0; i < alone.o.size(); ++i)
      ASSERT_EQ(alone.o[i], packed.o[bos * HV * V + i]) << "o element " << i;
    for (int64_t i = 0; i < HV * K * V; ++i)
      ASSERT_EQ(alone.finalState[i], packed.finalState[n * HV * K * V + i])
          << "state element " << i;
  }
  // And the outputs are not trivially zero.
  EXPECT_GT(relativeError(packed.o, Vec(packed.o.size(), 0.0)), 0.0);
}
} // namespace

TEST(Reference, VarlenEqualsSeparateSequencesKda) {
  KernelSpec s;
  s.H = 2;
  s.HV = 4;
  s.K = 8;
  s.V = 6;
  s.activation = GateActivation::Softplus;
  s.hasALog = s.hasDtBias = true;
  s.qkL2Norm = s.betaSigmoid = true;
  s.hasInitialState = true;
  checkVarlenEqualsSeparate(s, {5, 1, 7, 3}, 1);
  checkVarlenEqualsSeparate(s, {1, 1, 1}, 2);
  checkVarlenEqualsSeparate(s, {9}, 3);
}

TEST(Reference, VarlenEqualsSeparateSequencesFamily) {
  KernelSpec s;
  s.H = 1;
  s.HV = 2;
  s.K = 4;
  s.V = 8;
  s.gate = GateGranularity::Scalar;
  s.update = UpdateRule::Additive;
  s.activation = GateActivation::LowerBound;
  s.lowerBound = -5.0;
  s.hasDtBias = true;
  s.stateLayout = StateLayout::VK;
  s.hasInitialState = true;
  checkVarlenEqualsSeparate(s, {4, 1, 6}, 4);
  s.gate = GateGranularity::None;
  s.activation = GateActivation::None;
  s.lowerBound.reset();
  s.hasDtBias = false;
  s.update = UpdateRule::Delta;
  s.hasInitialState = false;
  checkVarlenEqualsSeparate(s, {2, 1, 5}, 5);
}

TEST(Reference, BatchEqualsPackedVarlen) {
  // [B, T, ...] row-major is [1, B*T, ...] with cu_seqlens = [0, T, 2T, ...].
  KernelSpec s;
  s.H = 1;
  s.HV = 2;
  s.K = 4;
  s.V = 4;
  s.activation = GateActivation::LowerBound;
  s.lowerBound = -3.0;
  s.hasALog = true;
  s.hasInitialState = true;
  KdaCase c = makeRandomCase(s, 3, 5, {}, 11);
  KdaOutputs batched = run(c.spec, c.inputs);
  KernelSpec v = c.spec;
  v.varlen = true;
  v.B = 1;
  v.T = 15;
  KdaInputs packed = c.inputs;
  packed.B = 1;
  packed.T = 15;
  packed.cuSeqlens = {0, 5, 10, 15};
  KdaOutputs out = run(v, packed);
  EXPECT_EQ(out.o, batched.o);
  EXPECT_EQ(out.finalState, batched.finalState);
}

TEST(Reference, RelativeError) {
  EXPECT_DOUBLE_EQ(relativeError({3, 4}, {0, 0}), 5.0);
  EXPECT_DOUBLE_EQ(relativeError({1, 1}, {1, 0}), 1.0);
  EXPECT_DOUBLE_EQ(relativeError({6, 8}, {3, 4}), 1.0);
  EXPECT_TRUE(std::isinf(relativeError({1}, {1, 2})));
}
