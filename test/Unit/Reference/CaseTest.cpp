//===- CaseTest.cpp - Case files, random cases and FLA's golden vectors ---===//
//
// The oracle must reproduce every golden file FLA produced (o and
// final_state within 1e-5 relative error); the loader must map FLA's
// metadata onto the spec and reject malformed files with precise messages;
// saved cases must load back unchanged; random cases must be reproducible
// and hold exactly the values a kernel of the spec's dtypes reads.
//
//===----------------------------------------------------------------------===//
#include "kdac/Reference/Case.h"
#include "kdac/Reference/Reference.h"

#include "../GoldenFiles.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

using namespace kdac;

namespace {

using test::goldenFiles;

std::string golden(const char *name) {
  llvm::SmallString<256> p(test::goldenDirectory());
  llvm::sys::path::append(p, name);
  return std::string(p);
}

/// A fresh temporary directory, removed with its files at scope exit.
class TempDir {
public:
  TempDir() {
    if (llvm::sys::fs::createUniqueDirectory("kdac-case", dir))
      ADD_FAILURE() << "cannot create a temporary directory";
  }
  ~TempDir() { llvm::sys::fs::remove_directories(dir); }
  std::string file(const char *name) const {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }

private:
  llvm::SmallString<128> dir;
};

KdaCase load(const std::string &path) {
  llvm::Expected<KdaCase> c = loadCase(path);
  if (!c) {
    ADD_FAILURE() << llvm::toString(c.takeError());
    return {};
  }
  return std::move(*c);
}

void expectSameSpec(const KernelSpec &a, const KernelSpec &b) {
  EXPECT_EQ(a.B, b.B);
  EXPECT_EQ(a.T, b.T);
  EXPECT_EQ(a.H, b.H);
  EXPECT_EQ(a.HV, b.HV);
  EXPECT_EQ(a.K, b.K);
  EXPECT_EQ(a.V, b.V);
  EXPECT_EQ(a.varlen, b.varlen);
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.gateDType, b.gateDType);
  EXPECT_EQ(a.betaDType, b.betaDType);
  EXPECT_EQ(a.gate, b.gate);
  EXPECT_EQ(a.update, b.update);
  EXPECT_EQ(a.activation, b.activation);
  EXPECT_EQ(a.lowerBound, b.lowerBound);
  EXPECT_EQ(a.hasALog, b.hasALog);
  EXPECT_EQ(a.hasDtBias, b.hasDtBias);
  EXPECT_EQ(a.qkL2Norm, b.qkL2Norm);
  EXPECT_EQ(a.betaSigmoid, b.betaSigmoid);
  EXPECT_EQ(a.hasInitialState, b.hasInitialState);
  EXPECT_EQ(a.stateLayout, b.stateLayout);
  EXPECT_EQ(a.stateDType, b.stateDType);
  EXPECT_EQ(a.scale, b.scale);
}

/// Every flag at once, in bf16, varlen, VK state.
KernelSpec allFlagsSpec() {
  KernelSpec s;
  s.H = 2;
  s.HV = 4;
  s.K = 16;
  s.V = 8;
  s.varlen = true;
  s.dtype = DType::BF16;
  s.gateDType = DType::F32;
  s.betaDType = DType::BF16;
  s.activation = GateActivation::LowerBound;
  s.lowerBound = -5.0;
  s.hasALog = s.hasDtBias = true;
  s.qkL2Norm = s.betaSigmoid = true;
  s.hasInitialState = true;
  s.stateLayout = StateLayout::VK;
  s.scale = 0.3;
  return s;
}

} // namespace

TEST(Golden, ReferenceMatchesFLA) {
  std::vector<std::string> files = goldenFiles();
  ASSERT_FALSE(files.empty()) << "no *.safetensors in " << test::goldenDirectory();
  double worstO = 0.0, worstState = 0.0;
  for (const std::string &path : files) {
    SCOPED_TRACE(path);
    KdaCase c = load(path);
    ASSERT_TRUE(c.expected.has_value()) << "golden file without outputs";
    ASSERT_FALSE(c.expected->finalState.empty());
    llvm::Expected<KdaOutputs> out = runReference(c.spec, c.inputs);
    ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
    double eo = relativeError(out->o, c.expected->o);
    double es = relativeError(out->finalState, c.expected->finalState);
    EXPECT_LE(eo, 1e-5) << "o";
    EXPECT_LE(es, 1e-5) << "final_state";
    worstO = std::max(worstO, eo);
    worstState = std::max(worstState, es);
    std::printf("  %-40s o %.3e  final_state %.3e\n",
                llvm::sys::path::filename(path).str().c_str(), eo, es);
  }
  std::printf("  %zu golden files; max relative error o %.3e, final_state "
              "%.3e\n",
              files.size(), worstO, worstState);
}

TEST(Golden, ComparisonIsSensitive) {
  // The tolerance must catch a wrong option: dropping the fused beta sigmoid
  // or the qk norm, or misreading the state layout, is far outside 1e-5.
  KdaCase c = load(golden("l2norm_beta_sigmoid.safetensors"));
  ASSERT_TRUE(c.expected.has_value());
  for (int which = 0; which < 2; ++which) {
    KernelSpec wrong = c.spec;
    (which == 0 ? wrong.betaSigmoid : wrong.qkL2Norm) = false;
    llvm::Expected<KdaOutputs> out = runReference(wrong, c.inputs);
    ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
    EXPECT_GT(relativeError(out->o, c.expected->o), 1e-2) << which;
  }
  KdaCase v = load(golden("state_v_first.safetensors"));
  ASSERT_TRUE(v.expected.has_value());
  v.spec.stateLayout = StateLayout::KV;
  llvm::Expected<KdaOutputs> out = runReference(v.spec, v.inputs);
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  EXPECT_GT(relativeError(out->o, v.expected->o), 1e-2);
}

TEST(Golden, MetadataMapsOntoSpec) {
  KdaCase basic = load(golden("basic.safetensors"));
  EXPECT_EQ(basic.spec.B, 2);
  EXPECT_EQ(basic.spec.T, 50);
  EXPECT_EQ(basic.spec.K, 32);
  EXPECT_EQ(basic.spec.V, 24);
  EXPECT_EQ(basic.spec.gate, GateGranularity::Channel);
  EXPECT_EQ(basic.spec.activation, GateActivation::None);
  EXPECT_EQ(basic.spec.update, UpdateRule::Delta);
  EXPECT_EQ(basic.spec.dtype, DType::F32);
  EXPECT_FALSE(basic.spec.hasInitialState);
  EXPECT_TRUE(basic.spec.hasFinalState);
  EXPECT_FALSE(basic.spec.varlen);
  ASSERT_TRUE(basic.spec.scale.has_value());
  EXPECT_DOUBLE_EQ(*basic.spec.scale, 0.1767766952966369);
  EXPECT_EQ(basic.raw.count("q"), 1u);

  KdaCase lb = load(golden("gate_lowerbound_no_A.safetensors"));
  EXPECT_EQ(lb.spec.activation, GateActivation::LowerBound);
  EXPECT_EQ(lb.spec.lowerBound, -5.0);
  EXPECT_FALSE(lb.spec.hasALog);
  EXPECT_TRUE(lb.spec.hasDtBias);

  KdaCase vl = load(golden("varlen_all_flags.safetensors"));
  EXPECT_TRUE(vl.spec.varlen);
  EXPECT_EQ(vl.inputs.cuSeqlens.size(), 6u);
  EXPECT_EQ(vl.inputs.cuSeqlens.front(), 0);
  EXPECT_EQ(vl.inputs.cuSeqlens.back(), 130);
  EXPECT_EQ(vl.spec.activation, GateActivation::Softplus);
  EXPECT_TRUE(vl.spec.qkL2Norm && vl.spec.betaSigmoid && vl.spec.hasALog);
  EXPECT_EQ(vl.spec.HV, 4);

  KdaCase vf = load(golden("state_v_first.safetensors"));
  EXPECT_EQ(vf.spec.stateLayout, StateLayout::VK);
  EXPECT_TRUE(vf.spec.hasInitialState);
}

namespace {
/// Writes basic.safetensors with \p mutate applied and returns loadCase's
/// error message.
template <typename Mutate>
std::string loadErrorAfter(const TempDir &tmp, Mutate mutate) {
  llvm::Expected<SafetensorsFile> f =
      readSafetensors(golden("basic.safetensors"));
  if (!f)
    return "read failed: " + llvm::toString(f.takeError());
  mutate(*f);
  std::string path = tmp.file("bad.safetensors");
  if (llvm::Error e = writeSafetensors(path, *f))
    return "write failed: " + llvm::toString(std::move(e));
  llvm::Expected<KdaCase> c = loadCase(path);
  if (c)
    return "<unexpected success>";
  return llvm::toString(c.takeError());
}
} // namespace

TEST(Case, LoadErrors) {
  TempDir tmp;
  auto expectError = [&](auto mutate, const std::string &needle) {
    std::string msg = loadErrorAfter(tmp, mutate);
    EXPECT_NE(msg.find(needle), std::string::npos) << "got: " << msg;
    EXPECT_NE(msg.find("bad.safetensors: "), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
  };
  // The unmodified file loads (so the errors below come from the mutation).
  EXPECT_EQ(loadErrorAfter(tmp, [](SafetensorsFile &) {}),
            "<unexpected success>");
  expectError([](SafetensorsFile &f) { f.tensors.erase("q"); },
              "missing tensor 'q'");
  expectError([](SafetensorsFile &f) { f.tensors.erase("g"); },
              "missing tensor 'g'");
  expectError(
      [](SafetensorsFile &f) {
        f.tensors["k"] =
            Tensor::fromDoubles(TensorDType::F32, {2, 50, 3, 32},
                                std::vector<double>(2 * 50 * 3 * 32, 0.0));
      },
      "tensor 'k' dim 2 is 3, expected H = 2");
  expectError(
      [](SafetensorsFile &f) {
        f.tensors["v"] = Tensor::fromDoubles(TensorDType::F32, {2, 50, 48},
                                             std::vector<double>(4800, 0.0));
      },
      "tensor 'v' has rank 3, expected rank 4 [B, T, HV, V]");
  expectError(
      [](SafetensorsFile &f) {
        f.tensors["final_state"] =
            Tensor::fromDoubles(TensorDType::F32, {2, 2, 24, 32},
                                std::vector<double>(2 * 2 * 24 * 32, 0.0));
      },
      "tensor 'final_state' dim 2 is 24, expected K = 32");
  expectError(
      [](SafetensorsFile &f) {
        f.tensors["q"] = Tensor::fromInts(TensorDType::I32, {2, 50, 2, 32},
                                          std::vector<int64_t>(6400, 0));
      },
      "tensor 'q' has dtype I32; expected F32, F16 or BF16");
  expectError([](SafetensorsFile &f) { f.metadata.erase("HV"); },
              "missing metadata key 'HV'");
  expectError([](SafetensorsFile &f) { f.metadata["B"] = "two"; },
              "metadata key 'B' is not valid JSON");
  expectError([](SafetensorsFile &f) { f.metadata["B"] = "\"2\""; },
              "metadata key 'B' is not an integer");
  expectError([](SafetensorsFile &f) { f.metadata["state_v_first"] = "1"; },
              "metadata key 'state_v_first' is not a boolean");
  expectError([](SafetensorsFile &f) { f.metadata["scale"] = "\"abc\""; },
              "metadata key 'scale' is not a number or null");
  expectError([](SafetensorsFile &f) { f.metadata["gate_kind"] = "\"relu\""; },
              "metadata key 'gate_kind' has unknown value 'relu'");
  expectError([](SafetensorsFile &f) { f.metadata["update"] = "\"sum\""; },
              "metadata key 'update' has unknown value 'sum'");
  expectError(
      [](SafetensorsFile &f) { f.metadata["has_initial_state"] = "true"; },
      "missing tensor 'initial_state'");
  expectError(
      [](SafetensorsFile &f) { f.metadata["use_gate_in_kernel"] = "true"; },
      "use_gate_in_kernel is true but gate_kind is \"none\"");
  expectError(
      [](SafetensorsFile &f) {
        f.metadata["gate_kind"] = "\"softplus\"";
        f.metadata["use_gate_in_kernel"] = "true";
      },
      "invalid spec: activation softplus needs A_log");
  expectError(
      [](SafetensorsFile &f) {
        f.tensors["cu_seqlens"] =
            Tensor::fromInts(TensorDType::I64, {3}, {0, 10, 100});
      },
      "varlen (cu_seqlens) requires B == 1");
}

TEST(Case, SaveLoadRoundTrip) {
  TempDir tmp;
  KdaCase c = makeRandomCase(allFlagsSpec(), 1, 12, {5, 1, 6}, 7);
  ASSERT_TRUE(c.expected.has_value());

  // F32 storage holds bf16 inputs exactly; the spec's dtypes come back from
  // the metadata, not from the stored F32.
  std::string path = tmp.file("case32.safetensors");
  ASSERT_FALSE(bool(saveCase(path, c, TensorDType::F32)));
  KdaCase back = load(path);
  expectSameSpec(back.spec, c.spec);
  EXPECT_EQ(back.inputs.q, c.inputs.q);
  EXPECT_EQ(back.inputs.k, c.inputs.k);
  EXPECT_EQ(back.inputs.v, c.inputs.v);
  EXPECT_EQ(back.inputs.g, c.inputs.g);
  EXPECT_EQ(back.inputs.beta, c.inputs.beta);
  EXPECT_EQ(back.inputs.aLog, c.inputs.aLog);
  EXPECT_EQ(back.inputs.dtBias, c.inputs.dtBias);
  EXPECT_EQ(back.inputs.initialState, c.inputs.initialState);
  EXPECT_EQ(back.inputs.cuSeqlens, c.inputs.cuSeqlens);
  ASSERT_TRUE(back.expected.has_value());
  // Expected outputs are stored as F32: equal up to f32 rounding.
  EXPECT_LE(relativeError(back.expected->o, c.expected->o), 1e-7);
  EXPECT_LE(relativeError(back.expected->finalState, c.expected->finalState),
            1e-7);
  EXPECT_GT(relativeError(back.expected->o, c.expected->o), 0.0);
  EXPECT_EQ(back.raw.at("q").dtype, TensorDType::F32);

  // F64 storage: everything exact.
  path = tmp.file("case64.safetensors");
  ASSERT_FALSE(bool(saveCase(path, c, TensorDType::F64)));
  back = load(path);
  expectSameSpec(back.spec, c.spec);
  EXPECT_EQ(back.expected->o, c.expected->o);
  EXPECT_EQ(back.expected->finalState, c.expected->finalState);

  // Scalar gate, additive, gate none, default scale round-trip too.
  KernelSpec s;
  s.H = s.HV = 1;
  s.K = s.V = 4;
  s.gate = GateGranularity::Scalar;
  s.update = UpdateRule::Additive;
  s.dtype = DType::F16;
  KdaCase scalar = makeRandomCase(s, 2, 3, {}, 8);
  path = tmp.file("scalar.safetensors");
  ASSERT_FALSE(bool(saveCase(path, scalar, TensorDType::F32)));
  back = load(path);
  expectSameSpec(back.spec, scalar.spec);
  EXPECT_EQ(back.inputs.g, scalar.inputs.g);
  EXPECT_EQ(back.inputs.g.size(), 6u);
  s.gate = GateGranularity::None;
  KdaCase none = makeRandomCase(s, 1, 3, {}, 9);
  ASSERT_FALSE(bool(saveCase(path, none, TensorDType::F32)));
  back = load(path);
  expectSameSpec(back.spec, none.spec);
  EXPECT_TRUE(back.inputs.g.empty());
  EXPECT_EQ(back.raw.count("g"), 0u);
}

TEST(Case, SaveRejectsBadInputs) {
  TempDir tmp;
  KdaCase c = makeRandomCase(allFlagsSpec(), 1, 4, {4}, 1);
  c.inputs.q.pop_back();
  llvm::Error e = saveCase(tmp.file("x.safetensors"), c, TensorDType::F32);
  ASSERT_TRUE(bool(e));
  std::string msg = llvm::toString(std::move(e));
  EXPECT_NE(msg.find("cannot save: q has 127 elements, expected B*T*H*K = "
                     "128"),
            std::string::npos)
      << msg;
  c = makeRandomCase(allFlagsSpec(), 1, 4, {4}, 1);
  e = saveCase(tmp.file("x.safetensors"), c, TensorDType::I32);
  ASSERT_TRUE(bool(e));
  llvm::consumeError(std::move(e));
}

TEST(Case, RandomCasesAreDeterministic) {
  KernelSpec s = allFlagsSpec();
  KdaCase a = makeRandomCase(s, 1, 9, {4, 5}, 42);
  KdaCase b = makeRandomCase(s, 1, 9, {4, 5}, 42);
  KdaCase c = makeRandomCase(s, 1, 9, {4, 5}, 43);
  EXPECT_EQ(a.inputs.q, b.inputs.q);
  EXPECT_EQ(a.inputs.g, b.inputs.g);
  EXPECT_EQ(a.inputs.initialState, b.inputs.initialState);
  EXPECT_EQ(a.expected->o, b.expected->o);
  EXPECT_NE(a.inputs.q, c.inputs.q);
  EXPECT_NE(a.inputs.beta, c.inputs.beta);
  EXPECT_EQ(a.spec.B, 1);
  EXPECT_EQ(a.spec.T, 9);
  EXPECT_EQ(a.inputs.cuSeqlens, (std::vector<int64_t>{0, 4, 9}));
}

TEST(Case, RandomValuesAreRepresentableAndRealistic) {
  KernelSpec s;
  s.H = 1;
  s.HV = 2;
  s.K = 32;
  s.V = 16;
  s.dtype = DType::BF16;
  s.gateDType = DType::F16;
  s.betaDType = DType::BF16;
  s.hasInitialState = true;
  KdaCase c = makeRandomCase(s, 2, 20, {}, 5);
  auto representable = [](const std::vector<double> &x, TensorDType t) {
    for (double d : x)
      if (roundToDType(d, t) != d)
        return false;
    return true;
  };
  EXPECT_TRUE(representable(c.inputs.q, TensorDType::BF16));
  EXPECT_TRUE(representable(c.inputs.k, TensorDType::BF16));
  EXPECT_TRUE(representable(c.inputs.v, TensorDType::BF16));
  EXPECT_TRUE(representable(c.inputs.g, TensorDType::F16));
  EXPECT_TRUE(representable(c.inputs.beta, TensorDType::BF16));
  EXPECT_TRUE(representable(c.inputs.initialState, TensorDType::F32));
  // Not vacuous: f32 inputs are generally not bf16 values.
  s.dtype = DType::F32;
  EXPECT_FALSE(representable(makeRandomCase(s, 2, 20, {}, 5).inputs.q,
                             TensorDType::BF16));
  // raw holds the same values in the spec's dtypes.
  EXPECT_EQ(c.raw.at("q").dtype, TensorDType::BF16);
  EXPECT_EQ(c.raw.at("q").toDoubles(), c.inputs.q);
  EXPECT_EQ(c.raw.at("g").dtype, TensorDType::F16);
  EXPECT_EQ(c.raw.at("g").toDoubles(), c.inputs.g);
  // Unfused gate: a log-decay (<= 0); beta in (0, 1); k unit-norm rows.
  for (double g : c.inputs.g)
    EXPECT_LE(g, 0.0);
  for (double b : c.inputs.beta) {
    EXPECT_GT(b, 0.0);
    EXPECT_LT(b, 1.0);
  }
  for (int64_t row = 0; row < 2 * 20; ++row) {
    double n = 0.0;
    for (int64_t i = 0; i < 32; ++i)
      n += c.inputs.k[row * 32 + i] * c.inputs.k[row * 32 + i];
    EXPECT_NEAR(std::sqrt(n), 1.0, 0.02) << "row " << row;
  }
  // The recurrence stays bounded on these inputs.
  for (double o : c.expected->o)
    EXPECT_LT(std::fabs(o), 100.0);
}
