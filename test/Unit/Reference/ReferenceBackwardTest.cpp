//===- ReferenceBackwardTest.cpp - Checks of the fp64 backward oracle -----===//
//
// Two independent witnesses of runReferenceBackward: the gradient goldens
// (fp64 autograd through the same recurrence, computed outside this
// project) and central finite differences of the forward oracle on small
// random cases, one directional derivative per input along a random
// direction, over a matrix of family and prologue options. Then the size
// checks, the emptiness of gradients of absent inputs, and loadCase's
// reading of gradient files.
//
//===----------------------------------------------------------------------===//
#include "kdac/Reference/ReferenceBackward.h"
#include "kdac/Reference/Case.h"
#include "kdac/Reference/Reference.h"

#include "../GoldenFiles.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace kdac;

namespace {

using Vec = std::vector<double>;

Vec normals(size_t n, std::mt19937_64 &rng) {
  std::normal_distribution<double> dist;
  Vec x(n);
  for (double &v : x)
    v = dist(rng);
  return x;
}

double dot(const Vec &a, const Vec &b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    s += a[i] * b[i];
  return s;
}

/// L = sum(o * dO) + sum(final_state * dFinalState), by the forward oracle.
double loss(const KernelSpec &spec, const KdaInputs &in,
            const KdaCotangents &cot) {
  llvm::Expected<KdaOutputs> out = runReference(spec, in);
  if (!out) {
    ADD_FAILURE() << llvm::toString(out.takeError());
    return NAN;
  }
  double l = dot(out->o, cot.dO);
  if (!cot.dFinalState.empty())
    l += dot(out->finalState, cot.dFinalState);
  return l;
}

} // namespace

//===----------------------------------------------------------------------===//
// Gradient goldens
//===----------------------------------------------------------------------===//

TEST(ReferenceBackward, GradientGoldens) {
  std::vector<std::string> files = test::goldenBwdFiles();
  ASSERT_FALSE(files.empty())
      << "no gradient golden files in " << test::goldenBwdDirectory()
      << " (set KDAC_GOLDEN_BWD_DIR)";
  std::map<std::string, double> worst;
  for (const std::string &path : files) {
    SCOPED_TRACE(path);
    llvm::Expected<KdaCase> c = loadCase(path);
    ASSERT_TRUE(bool(c)) << llvm::toString(c.takeError());
    ASSERT_TRUE(c->expected && c->cotangents && c->expectedGradients);

    llvm::Expected<KdaOutputs> out = runReference(c->spec, c->inputs);
    ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
    double errO = relativeError(out->o, c->expected->o);
    double errS = relativeError(out->finalState, c->expected->finalState);
    EXPECT_LE(errO, 1e-9) << "o";
    EXPECT_LE(errS, 1e-9) << "final_state";
    worst["o"] = std::max(worst["o"], errO);
    worst["final_state"] = std::max(worst["final_state"], errS);

    llvm::Expected<KdaGradients> grads =
        runReferenceBackward(c->spec, c->inputs, *c->cotangents);
    ASSERT_TRUE(bool(grads)) << llvm::toString(grads.takeError());
    int compared = 0;
    for (const GradientField &f : kGradientFields) {
      const Vec &want = (*c->expectedGradients).*f.member;
      if (want.empty())
        continue;
      double err = relativeError((*grads).*f.member, want);
      EXPECT_LE(err, 1e-9) << f.name;
      worst[f.name] = std::max(worst[f.name], err);
      ++compared;
    }
    EXPECT_GE(compared, 5) << "a gradient file should hold dq, dk, dv, dg, "
                              "dbeta at least";
  }
  for (auto &[name, err] : worst)
    std::printf("  worst over %zu gradient goldens: %-12s %.3e\n", files.size(),
                name.c_str(), err);
}

//===----------------------------------------------------------------------===//
// Finite differences
//===----------------------------------------------------------------------===//

namespace {

/// A small random problem: spec options, then B, T and varlen lengths.
struct FdCase {
  const char *name;
  std::function<void(KernelSpec &)> configure;
  int64_t B = 2, T = 7;
  std::vector<int64_t> seqLens = {};
};

KernelSpec smallSpec() {
  KernelSpec s;
  s.B = s.T = kDynamic;
  s.H = s.HV = 1;
  s.K = 4;
  s.V = 3;
  s.dtype = s.gateDType = s.betaDType = s.stateDType = DType::F32;
  s.gate = GateGranularity::Channel;
  s.hasFinalState = true;
  return s;
}

void softplusGate(KernelSpec &s, bool dtBias) {
  s.activation = GateActivation::Softplus;
  s.hasALog = true; // softplus requires it
  s.hasDtBias = dtBias;
}

void lowerBoundGate(KernelSpec &s, bool aLog, bool dtBias) {
  s.activation = GateActivation::LowerBound;
  s.lowerBound = -5.0;
  s.hasALog = aLog;
  s.hasDtBias = dtBias;
}

std::vector<FdCase> fdCases() {
  using S = KernelSpec;
  auto scalar = [](S &s) { s.gate = GateGranularity::Scalar; };
  return {
      {"gate_none", [](S &s) { s.gate = GateGranularity::None; }},
      {"gate_scalar", scalar},
      {"gate_channel", [](S &) {}},
      {"additive_none",
       [](S &s) {
         s.gate = GateGranularity::None;
         s.update = UpdateRule::Additive;
       }},
      {"additive_scalar",
       [=](S &s) {
         scalar(s);
         s.update = UpdateRule::Additive;
       }},
      {"additive_channel", [](S &s) { s.update = UpdateRule::Additive; }},
      {"channel_softplus", [](S &s) { softplusGate(s, false); }},
      {"channel_softplus_dt", [](S &s) { softplusGate(s, true); }},
      {"scalar_softplus",
       [=](S &s) {
         scalar(s);
         softplusGate(s, false);
       }},
      {"scalar_softplus_dt",
       [=](S &s) {
         scalar(s);
         softplusGate(s, true);
       }},
      {"channel_lb", [](S &s) { lowerBoundGate(s, false, false); }},
      {"channel_lb_dt", [](S &s) { lowerBoundGate(s, false, true); }},
      {"channel_lb_A", [](S &s) { lowerBoundGate(s, true, false); }},
      {"channel_lb_A_dt", [](S &s) { lowerBoundGate(s, true, true); }},
      {"scalar_lb",
       [=](S &s) {
         scalar(s);
         lowerBoundGate(s, false, false);
       }},
      {"scalar_lb_A_dt",
       [=](S &s) {
         scalar(s);
         lowerBoundGate(s, true, true);
       }},
      {"l2norm", [](S &s) { s.qkL2Norm = true; }},
      {"beta_sigmoid", [](S &s) { s.betaSigmoid = true; }},
      {"kv_initial_state", [](S &s) { s.hasInitialState = true; }},
      {"vk_initial_state",
       [](S &s) {
         s.hasInitialState = true;
         s.stateLayout = StateLayout::VK;
       }},
      {"gva",
       [](S &s) {
         s.H = 2;
         s.HV = 4;
         s.hasInitialState = true;
       }},
      {"varlen",
       [](S &s) {
         s.B = 1;
         s.varlen = true;
         s.hasInitialState = true;
       },
       1,
       9,
       {4, 2, 3}},
      {"varlen_empty_sequence",
       [](S &s) {
         s.B = 1;
         s.varlen = true;
         s.hasInitialState = true;
         s.gate = GateGranularity::Scalar;
       },
       1,
       6,
       {3, 0, 3}},
      // Long enough for several checkpoint segments with a partial last one
      // (T = 17: segments of 5).
      {"long_checkpoints",
       [](S &s) {
         s.hasInitialState = true;
         lowerBoundGate(s, true, true);
       },
       1, 17},
      {"all_flags_gva_varlen_vk",
       [](S &s) {
         s.H = 1;
         s.HV = 2;
         s.B = 1;
         s.varlen = true;
         s.qkL2Norm = true;
         s.betaSigmoid = true;
         s.hasInitialState = true;
         s.stateLayout = StateLayout::VK;
         softplusGate(s, true);
       },
       1,
       8,
       {5, 3}},
      {"all_flags_additive_lb",
       [](S &s) {
         s.HV = 2;
         s.update = UpdateRule::Additive;
         s.qkL2Norm = true;
         s.betaSigmoid = true;
         s.hasInitialState = true;
         lowerBoundGate(s, true, true);
       }},
  };
}

class ReferenceBackwardFd : public ::testing::TestWithParam<FdCase> {};

} // namespace

TEST_P(ReferenceBackwardFd, DirectionalDerivatives) {
  const FdCase &fc = GetParam();
  KernelSpec spec = smallSpec();
  fc.configure(spec);
  ASSERT_EQ(validate(spec), "");
  KdaCase c = makeRandomCase(spec, fc.B, fc.T, fc.seqLens, /*seed=*/1234);
  const int64_t N = numSequences(c.spec, c.inputs);

  std::mt19937_64 rng(42);
  // makeRandomCase's FLA-style A_log (a up to 16) and dt_bias (about -5)
  // saturate the lowerbound sigmoid, leaving gate gradients of 1e-8 that
  // finite differences cannot resolve; moderate values exercise the whole
  // chain rule instead.
  for (double &x : c.inputs.aLog)
    x = 0.3 * normals(1, rng)[0];
  for (double &x : c.inputs.dtBias)
    x = 0.5 * normals(1, rng)[0];
  KdaCotangents cot;
  cot.dO = normals(c.inputs.B * c.inputs.T * spec.HV * spec.V, rng);
  cot.dFinalState = normals(N * spec.HV * spec.K * spec.V, rng);
  llvm::Expected<KdaGradients> grads =
      runReferenceBackward(c.spec, c.inputs, cot);
  ASSERT_TRUE(bool(grads)) << llvm::toString(grads.takeError());

  int checked = 0;
  for (const GradientField &f : kGradientFields) {
    const Vec &x = c.inputs.*f.input;
    const Vec &grad = (*grads).*f.member;
    ASSERT_EQ(grad.size(), x.size()) << f.name;
    if (x.empty())
      continue;
    // d L(x + eps d) / d eps at 0, analytically and by central differences
    // (truncation ~eps^2, round-off ~1e-16 |L| / eps: both ~1e-10 here).
    Vec d = normals(x.size(), rng);
    double analytic = dot(grad, d);
    const double eps = 1e-5;
    KdaInputs plus = c.inputs, minus = c.inputs;
    for (size_t i = 0; i < x.size(); ++i) {
      (plus.*f.input)[i] += eps * d[i];
      (minus.*f.input)[i] -= eps * d[i];
    }
    double fd =
        (loss(c.spec, plus, cot) - loss(c.spec, minus, cot)) / (2.0 * eps);
    // Relative to |analytic|, which for a random d is about ||grad||; the
    // floor guards an unlucky direction nearly orthogonal to the gradient.
    double rel =
        std::abs(fd - analytic) /
        std::max(std::abs(analytic), 1e-3 * std::sqrt(dot(grad, grad)));
    EXPECT_LE(rel, 1e-6) << f.name << ": analytic " << analytic << ", fd "
                         << fd;
    std::printf("  %-26s %-9s analytic % .9e  fd rel err %.2e\n", fc.name,
                f.name, analytic, rel);
    ++checked;
  }
  EXPECT_GE(checked, 4);
}

INSTANTIATE_TEST_SUITE_P(Options, ReferenceBackwardFd,
                         ::testing::ValuesIn(fdCases()),
                         [](const ::testing::TestParamInfo<FdCase> &info) {
                           return std::string(info.param.name);
                         });

//===----------------------------------------------------------------------===//
// Sizes and absent inputs
//===----------------------------------------------------------------------===//

namespace {
std::string errorOf(const KernelSpec &spec, const KdaInputs &in,
                    const KdaCotangents &cot) {
  llvm::Expected<KdaGradients> g = runReferenceBackward(spec, in, cot);
  if (g)
    return "<unexpected success>";
  return llvm::toString(g.takeError());
}
} // namespace

TEST(ReferenceBackward, SizeErrors) {
  KernelSpec spec = smallSpec();
  KdaCase c = makeRandomCase(spec, 2, 3, {}, 7);
  KdaCotangents cot;
  cot.dO.assign(2 * 3 * 1 * 3 - 1, 0.0);
  EXPECT_EQ(errorOf(c.spec, c.inputs, cot),
            "dO has 17 elements, expected B*T*HV*V = 18");
  cot.dO.assign(18, 0.0);
  cot.dFinalState.assign(5, 0.0);
  EXPECT_EQ(errorOf(c.spec, c.inputs, cot),
            "dFinalState has 5 elements, expected 0 (no final-state "
            "cotangent) or N*HV*K*V = 24");
  // The inputs are checked first, with runReference's messages.
  KdaInputs bad = c.inputs;
  bad.q.pop_back();
  cot.dFinalState.clear();
  EXPECT_EQ(errorOf(c.spec, bad, cot),
            "q has 23 elements, expected B*T*H*K = 24");
}

TEST(ReferenceBackward, AbsentInputsHaveEmptyGradients) {
  KernelSpec spec = smallSpec();
  spec.gate = GateGranularity::None;
  KdaCase c = makeRandomCase(spec, 1, 4, {}, 3);
  KdaCotangents cot;
  cot.dO.assign(4 * 3, 1.0);
  llvm::Expected<KdaGradients> g = runReferenceBackward(c.spec, c.inputs, cot);
  ASSERT_TRUE(bool(g)) << llvm::toString(g.takeError());
  EXPECT_TRUE(g->dg.empty());
  EXPECT_TRUE(g->dALog.empty());
  EXPECT_TRUE(g->dDtBias.empty());
  EXPECT_TRUE(g->dInitialState.empty());
  EXPECT_EQ(g->dq.size(), 16u);
  EXPECT_EQ(g->dv.size(), 12u);
}

TEST(ReferenceBackward, EmptyFinalStateCotangentIsZero) {
  KernelSpec spec = smallSpec();
  spec.hasInitialState = true;
  KdaCase c = makeRandomCase(spec, 2, 5, {}, 11);
  std::mt19937_64 rng(5);
  KdaCotangents empty, zero;
  empty.dO = zero.dO = normals(2 * 5 * 3, rng);
  zero.dFinalState.assign(2 * 4 * 3, 0.0);
  llvm::Expected<KdaGradients> a =
      runReferenceBackward(c.spec, c.inputs, empty);
  llvm::Expected<KdaGradients> b = runReferenceBackward(c.spec, c.inputs, zero);
  ASSERT_TRUE(a && b);
  for (const GradientField &f : kGradientFields)
    EXPECT_EQ((*a).*f.member, (*b).*f.member) << f.name;
}

//===----------------------------------------------------------------------===//
// Gradient files through loadCase
//===----------------------------------------------------------------------===//

namespace {
/// Writes bwd_basic.safetensors with \p mutate applied to a temporary file
/// and loads it.
template <typename Mutate>
llvm::Expected<KdaCase> loadBasicAfter(Mutate mutate) {
  llvm::SmallString<256> golden(test::goldenBwdDirectory());
  llvm::sys::path::append(golden, "bwd_basic.safetensors");
  llvm::Expected<SafetensorsFile> f = readSafetensors(golden);
  if (!f)
    return f.takeError();
  mutate(*f);
  llvm::SmallString<256> path;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("kdac-bwd", "safetensors", path))
    return llvm::createStringError(ec, "cannot create a temporary file");
  llvm::Error written = writeSafetensors(path, *f);
  llvm::Expected<KdaCase> c =
      written ? llvm::Expected<KdaCase>(std::move(written)) : loadCase(path);
  llvm::sys::fs::remove(path);
  return c;
}

std::string loadErrorAfter(std::function<void(SafetensorsFile &)> mutate) {
  llvm::Expected<KdaCase> c = loadBasicAfter(mutate);
  if (c)
    return "<unexpected success>";
  return llvm::toString(c.takeError());
}
} // namespace

TEST(ReferenceBackward, LoadsGradientFiles) {
  llvm::Expected<KdaCase> c = loadBasicAfter([](SafetensorsFile &) {});
  ASSERT_TRUE(bool(c)) << llvm::toString(c.takeError());
  // B=2 T=64 H=HV=2 K=V=32, channel gate, no A_log/dt_bias/initial state.
  ASSERT_TRUE(c->cotangents && c->expectedGradients);
  EXPECT_EQ(c->cotangents->dO.size(), 2u * 64 * 2 * 32);
  EXPECT_EQ(c->cotangents->dFinalState.size(), 2u * 2 * 32 * 32);
  EXPECT_EQ(c->expectedGradients->dq.size(), 2u * 64 * 2 * 32);
  EXPECT_EQ(c->expectedGradients->dg.size(), 2u * 64 * 2 * 32);
  EXPECT_EQ(c->expectedGradients->dbeta.size(), 2u * 64 * 2);
  EXPECT_TRUE(c->expectedGradients->dALog.empty());
  EXPECT_TRUE(c->expectedGradients->dInitialState.empty());

  // Without dht the final-state cotangent is zero (empty); without a
  // gradient its vector is empty; without do the file is a forward case.
  c = loadBasicAfter([](SafetensorsFile &f) {
    f.tensors.erase("dht");
    f.tensors.erase("dq");
  });
  ASSERT_TRUE(bool(c)) << llvm::toString(c.takeError());
  EXPECT_TRUE(c->cotangents->dFinalState.empty());
  EXPECT_TRUE(c->expectedGradients->dq.empty());
  EXPECT_FALSE(c->expectedGradients->dk.empty());
  c = loadBasicAfter([](SafetensorsFile &f) { f.tensors.erase("do"); });
  ASSERT_TRUE(bool(c)) << llvm::toString(c.takeError());
  EXPECT_FALSE(c->cotangents || c->expectedGradients);
}

TEST(ReferenceBackward, GradientFileErrors) {
  auto reshape = [](const char *name, std::vector<int64_t> shape) {
    return [=](SafetensorsFile &f) {
      size_t n = 1;
      for (int64_t d : shape)
        n *= size_t(d);
      f.tensors[name] =
          Tensor::fromDoubles(TensorDType::F64, shape, Vec(n, 0.0));
    };
  };
  auto expectError = [](std::function<void(SafetensorsFile &)> mutate,
                        const std::string &needle) {
    std::string msg = loadErrorAfter(mutate);
    EXPECT_NE(msg.find(needle), std::string::npos) << "got: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
  };
  expectError(reshape("do", {2, 64, 2, 31}),
              "tensor 'do' dim 3 is 31, expected V = 32");
  expectError(reshape("dht", {2, 2, 32}),
              "tensor 'dht' has rank 3, expected rank 4 [N, HV, K, V]");
  expectError(reshape("dq", {2, 64, 3, 32}),
              "tensor 'dq' dim 2 is 3, expected H = 2");
  expectError(reshape("dg", {2, 64, 2}),
              "tensor 'dg' has rank 3, expected rank 4 [B, T, HV, K]");
  expectError(reshape("dA_log", {2}),
              "tensor 'dA_log' is the gradient of an input the case does "
              "not have");
  expectError(reshape("dh0", {2, 2, 32, 32}),
              "tensor 'dh0' is the gradient of an input the case does not "
              "have");
}
