//===- ChunkEquivalenceTest.cpp - recurrence == chunked == expanded -------===//
//
// The passes that derive the chunkwise algorithm are proven numerically: the
// interpreter runs the IR after each stage, for every golden vector and for
// random cases over the shapes that stress tails, varlen boundaries, GVA and
// head dims, for every chunk size and UT inverse method, and must match the
// fp64 oracle to 1e-10; the split stage (kda-chunk-split) must reproduce
// the expanded stage exactly. Strong decays run in f32 to show the anchored
// factorisation keeps everything finite.
//
//===----------------------------------------------------------------------===//
#include "kdac/Frontend/SpecToIR.h"
#include "kdac/Interpreter/Interpreter.h"
#include "kdac/Pipelines/Pipelines.h"
#include "kdac/Reference/Case.h"

#include "../GoldenFiles.h"
#include "UTMethods.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>

using namespace kdac;

namespace {

using test::Method;
using test::methodsFor;

class StageRunner {
public:
  StageRunner() {
    registerKdacDialects(registry);
    context = std::make_unique<mlir::MLIRContext>(registry);
  }

  /// Compiles \p spec to \p stage and interprets it on \p inputs.
  llvm::Expected<KdaOutputs> run(KernelSpec spec, const KdaInputs &inputs,
                                 Stage stage,
                                 const ChunkedPipelineOptions &options,
                                 InterpreterOptions::Precision precision =
                                     InterpreterOptions::Precision::F64) {
    spec.hasFinalState = true;
    mlir::OwningOpRef<mlir::ModuleOp> module =
        buildRecurrenceModule(*context, spec);
    if (!module)
      return llvm::createStringError("spec does not build");
    mlir::PassManager pm(context.get());
    buildPipeline(pm, stage, options);
    if (mlir::failed(pm.run(*module)))
      return llvm::createStringError("pipeline failed");
    InterpreterOptions interp;
    interp.precision = precision;
    return interpret(*module, spec, inputs, interp);
  }

private:
  mlir::DialectRegistry registry;
  std::unique_ptr<mlir::MLIRContext> context;
};

bool allFinite(const std::vector<double> &xs) {
  for (double x : xs)
    if (!std::isfinite(x))
      return false;
  return true;
}

/// Checks every stage, chunk size and method against the oracle's outputs.
void expectAllStagesMatch(StageRunner &runner, const KernelSpec &spec,
                          const KdaInputs &inputs, const std::string &label) {
  llvm::Expected<KdaOutputs> want = runReference(spec, inputs);
  ASSERT_TRUE(static_cast<bool>(want)) << llvm::toString(want.takeError());
  auto check = [&](Stage stage, const ChunkedPipelineOptions &options,
                   const std::string &what) -> std::optional<KdaOutputs> {
    llvm::Expected<KdaOutputs> got = runner.run(spec, inputs, stage, options);
    if (!got) {
      ADD_FAILURE() << label << " " << what << ": "
                    << llvm::toString(got.takeError());
      return std::nullopt;
    }
    double errO = relativeError(got->o, want->o);
    double errS = relativeError(got->finalState, want->finalState);
    EXPECT_TRUE(allFinite(got->o) && errO <= 1e-10)
        << label << " " << what << ": o rel err " << errO;
    EXPECT_TRUE(allFinite(got->finalState) && errS <= 1e-10)
        << label << " " << what << ": final_state rel err " << errS;
    return std::move(*got);
  };
  check(Stage::KDA, {}, "recurrence");
  for (int64_t chunk : {16, 32, 64, 128}) {
    ChunkedPipelineOptions options;
    options.chunkSize = chunk;
    check(Stage::Chunked, options, "chunked C=" + std::to_string(chunk));
    for (auto [i, method] : llvm::enumerate(methodsFor(chunk))) {
      options.utMethod = method.utMethod;
      options.diagMethod = method.diagMethod;
      for (int64_t anchor : {0, 16}) {
        options.anchorBlock = anchor;
        std::string what = "C=" + std::to_string(chunk) + " " +
                           method.utMethod + "/" + method.diagMethod +
                           " anchor=" + std::to_string(anchor);
        std::optional<KdaOutputs> expanded =
            check(Stage::Expanded, options, "expanded " + what);
        if (i != 0 || !expanded)
          continue;
        // kda-chunk-split moves ops between two loops and folds the decays
        // into the values that cross, in the order the loop computed them:
        // the split stage's numbers are the expanded stage's, bit for bit.
        std::optional<KdaOutputs> split =
            check(Stage::Split, options, "split " + what);
        if (split) {
          EXPECT_EQ(split->o, expanded->o) << label << " split " << what;
          EXPECT_EQ(split->finalState, expanded->finalState)
              << label << " split " << what;
        }
      }
    }
  }
}

TEST(ChunkEquivalence, GoldenVectors) {
  StageRunner runner;
  std::vector<std::string> files = test::goldenFiles();
  for (const std::string &path : files) {
    llvm::Expected<KdaCase> c = loadCase(path);
    ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
    expectAllStagesMatch(runner, c->spec, c->inputs,
                         llvm::sys::path::filename(path).str());
  }
  EXPECT_GT(files.size(), 0u)
      << "no golden vectors in " << test::goldenDirectory();
}

KernelSpec baseSpec(int64_t h, int64_t hv, int64_t k, int64_t v) {
  KernelSpec spec;
  spec.H = h;
  spec.HV = hv;
  spec.K = k;
  spec.V = v;
  spec.dtype = DType::F32;
  spec.betaDType = DType::F32;
  spec.hasInitialState = true;
  spec.hasFinalState = true;
  return spec;
}

TEST(ChunkEquivalence, SequenceLengthsAroundChunkBoundaries) {
  StageRunner runner;
  KernelSpec spec = baseSpec(1, 2, 32, 16);
  spec.qkL2Norm = true;
  spec.activation = GateActivation::LowerBound;
  spec.lowerBound = -5.0;
  spec.hasALog = spec.hasDtBias = true;
  spec.betaSigmoid = true;
  for (int64_t t : {1, 15, 16, 17, 100, 257}) {
    KdaCase c = makeRandomCase(spec, 2, t, {}, 100 + t);
    expectAllStagesMatch(runner, c.spec, c.inputs, "T=" + std::to_string(t));
  }
}

TEST(ChunkEquivalence, VarlenWithLengthOneSequences) {
  StageRunner runner;
  KernelSpec spec = baseSpec(2, 4, 16, 32);
  spec.varlen = true;
  spec.stateLayout = StateLayout::VK;
  spec.activation = GateActivation::Softplus;
  spec.hasALog = true;
  KdaCase c = makeRandomCase(spec, 1, 1 + 33 + 1 + 1 + 70, {1, 33, 1, 1, 70}, 7);
  expectAllStagesMatch(runner, c.spec, c.inputs, "varlen");
}

TEST(ChunkEquivalence, HeadDims) {
  StageRunner runner;
  for (int64_t k : {16, 64, 128, 256}) {
    KernelSpec spec = baseSpec(1, 2, k, 64);
    KdaCase c = makeRandomCase(spec, 1, 70, {}, k);
    expectAllStagesMatch(runner, c.spec, c.inputs, "K=" + std::to_string(k));
  }
}

TEST(ChunkEquivalence, FamilyMembers) {
  StageRunner runner;
  KernelSpec scalar = baseSpec(2, 2, 32, 32);
  scalar.gate = GateGranularity::Scalar;
  KernelSpec ungated = baseSpec(2, 2, 32, 32);
  ungated.gate = GateGranularity::None;
  KernelSpec additive = baseSpec(2, 2, 32, 32);
  additive.update = UpdateRule::Additive;
  int seed = 0;
  for (const KernelSpec &spec : {scalar, ungated, additive}) {
    KdaCase c = makeRandomCase(spec, 1, 45, {}, ++seed);
    expectAllStagesMatch(runner, c.spec, c.inputs,
                         std::string("gate=") + toString(spec.gate) +
                             " update=" + toString(spec.update));
  }
}

/// Per-step log-decays down to -20 over chunks of 128: a whole-chunk
/// factorisation exp(gc_i) * exp(-gc_j) would overflow f32 many times over;
/// the anchored evaluation stays finite and accurate.
TEST(ChunkEquivalence, StrongDecayStaysFiniteInF32) {
  StageRunner runner;
  KernelSpec spec = baseSpec(1, 1, 64, 64);
  KdaCase c = makeRandomCase(spec, 1, 300, {}, 42);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> decay(-20.0, 0.0);
  for (double &g : c.inputs.g)
    g = static_cast<float>(decay(rng));
  llvm::Expected<KdaOutputs> want = runReference(c.spec, c.inputs);
  ASSERT_TRUE(static_cast<bool>(want));
  ChunkedPipelineOptions options;
  options.chunkSize = 128;
  llvm::Expected<KdaOutputs> got =
      runner.run(c.spec, c.inputs, Stage::Expanded, options,
                 InterpreterOptions::Precision::F32);
  ASSERT_TRUE(static_cast<bool>(got)) << llvm::toString(got.takeError());
  EXPECT_TRUE(allFinite(got->o));
  EXPECT_TRUE(allFinite(got->finalState));
  EXPECT_LE(relativeError(got->o, want->o), 1e-4);
  EXPECT_LE(relativeError(got->finalState, want->finalState), 1e-4);
}

} // namespace
