//===- JitGpuBackwardTest.cpp - The backward's kernels on the GPU ---------===//
//
// Labelled `gpu` with JitGpuTest.cpp (one executable): the backward's
// kernels (convert-kda-grad-to-kdk) at the defaults and at either side of
// each compile choice, against the fp64 reverse-mode oracle on the same
// rounded inputs (f32 at 1e-4, 16-bit at 5e-3) and on every golden_bwd
// file, outputs poisoned first.
//
//===----------------------------------------------------------------------===//
#include "kdac/Jit/Codegen.h"
#include "kdac/Reference/ReferenceBackward.h"
#include "kdac/Testing/GpuCase.h"

#include "../GoldenFiles.h"
#include "JitGpuFixture.h"

#include <gtest/gtest.h>

#include <cstdio>

using namespace kdac;
using kdac::test::JitGpu;
using kdac::test::toleranceFor;

//===----------------------------------------------------------------------===//
// The backward's kernels (convert-kda-grad-to-kdk), against the fp64
// reverse-mode oracle on the same (rounded) inputs.
//===----------------------------------------------------------------------===//

namespace {

void expectGradientsMatch(Jit &jit, const KdaCase &c, const KdaCotangents &cot,
                          const std::string &label, double tol = 0) {
  llvm::Expected<KdaGradients> want =
      runReferenceBackward(c.spec, c.inputs, cot);
  ASSERT_TRUE(bool(want)) << label << ": " << llvm::toString(want.takeError());
  llvm::Expected<KdaGradients> got = runBackwardOnGpu(jit, c, cot);
  ASSERT_TRUE(bool(got)) << label << ": " << llvm::toString(got.takeError());
  if (tol == 0)
    tol = toleranceFor(c.spec);
  for (const GradientField &field : kGradientFields) {
    const std::vector<double> &g = (*got).*field.member,
                              &w = (*want).*field.member;
    ASSERT_EQ(g.size(), w.size()) << label << " " << field.name;
    if (w.empty())
      continue;
    double err = relativeError(g, w);
    // NaN (a gradient the kernels never wrote) fails the comparison.
    EXPECT_TRUE(err <= tol) << label << ": " << field.name << " rel err "
                            << err;
    std::printf("%s: %s rel err %.3e\n", label.c_str(), field.name, err);
  }
}

} // namespace

TEST_F(JitGpu, BackwardKernelsMatchTheOracle) {
  struct Case {
    const char *label;
    DType dtype;
    bool states, varlen, vk;
    GateGranularity gate;
    int64_t K, V, B, T;
    std::vector<int64_t> lens;
  };
  const Case cases[] = {
      {"f32 states T=45", DType::F32, true, false, false,
       GateGranularity::Channel, 32, 32, 2, 45, {}},
      {"f32 stateless T=16", DType::F32, false, false, false,
       GateGranularity::Channel, 32, 16, 1, 16, {}},
      {"bf16 K=V=64 T=100", DType::BF16, true, false, false,
       GateGranularity::Channel, 64, 64, 1, 100, {}},
      {"bf16 K=V=128 T=70", DType::BF16, true, false, false,
       GateGranularity::Channel, 128, 128, 1, 70, {}},
      {"f32 K=128 V=64 varlen", DType::F32, true, true, false,
       GateGranularity::Channel, 128, 64, 1, 19 + 40, {19, 40}},
      {"f32 varlen vk gate=none", DType::F32, true, true, true,
       GateGranularity::None, 16, 32, 1, 1 + 33 + 17, {1, 33, 17}}};
  int seed = 900;
  for (const Case &tc : cases) {
    KernelSpec spec;
    spec.op = KernelOp::Backward;
    spec.H = spec.HV = 2;
    spec.K = tc.K;
    spec.V = tc.V;
    spec.dtype = tc.dtype;
    spec.gateDType = spec.betaDType = tc.dtype == DType::F32 ? DType::F32
                                                             : tc.dtype;
    spec.gate = tc.gate;
    spec.varlen = tc.varlen;
    spec.stateLayout = tc.vk ? StateLayout::VK : StateLayout::KV;
    spec.hasInitialState = spec.hasFinalState = tc.states;
    ASSERT_EQ(validate(spec), "") << tc.label;
    KdaCase c = makeRandomCase(spec, tc.B, tc.T, tc.lens, ++seed);
    expectGradientsMatch(jit(), c, makeRandomCotangents(spec, c.inputs, ++seed),
                         tc.label);
  }
}

// The prologue's adjoints (qk L2 norm, gate activations with A_log and
// dt_bias, beta sigmoid, GVA's group sum, a per-head gate's row sum) on
// fresh random inputs, every fused option at once and one at a time.
TEST_F(JitGpu, BackwardPrologueAdjointsMatchTheOracle) {
  struct Case {
    const char *label;
    DType dtype;
    int64_t HV;
    GateGranularity gate;
    GateActivation activation;
    bool aLog, dtBias, l2norm, sigmoid, varlen;
  };
  const Case cases[] = {
      {"f32 GVA varlen all fused softplus", DType::F32, 4,
       GateGranularity::Channel, GateActivation::Softplus, true, true, true,
       true, true},
      {"f32 lowerbound A_log dt_bias", DType::F32, 2, GateGranularity::Channel,
       GateActivation::LowerBound, true, true, false, false, false},
      {"f32 lowerbound without A_log", DType::F32, 2,
       GateGranularity::Channel, GateActivation::LowerBound, false, true,
       false, false, false},
      {"f32 per-head gate softplus", DType::F32, 2, GateGranularity::Scalar,
       GateActivation::Softplus, true, true, false, true, false},
      {"f32 per-head gate, no activation", DType::F32, 2,
       GateGranularity::Scalar, GateActivation::None, false, false, false,
       false, false},
      {"f32 GVA l2norm only", DType::F32, 4, GateGranularity::Channel,
       GateActivation::None, false, false, true, false, false},
      // A group of four value heads: kda_bwd_group_sum's loop reuses its
      // share tile (a barrier must separate the add from the next load).
      {"f32 GVA group of 4", DType::F32, 8, GateGranularity::Channel,
       GateActivation::Softplus, true, true, true, true, true},
      {"bf16 GVA all fused lowerbound", DType::BF16, 4,
       GateGranularity::Channel, GateActivation::LowerBound, true, true, true,
       true, true}};
  int seed = 1700;
  for (const Case &tc : cases) {
    KernelSpec spec;
    spec.op = KernelOp::Backward;
    spec.H = 2;
    spec.HV = tc.HV;
    spec.K = 32;
    spec.V = 32;
    spec.dtype = tc.dtype;
    spec.gateDType = DType::F32;
    spec.betaDType = tc.dtype;
    spec.gate = tc.gate;
    spec.activation = tc.activation;
    if (tc.activation == GateActivation::LowerBound)
      spec.lowerBound = -5.0;
    spec.hasALog = tc.aLog;
    spec.hasDtBias = tc.dtBias;
    spec.qkL2Norm = tc.l2norm;
    spec.betaSigmoid = tc.sigmoid;
    spec.varlen = tc.varlen;
    spec.hasInitialState = spec.hasFinalState = true;
    ASSERT_EQ(validate(spec), "") << tc.label;
    std::vector<int64_t> lens;
    if (tc.varlen)
      lens = {20, 1, 47};
    KdaCase c = makeRandomCase(spec, tc.varlen ? 1 : 2,
                               tc.varlen ? 68 : 40, lens, ++seed);
    expectGradientsMatch(jit(), c, makeRandomCotangents(spec, c.inputs, ++seed),
                         tc.label);
  }
}

namespace {

/// A backward case of the compile-choice tests below: H = 2, states in and
/// out, the vk layout when `vk`, and with `fused` every prologue option
/// (softplus gate, or lowerbound(-5) with `boundedGate`, with A_log and
/// dt_bias, qk L2 norm, beta sigmoid).
struct ChoiceCase {
  const char *label;
  DType dtype;
  int64_t HV, K, V, B, T;
  std::vector<int64_t> lens;
  bool vk, fused;
  /// The scans' column tile (grad_v_tile), 0 for all of V.
  int64_t valueTile = 0;
  bool boundedGate = false;
};

void expectChoiceCaseMatches(Jit &jit, const ChoiceCase &tc, int seed,
                             double tol = 0) {
  KernelSpec spec;
  spec.op = KernelOp::Backward;
  spec.H = 2;
  spec.HV = tc.HV;
  spec.K = tc.K;
  spec.V = tc.V;
  spec.dtype = tc.dtype;
  spec.gateDType = DType::F32;
  spec.betaDType = tc.dtype;
  spec.varlen = !tc.lens.empty();
  spec.stateLayout = tc.vk ? StateLayout::VK : StateLayout::KV;
  if (tc.fused) {
    spec.activation =
        tc.boundedGate ? GateActivation::LowerBound : GateActivation::Softplus;
    if (tc.boundedGate)
      spec.lowerBound = -5.0;
    spec.hasALog = spec.hasDtBias = spec.qkL2Norm = spec.betaSigmoid = true;
  }
  spec.hasInitialState = spec.hasFinalState = true;
  ASSERT_EQ(validate(spec), "") << tc.label;
  KdaCase c = makeRandomCase(spec, tc.B, tc.T, tc.lens, seed);
  expectGradientsMatch(jit, c, makeRandomCotangents(spec, c.inputs, seed + 1),
                       tc.label, tol);
}

} // namespace

// The backward's products on tensor cores (kdk-select-products tf32): bf16
// inputs at the bf16 tolerance, and f32 inputs, whose products then round
// to tf32's 11 bits, at 5e-3.
TEST_F(JitGpu, BackwardTf32ProductsMatchTheOracle) {
  ChunkedPipelineOptions pipeline;
  pipeline.gradProducts = "tf32";
  const ChoiceCase cases[] = {
      {"tf32 bf16 K=V=64 T=100", DType::BF16, 2, 64, 64, 1, 100, {}, false,
       false},
      {"tf32 bf16 K=V=128 T=70", DType::BF16, 2, 128, 128, 1, 70, {}, false,
       false},
      {"tf32 bf16 GVA varlen all fused", DType::BF16, 4, 32, 32, 1, 68,
       {20, 1, 47}, false, true},
      {"tf32 f32 vk K=64 V=32 T=45", DType::F32, 2, 64, 32, 2, 45, {}, true,
       false}};
  int seed = 2300;
  for (const ChoiceCase &tc : cases)
    expectChoiceCaseMatches(jitWith(pipeline), tc, seed += 2, 5e-3);
}

// A lowerbound gate bounds the log-decay, so bf16 specs' decayed grams and
// their adjoints run on tensor cores (kdk-select-products): one 8-column
// strip per warp at K=128, two at K=256, idle warps at K=32 with 256
// threads; the same specs with FMA products take the direct forms.
TEST_F(JitGpu, BackwardGramsOnTensorCoresMatchTheOracle) {
  const ChoiceCase cases[] = {
      {"bounded bf16 K=V=128 T=70", DType::BF16, 2, 128, 128, 1, 70, {},
       false, true, 0, true},
      {"bounded bf16 GVA vk varlen K=64 V=32", DType::BF16, 4, 64, 32, 1, 68,
       {20, 1, 47}, true, true, 0, true},
      {"bounded bf16 K=V=256 T=40", DType::BF16, 2, 256, 256, 1, 40, {},
       false, true, 0, true}};
  ChunkedPipelineOptions narrowMap, fma;
  narrowMap.gradMapBlockThreads = 256;
  fma.gradProducts = "fma";
  const ChoiceCase narrow = {"bounded bf16 K=V=32 256-thread map",
                             DType::BF16, 2, 32, 32, 2, 45, {}, false, true,
                             0, true};
  int seed = 3700;
  for (const ChoiceCase &tc : cases)
    expectChoiceCaseMatches(jit(), tc, seed += 2);
  expectChoiceCaseMatches(jitWith(narrowMap), narrow, seed += 2);
  expectChoiceCaseMatches(jitWith(fma), cases[0], seed += 2);
}

// The scans split by columns (grad_v_tile): V / tile blocks per (sequence,
// value head), both state layouts, GVA, varlen and the fused prologue.
TEST_F(JitGpu, BackwardScansSplitByColumnsMatchTheOracle) {
  const ChoiceCase cases[] = {
      {"split bf16 K=V=64 tile 32", DType::BF16, 2, 64, 64, 1, 100, {}, false,
       false, 32},
      {"split bf16 K=V=128 tile 64", DType::BF16, 2, 128, 128, 1, 70, {},
       false, false, 64},
      {"split f32 vk varlen K=16 V=32 tile 16", DType::F32, 2, 16, 32, 1, 51,
       {1, 33, 17}, true, false, 16},
      {"split f32 GVA varlen all fused tile 8", DType::F32, 4, 32, 32, 1, 68,
       {20, 1, 47}, false, true, 8}};
  int seed = 2500;
  for (const ChoiceCase &tc : cases) {
    ChunkedPipelineOptions pipeline;
    pipeline.gradValueTile = tc.valueTile;
    expectChoiceCaseMatches(jitWith(pipeline), tc, seed += 2);
  }
}

// The barriers: thinned by kdk-thin-barriers (the default, which every
// other backward test runs) and every barrier the lowering places, alone
// and with the other backward choices on either side of their defaults.
// Run under compute-sanitizer --tool racecheck as well.
TEST_F(JitGpu, BackwardBarrierChoicesMatchTheOracle) {
  const ChoiceCase cases[] = {
      {"every barrier bf16 K=V=64", DType::BF16, 2, 64, 64, 1, 100, {}, false,
       false},
      {"every barrier bf16 K=V=128", DType::BF16, 2, 128, 128, 1, 70, {},
       false, false},
      {"every barrier f32 vk varlen", DType::F32, 2, 16, 32, 1, 51,
       {1, 33, 17}, true, false},
      {"every barrier f32 GVA varlen all fused", DType::F32, 4, 32, 32, 1, 68,
       {20, 1, 47}, false, true}};
  int seed = 2700;
  ChunkedPipelineOptions everyBarrier;
  everyBarrier.thinBarriers = false;
  for (const ChoiceCase &tc : cases)
    expectChoiceCaseMatches(jitWith(everyBarrier), tc, seed += 2);
  const ChoiceCase fusedGva = {"bf16 GVA varlen all fused", DType::BF16,
                               4, 64, 64, 1, 68, {20, 1, 47}, false, true};
  ChunkedPipelineOptions tf32Split32;
  tf32Split32.gradProducts = "tf32";
  tf32Split32.gradValueTile = 32;
  expectChoiceCaseMatches(jitWith(tf32Split32), fusedGva, seed += 2, 5e-3);
  ChunkedPipelineOptions fmaUnsplit = everyBarrier;
  fmaUnsplit.gradProducts = "fma";
  fmaUnsplit.gradValueTile = 0;
  expectChoiceCaseMatches(jitWith(fmaUnsplit), fusedGva, seed += 2);
}

// The scans' state-free work ahead in kda_bwd_prep (kda-grad-scan-prep, the
// default) with the scans split by several column tiles (the prepared u is
// V wide and sliced with them), with every barrier, with 512-thread
// per-chunk kernels, and the scans that compute everything themselves.
TEST_F(JitGpu, BackwardScanPrepChoicesMatchTheOracle) {
  const ChoiceCase cases[] = {
      {"prep bf16 K=V=64", DType::BF16, 2, 64, 64, 1, 100, {}, false, false},
      {"prep bf16 K=V=128", DType::BF16, 2, 128, 128, 1, 70, {}, false, false},
      {"prep f32 vk varlen K=16 V=32 tile 16", DType::F32, 2, 16, 32, 1, 51,
       {1, 33, 17}, true, false, 16},
      {"prep f32 GVA varlen all fused tile 8", DType::F32, 4, 32, 32, 1, 68,
       {20, 1, 47}, false, true, 8},
      {"prep bf16 GVA varlen all fused tile 32", DType::BF16, 4, 64, 64, 1, 68,
       {20, 1, 47}, false, true, 32}};
  int seed = 2900;
  for (const ChoiceCase &tc : cases) {
    ChunkedPipelineOptions pipeline;
    pipeline.gradScanPrep = true;
    if (tc.valueTile)
      pipeline.gradValueTile = tc.valueTile;
    expectChoiceCaseMatches(jitWith(pipeline), tc, seed += 2);
  }
  ChunkedPipelineOptions everyBarrier;
  everyBarrier.thinBarriers = false;
  expectChoiceCaseMatches(jitWith(everyBarrier), cases[3], seed += 2);
  ChunkedPipelineOptions narrowMap;
  narrowMap.gradMapBlockThreads = 256;
  expectChoiceCaseMatches(jitWith(narrowMap), cases[4], seed += 2);
  expectChoiceCaseMatches(jitWith(narrowMap), cases[1], seed += 2);
  ChunkedPipelineOptions unboundedScansWidePrep;
  unboundedScansWidePrep.gradScanBlocksPerSM = 0;
  unboundedScansWidePrep.gradPrepBlockThreads = 512;
  expectChoiceCaseMatches(jitWith(unboundedScansWidePrep), cases[1],
                          seed += 2);
  ChunkedPipelineOptions unprepared;
  unprepared.gradScanPrep = false;
  for (const ChoiceCase &tc : cases)
    expectChoiceCaseMatches(jitWith(unprepared), tc, seed += 2);
}

// The map reading each chunk's state and its cotangent from shared copies
// instead of in place from their workspaces (kdk.global_tile, the default),
// with the default 512-thread map and with 256 threads.
TEST_F(JitGpu, BackwardMapSharedStatesMatchTheOracle) {
  const ChoiceCase cases[] = {
      {"shared states bf16 K=V=128", DType::BF16, 2, 128, 128, 1, 70, {}, false,
       false},
      {"shared states f32 vk varlen K=16 V=32", DType::F32, 2, 16, 32, 1, 51,
       {1, 33, 17}, true, false},
      {"shared states bf16 GVA varlen all fused", DType::BF16, 4, 64, 64, 1, 68,
       {20, 1, 47}, false, true},
      {"shared states f32 GVA varlen all fused", DType::F32, 4, 32, 32, 1, 68,
       {20, 1, 47}, false, true}};
  int seed = 3100;
  ChunkedPipelineOptions shared;
  shared.gradMapStatesInPlace = false;
  for (const ChoiceCase &tc : cases)
    expectChoiceCaseMatches(jitWith(shared), tc, seed += 2);
  ChunkedPipelineOptions narrow = shared;
  narrow.gradMapBlockThreads = 256;
  expectChoiceCaseMatches(jitWith(narrow), cases[0], seed += 2);
  expectChoiceCaseMatches(jitWith(narrow), cases[2], seed += 2);
}

// 32-token chunks (forward-substitution inverse: the blocked one has no
// tile lowering yet), which at K = V = 128 fit only with the map's states
// read in place (the default): half the per-chunk state workspaces and scan
// steps.
TEST_F(JitGpu, BackwardThirtyTwoTokenChunksMatchTheOracle) {
  const ChoiceCase cases[] = {
      {"C=32 bf16 K=V=128", DType::BF16, 2, 128, 128, 1, 100, {}, false,
       false},
      {"C=32 f32 vk varlen K=16 V=32", DType::F32, 2, 16, 32, 1, 83,
       {1, 33, 49}, true, false},
      {"C=32 f32 GVA varlen all fused", DType::F32, 4, 32, 32, 1, 100,
       {20, 1, 79}, false, true}};
  ChunkedPipelineOptions pipeline;
  pipeline.chunkSize = 32;
  pipeline.utMethod = "forward-substitution";
  int seed = 3300;
  for (const ChoiceCase &tc : cases)
    expectChoiceCaseMatches(jitWith(pipeline), tc, seed += 2);
}

// K = V = 256 fits at the defaults, the map reading its states in place
// (207 KB of shared memory; 717 KB with shared copies).
TEST_F(JitGpu, BackwardHeadDim256MatchesTheOracle) {
  const ChoiceCase cases[] = {
      {"K=V=256 bf16 all fused", DType::BF16, 2, 256, 256, 1, 40, {}, false,
       true},
      {"K=V=256 f32 vk varlen", DType::F32, 2, 256, 256, 1, 37, {20, 17},
       true, false}};
  int seed = 3500;
  for (const ChoiceCase &tc : cases)
    expectChoiceCaseMatches(jit(), tc, seed += 2);
}

TEST_F(JitGpu, BackwardKernelsOnGradientGoldens) {
  int ran = 0;
  for (const std::string &path : test::goldenBwdFiles()) {
    llvm::Expected<KdaCase> c = loadCase(path);
    ASSERT_TRUE(bool(c)) << llvm::toString(c.takeError());
    c->spec.op = KernelOp::Backward;
    expectGradientsMatch(jit(), *c, *c->cotangents, path);
    ++ran;
  }
  std::printf("%d gradient goldens ran on the GPU\n", ran);
  EXPECT_GT(ran, 0) << "no gradient golden in " << test::goldenBwdDirectory();
}
