//===- InterpreterTest.cpp - kda.recurrence modules against the oracle ----===//
//
// The interpreter's own recurrence (double and float) on modules built by
// buildRecurrenceModule, for every family member and fused option, checked
// against runReference; then the errors it must give instead of crashing.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include "kdac/Frontend/SpecToIR.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

using namespace kdac;

namespace {

struct RecurrenceCase {
  std::string name;
  KernelSpec spec;
  int64_t B, T;
  std::vector<int64_t> seqLens;
};

/// KDA with a channel gate, the delta rule, an initial and a final state,
/// GVA (HV = 2 H); every case below changes a few fields of it.
KernelSpec baseSpec() {
  KernelSpec s;
  s.B = 2;
  s.T = 37;
  s.H = 1;
  s.HV = 2;
  s.K = 16;
  s.V = 16;
  s.dtype = s.gateDType = s.betaDType = DType::F32;
  s.hasInitialState = true;
  s.hasFinalState = true;
  return s;
}

std::vector<RecurrenceCase> recurrenceCases() {
  std::vector<RecurrenceCase> cases;
  auto add = [&](std::string name, KernelSpec s,
                 std::vector<int64_t> seqLens = {}) {
    int64_t B = s.varlen ? 1 : (s.B == kDynamic ? 2 : s.B);
    int64_t T = 0;
    if (s.varlen)
      for (int64_t len : seqLens)
        T += len;
    else
      T = s.T == kDynamic ? 29 : s.T;
    if (s.varlen && s.T != kDynamic)
      s.T = T;
    cases.push_back({std::move(name), s, B, T, std::move(seqLens)});
  };

  add("kda", baseSpec());
  {
    KernelSpec s = baseSpec();
    s.H = 2;
    s.HV = 8;
    s.V = 32;
    add("gva_h2_hv8", s);
  }
  {
    KernelSpec s = baseSpec();
    s.B = 1;
    s.T = kDynamic;
    s.varlen = true;
    s.HV = 4;
    add("varlen_with_length_1_and_0", s, {1, 23, 0, 1, 9, 1});
  }
  {
    KernelSpec s = baseSpec();
    s.qkL2Norm = true;
    add("qk_l2norm", s);
  }
  {
    KernelSpec s = baseSpec();
    s.activation = GateActivation::Softplus;
    s.hasALog = s.hasDtBias = true;
    add("softplus_alog_dtbias", s);
  }
  {
    KernelSpec s = baseSpec();
    s.activation = GateActivation::Softplus;
    s.hasALog = true;
    add("softplus_alog", s);
  }
  {
    KernelSpec s = baseSpec();
    s.activation = GateActivation::LowerBound;
    s.lowerBound = -5.0;
    s.hasALog = s.hasDtBias = true;
    add("lowerbound_alog_dtbias", s);
  }
  {
    KernelSpec s = baseSpec();
    s.activation = GateActivation::LowerBound;
    s.lowerBound = -0.5;
    s.hasDtBias = true;
    add("lowerbound_no_alog", s);
  }
  {
    KernelSpec s = baseSpec();
    s.betaSigmoid = true;
    add("beta_sigmoid", s);
  }
  {
    KernelSpec s = baseSpec();
    s.stateLayout = StateLayout::VK;
    s.V = 8;
    add("layout_vk", s);
  }
  {
    KernelSpec s = baseSpec();
    s.stateLayout = StateLayout::VK;
    s.V = 8;
    s.hasInitialState = false;
    add("layout_vk_no_initial_state", s);
  }
  {
    KernelSpec s = baseSpec();
    s.hasFinalState = false;
    add("no_final_state", s);
  }
  {
    KernelSpec s = baseSpec();
    s.gate = GateGranularity::Scalar;
    add("scalar_gate", s);
  }
  {
    KernelSpec s = baseSpec();
    s.gate = GateGranularity::Scalar;
    s.activation = GateActivation::Softplus;
    s.hasALog = s.hasDtBias = true;
    add("scalar_gate_softplus", s);
  }
  {
    KernelSpec s = baseSpec();
    s.gate = GateGranularity::None;
    add("gate_none", s);
  }
  {
    KernelSpec s = baseSpec();
    s.update = UpdateRule::Additive;
    add("additive", s);
  }
  {
    KernelSpec s = baseSpec();
    s.update = UpdateRule::Additive;
    s.gate = GateGranularity::Scalar;
    add("additive_scalar_gate", s);
  }
  {
    KernelSpec s = baseSpec();
    s.scale = 0.3;
    add("explicit_scale", s);
  }
  {
    KernelSpec s = baseSpec();
    s.B = s.T = kDynamic;
    add("dynamic_B_T", s);
  }
  {
    KernelSpec s = baseSpec();
    s.K = 64;
    s.V = 32;
    s.T = 70;
    add("k64", s);
  }
  {
    // Everything at once, in the dtypes the GPU path sees.
    KernelSpec s = baseSpec();
    s.B = 1;
    s.T = kDynamic;
    s.varlen = true;
    s.H = 2;
    s.HV = 4;
    s.K = 64;
    s.V = 32;
    s.dtype = s.betaDType = DType::BF16;
    s.qkL2Norm = s.betaSigmoid = true;
    s.activation = GateActivation::LowerBound;
    s.lowerBound = -5.0;
    s.hasALog = s.hasDtBias = true;
    s.stateLayout = StateLayout::VK;
    add("all_fused_bf16_varlen_vk", s, {1, 40, 7, 64});
  }
  return cases;
}

class RecurrenceTest : public ::testing::TestWithParam<RecurrenceCase> {};

} // namespace

TEST_P(RecurrenceTest, MatchesOracle) {
  const RecurrenceCase &rc = GetParam();
  KdaCase c = makeRandomCase(rc.spec, rc.B, rc.T, rc.seqLens, /*seed=*/7);
  ASSERT_TRUE(c.expected.has_value());
  mlir::MLIRContext ctx;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      buildRecurrenceModule(ctx, rc.spec);
  ASSERT_TRUE(module);
  test::expectMatchesOracle(*module, c, rc.name, 1e-12, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(
    Interpreter, RecurrenceTest, ::testing::ValuesIn(recurrenceCases()),
    [](const ::testing::TestParamInfo<RecurrenceCase> &info) {
      return info.param.name;
    });

//===----------------------------------------------------------------------===//
// Errors instead of crashes.
//===----------------------------------------------------------------------===//

namespace {

std::string errorOf(mlir::ModuleOp module, const KernelSpec &spec,
                    const KdaInputs &in) {
  llvm::Expected<KdaOutputs> out = interpret(module, spec, in);
  if (out)
    return "<unexpected success>";
  std::string error = llvm::toString(out.takeError());
  std::printf("  error: %s\n", error.c_str());
  return error;
}

KernelSpec tinySpec() {
  KernelSpec s = baseSpec();
  s.B = 1;
  s.T = 4;
  s.HV = 1;
  s.K = s.V = 2;
  s.hasInitialState = s.hasFinalState = false;
  return s;
}

} // namespace

TEST(InterpreterErrors, UnknownOpIsNamed) {
  KernelSpec spec = tinySpec();
  KdaCase c = makeRandomCase(spec, 1, 4, {}, 1);
  mlir::MLIRContext ctx;
  ctx.allowUnregisteredDialects();
  test::loadKdacDialects(ctx);
  const char *ir = R"mlir(
    func.func @kda_forward(%q: tensor<1x4x1x2xf32>, %k: tensor<1x4x1x2xf32>,
                           %v: tensor<1x4x1x2xf32>, %g: tensor<1x4x1x2xf32>,
                           %beta: tensor<1x4x1xf32>) -> tensor<1x4x1x2xf32> {
      %o = "mystery.op"(%v) : (tensor<1x4x1x2xf32>) -> tensor<1x4x1x2xf32>
      return %o : tensor<1x4x1x2xf32>
    }
  )mlir";
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(ir, &ctx, "unknown.mlir");
  ASSERT_TRUE(module);
  std::string error = errorOf(*module, spec, c.inputs);
  EXPECT_NE(error.find("mystery.op"), std::string::npos) << error;
  EXPECT_NE(error.find("unknown.mlir"), std::string::npos) << error;
}

TEST(InterpreterErrors, InputsThatDisagreeWithTheSpec) {
  KernelSpec spec = tinySpec();
  KdaCase c = makeRandomCase(spec, 1, 4, {}, 1);
  mlir::MLIRContext ctx;
  mlir::OwningOpRef<mlir::ModuleOp> module = buildRecurrenceModule(ctx, spec);
  ASSERT_TRUE(module);
  c.inputs.q.pop_back();
  std::string error = errorOf(*module, spec, c.inputs);
  EXPECT_NE(error.find("q has 7 elements"), std::string::npos) << error;
}

TEST(InterpreterErrors, ArgumentCountMismatch) {
  KernelSpec spec = tinySpec();
  KdaCase c = makeRandomCase(spec, 1, 4, {}, 1);
  mlir::MLIRContext ctx;
  // A module built with an initial state, run with a spec that has none.
  KernelSpec withState = spec;
  withState.hasInitialState = true;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      buildRecurrenceModule(ctx, withState);
  ASSERT_TRUE(module);
  std::string error = errorOf(*module, spec, c.inputs);
  EXPECT_NE(error.find("has 6 arguments, but the spec implies 5"),
            std::string::npos)
      << error;
}

TEST(InterpreterErrors, StaticShapeMismatch) {
  KernelSpec spec = tinySpec();
  mlir::MLIRContext ctx;
  mlir::OwningOpRef<mlir::ModuleOp> module = buildRecurrenceModule(ctx, spec);
  ASSERT_TRUE(module);
  // Same spec but T = 5: the module's static T = 4 no longer fits.
  KernelSpec other = spec;
  other.T = 5;
  KdaCase c = makeRandomCase(other, 1, 5, {}, 1);
  std::string error = errorOf(*module, other, c.inputs);
  EXPECT_NE(error.find("argument #0 (q) has type tensor<1x4x1x2xf32>"),
            std::string::npos)
      << error;
}

TEST(InterpreterErrors, MissingEntryFunction) {
  KernelSpec spec = tinySpec();
  KdaCase c = makeRandomCase(spec, 1, 4, {}, 1);
  mlir::MLIRContext ctx;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>("module {}", &ctx);
  ASSERT_TRUE(module);
  std::string error = errorOf(*module, spec, c.inputs);
  EXPECT_NE(error.find("@kda_forward"), std::string::npos) << error;
}
