//===- ChunkGradEquivalenceTest.cpp - recurrence == chunked backward ------===//
//
// The chunked backward that kda-chunk and kda-chunk-adjoint derive, run by
// the interpreter as one loop (before kda-chunk-grad-split) and split into
// its two scans and map (after the chunked and the expanded stages, and
// with the bodies decomposed into tile primitives at the split stage), against
// the fp64 reverse-mode recurrence (lib/Reference) at 1e-10: every gradient
// golden (../shared/golden_bwd) and random cases over tails, varlen
// boundaries, GVA, both layouts, the fused prologue options and the family
// members, for chunk sizes 16, 32 and 64 and every UT inverse method.
//
//===----------------------------------------------------------------------===//
#include "kdac/Frontend/SpecToIR.h"
#include "kdac/Interpreter/Interpreter.h"
#include "kdac/Pipelines/Pipelines.h"
#include "kdac/Reference/Case.h"
#include "kdac/Reference/ReferenceBackward.h"
#include "kdac/Transforms/Passes.h"

#include "../GoldenFiles.h"
#include "UTMethods.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace kdac;

namespace {

using test::Method;
using test::methodsFor;

/// Compiles @kda_backward for a spec to a stage and interprets it.
class GradientRunner {
public:
  GradientRunner() {
    registerKdacDialects(registry);
    context = std::make_unique<mlir::MLIRContext>(registry);
  }

  /// With `unsplit`, only kda-chunk and kda-chunk-adjoint run: the
  /// backward stays one kda.chunk_grad_loop.
  llvm::Expected<KdaGradients> run(const KernelSpec &spec,
                                   const KdaInputs &inputs,
                                   const KdaCotangents &cot, Stage stage,
                                   const ChunkedPipelineOptions &options,
                                   bool unsplit = false) {
    mlir::OwningOpRef<mlir::ModuleOp> module =
        buildRecurrenceGradModule(*context, spec);
    if (!module)
      return llvm::createStringError("spec does not build");
    mlir::PassManager pm(context.get());
    if (unsplit) {
      mlir::OpPassManager &funcPm = pm.nest<mlir::func::FuncOp>();
      funcPm.addPass(createKDAChunk({options.chunkSize}));
      funcPm.addPass(createKDAChunkAdjoint());
    } else {
      buildPipeline(pm, stage, options);
    }
    if (mlir::failed(pm.run(*module)))
      return llvm::createStringError("pipeline failed");
    return interpretGradients(*module, spec, inputs, cot);
  }

private:
  mlir::DialectRegistry registry;
  std::unique_ptr<mlir::MLIRContext> context;
};

struct Field {
  const char *name;
  std::vector<double> KdaGradients::*grad;
};
const Field kFields[] = {{"dq", &KdaGradients::dq},
                         {"dk", &KdaGradients::dk},
                         {"dv", &KdaGradients::dv},
                         {"dg", &KdaGradients::dg},
                         {"dbeta", &KdaGradients::dbeta},
                         {"dA_log", &KdaGradients::dALog},
                         {"ddt_bias", &KdaGradients::dDtBias},
                         {"dh0", &KdaGradients::dInitialState}};

bool allFinite(const std::vector<double> &xs) {
  for (double x : xs)
    if (!std::isfinite(x))
      return false;
  return true;
}

/// Every chunk size and inverse method against the oracle's gradients.
void expectAllStagesMatch(GradientRunner &runner, const KernelSpec &spec,
                          const KdaInputs &inputs, const KdaCotangents &cot,
                          const std::string &label) {
  llvm::Expected<KdaGradients> want = runReferenceBackward(spec, inputs, cot);
  ASSERT_TRUE(bool(want)) << llvm::toString(want.takeError());
  auto check = [&](Stage stage, const ChunkedPipelineOptions &options,
                   const std::string &what, bool unsplit = false) {
    llvm::Expected<KdaGradients> got =
        runner.run(spec, inputs, cot, stage, options, unsplit);
    ASSERT_TRUE(bool(got)) << label << " " << what << ": "
                           << llvm::toString(got.takeError());
    for (const Field &f : kFields) {
      const std::vector<double> &g = (*got).*f.grad, &w = (*want).*f.grad;
      ASSERT_EQ(g.size(), w.size()) << label << " " << what << " " << f.name;
      if (w.empty())
        continue;
      double err = relativeError(g, w);
      EXPECT_TRUE(allFinite(g) && err <= 1e-10)
          << label << " " << what << ": " << f.name << " rel err " << err;
    }
  };
  for (int64_t chunk : {16, 32, 64}) {
    ChunkedPipelineOptions options;
    options.chunkSize = chunk;
    check(Stage::Chunked, options, "chunked C=" + std::to_string(chunk));
    check(Stage::Chunked, options, "unsplit C=" + std::to_string(chunk),
          /*unsplit=*/true);
    for (Method method : methodsFor(chunk)) {
      options.utMethod = method.utMethod;
      options.diagMethod = method.diagMethod;
      options.anchorBlock = 16;
      check(Stage::Expanded, options,
            "expanded C=" + std::to_string(chunk) + " " + method.utMethod +
                "/" + method.diagMethod);
    }
    // The split stage spells the backward's bodies out as tile primitives
    // (kda-grad-decompose): the kernels' op-for-op program.
    check(Stage::Split, options,
          "decomposed C=" + std::to_string(chunk) + " " + options.utMethod);
    // The scans' state-free work ahead in a kda.chunk_map
    // (kda-grad-scan-prep), read back as their prepared operands.
    options.gradScanPrep = true;
    check(Stage::Split, options,
          "prepared C=" + std::to_string(chunk) + " " + options.utMethod);
  }
}

KernelSpec baseSpec(int64_t h, int64_t hv, int64_t k, int64_t v) {
  KernelSpec spec;
  spec.H = h;
  spec.HV = hv;
  spec.K = k;
  spec.V = v;
  spec.dtype = spec.gateDType = spec.betaDType = DType::F32;
  spec.hasInitialState = true;
  spec.hasFinalState = true;
  return spec;
}

void runRandom(const KernelSpec &spec, int64_t B, int64_t T,
               std::vector<int64_t> seqLens, uint64_t seed,
               const std::string &label) {
  GradientRunner runner;
  ASSERT_EQ(validate(spec), "") << label;
  KdaCase c = makeRandomCase(spec, B, T, std::move(seqLens), seed);
  // Moderate gate parameters: FLA-style ones saturate the sigmoid and leave
  // the gate's gradients at rounding level, where nothing is checked.
  std::mt19937_64 rng(seed + 1);
  std::normal_distribution<double> normal;
  for (double &x : c.inputs.aLog)
    x = 0.3 * normal(rng);
  for (double &x : c.inputs.dtBias)
    x = 0.5 * normal(rng);
  expectAllStagesMatch(runner, c.spec, c.inputs,
                       makeRandomCotangents(c.spec, c.inputs, seed + 2), label);
}

TEST(ChunkGradEquivalence, GradientGoldens) {
  GradientRunner runner;
  std::vector<std::string> files = test::goldenBwdFiles();
  for (const std::string &path : files) {
    llvm::Expected<KdaCase> c = loadCase(path);
    ASSERT_TRUE(bool(c)) << llvm::toString(c.takeError());
    ASSERT_TRUE(c->cotangents.has_value()) << path;
    expectAllStagesMatch(runner, c->spec, c->inputs, *c->cotangents,
                         llvm::sys::path::filename(path).str());
  }
  EXPECT_GT(files.size(), 0u)
      << "no gradient goldens in " << test::goldenBwdDirectory();
}

TEST(ChunkGradEquivalence, FusedOptionsAroundChunkBoundaries) {
  KernelSpec spec = baseSpec(1, 2, 32, 16);
  spec.qkL2Norm = true;
  spec.activation = GateActivation::LowerBound;
  spec.lowerBound = -5.0;
  spec.hasALog = spec.hasDtBias = true;
  spec.betaSigmoid = true;
  for (int64_t t : {1, 16, 17, 70})
    runRandom(spec, 2, t, {}, 100 + t, "T=" + std::to_string(t));
}

TEST(ChunkGradEquivalence, VarlenGvaVkLayoutSoftplus) {
  KernelSpec spec = baseSpec(2, 4, 16, 24);
  spec.varlen = true;
  spec.stateLayout = StateLayout::VK;
  spec.activation = GateActivation::Softplus;
  spec.hasALog = true;
  spec.hasDtBias = true;
  runRandom(spec, 1, 1 + 33 + 1 + 40, {1, 33, 1, 40}, 7, "varlen");
}

TEST(ChunkGradEquivalence, FamilyMembersAndStates) {
  KernelSpec scalar = baseSpec(2, 2, 16, 16);
  scalar.gate = GateGranularity::Scalar;
  scalar.activation = GateActivation::Softplus;
  scalar.hasALog = scalar.hasDtBias = true;
  KernelSpec ungated = baseSpec(2, 2, 16, 16);
  ungated.gate = GateGranularity::None;
  KernelSpec additive = baseSpec(2, 2, 16, 16);
  additive.update = UpdateRule::Additive;
  KernelSpec stateless = baseSpec(1, 1, 16, 16);
  stateless.hasInitialState = stateless.hasFinalState = false;
  stateless.scale = 0.3;
  int seed = 0;
  for (const KernelSpec &spec : {scalar, ungated, additive, stateless})
    runRandom(spec, 1, 45, {}, ++seed,
              std::string("gate=") + toString(spec.gate) +
                  " update=" + toString(spec.update) +
                  (spec.hasInitialState ? "" : " no states"));
}

} // namespace
