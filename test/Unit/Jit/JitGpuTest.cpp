//===- JitGpuTest.cpp - Generated kernels on the GPU against the oracle ---===//
//
// Labelled `gpu`: skipped with a message where there is no CUDA device. All
// golden vectors and random cases over the support matrix run through the
// JIT with outputs poisoned first; f32 inputs must match the fp64 oracle to
// 1e-4, bf16/f16 inputs to 5e-3 (the oracle reads the same rounded inputs).
// The backward's kernels are in JitGpuBackwardTest.cpp (same executable).
//
//===----------------------------------------------------------------------===//
#include "kdac/Jit/Codegen.h"
#include "kdac/Launch/KernelSet.h"
#include "kdac/Reference/StatePool.h"
#include "kdac/Support/FileIO.h"
#include "kdac/Testing/GpuCase.h"

#include "../GoldenFiles.h"
#include "JitGpuFixture.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <memory>

using namespace kdac;
using kdac::test::JitGpu;
using kdac::test::toleranceFor;

namespace {

void expectMatches(const KdaCase &c, const std::string &label, Jit &jit) {
  llvm::Expected<KdaOutputs> got = runCaseOnGpu(jit, c);
  ASSERT_TRUE(static_cast<bool>(got)) << label << ": "
                                      << llvm::toString(got.takeError());
  ASSERT_TRUE(c.expected.has_value());
  double tol = toleranceFor(c.spec);
  double errO = relativeError(got->o, c.expected->o);
  EXPECT_LE(errO, tol) << label << ": o";
  EXPECT_FALSE(std::isnan(errO)) << label << ": o has unwritten (NaN) values";
  if (!c.expected->finalState.empty()) {
    double errS = relativeError(got->finalState, c.expected->finalState);
    EXPECT_LE(errS, tol) << label << ": final_state";
    EXPECT_FALSE(std::isnan(errS)) << label << ": final_state has NaN";
  }
}

TEST_F(JitGpu, GoldenVectors) {
  std::vector<std::string> files = test::goldenFiles();
  for (const std::string &path : files) {
    llvm::Expected<KdaCase> c = loadCase(path);
    ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
    expectMatches(*c, llvm::sys::path::filename(path).str(), jit());
  }
  EXPECT_GT(files.size(), 0u)
      << "no golden vectors in " << test::goldenDirectory();
}

KernelSpec base(DType dtype, int64_t k, int64_t v) {
  KernelSpec spec;
  spec.H = 2;
  spec.HV = 2;
  spec.K = k;
  spec.V = v;
  spec.dtype = spec.betaDType = dtype;
  spec.hasInitialState = spec.hasFinalState = true;
  return spec;
}

TEST_F(JitGpu, SequenceLengths) {
  for (int64_t t : {1, 63, 64, 65, 8192})
    for (DType dtype : {DType::BF16, DType::F32}) {
      KernelSpec spec = base(dtype, 128, 128);
      spec.activation = GateActivation::LowerBound;
      spec.lowerBound = -5.0;
      spec.hasALog = spec.hasDtBias = spec.qkL2Norm = spec.betaSigmoid = true;
      KdaCase c = makeRandomCase(spec, 1, t, {}, 1000 + t);
      expectMatches(c, "T=" + std::to_string(t) + " " + toString(dtype), jit());
    }
}

TEST_F(JitGpu, HeadDimsAndDtypes) {
  for (int64_t k : {64, 128, 256})
    for (int64_t v : {64, 128, 256})
      for (DType dtype : {DType::BF16, DType::F16, DType::F32}) {
        KdaCase c = makeRandomCase(base(dtype, k, v), 2, 100, {}, k * 7 + v);
        expectMatches(c,
                      "K=" + std::to_string(k) + " V=" + std::to_string(v) +
                          " " + toString(dtype),
                      jit());
      }
}

TEST_F(JitGpu, VarlenTinySequencesGvaAndLayouts) {
  for (StateLayout layout : {StateLayout::KV, StateLayout::VK}) {
    KernelSpec spec = base(DType::BF16, 64, 64);
    spec.H = 1;
    spec.HV = 4;
    spec.varlen = true;
    spec.stateLayout = layout;
    spec.activation = GateActivation::Softplus;
    spec.hasALog = spec.betaSigmoid = spec.qkL2Norm = true;
    std::vector<int64_t> lens = {1, 2, 1, 64, 65, 1, 130};
    int64_t t = 0;
    for (int64_t len : lens)
      t += len;
    KdaCase c = makeRandomCase(spec, 1, t, lens, 77);
    expectMatches(c, std::string("varlen layout=") + toString(layout), jit());
  }
}

TEST_F(JitGpu, FamilyMembersAndOptions) {
  int seed = 500;
  auto run = [&](const char *name, auto mutate) {
    KernelSpec spec = base(DType::BF16, 64, 64);
    mutate(spec);
    KdaCase c = makeRandomCase(spec, 2, 150, {}, ++seed);
    expectMatches(c, name, jit());
  };
  run("scalar gate softplus", [](KernelSpec &s) {
    s.gate = GateGranularity::Scalar;
    s.activation = GateActivation::Softplus;
    s.hasALog = s.hasDtBias = true;
  });
  run("no gate", [](KernelSpec &s) { s.gate = GateGranularity::None; });
  run("additive", [](KernelSpec &s) { s.update = UpdateRule::Additive; });
  run("lowerbound without A_log", [](KernelSpec &s) {
    s.activation = GateActivation::LowerBound;
    s.lowerBound = -2.0;
    s.hasDtBias = true;
  });
  run("custom scale, no states", [](KernelSpec &s) {
    s.scale = 0.3;
    s.hasInitialState = s.hasFinalState = false;
  });
  run("f16", [](KernelSpec &s) { s.dtype = s.betaDType = DType::F16; });
}

/// The token-by-token decode kernel against the oracle: a few tokens per
/// sequence, every fused option, GVA, varlen and both state layouts. T = 8
/// fills one token group, T = 11 and the varlen lengths 9 and 17 leave a
/// partial one after full ones.
TEST_F(JitGpu, DecodeKernel) {
  int seed = 900;
  for (StateLayout layout : {StateLayout::KV, StateLayout::VK})
    for (DType dtype : {DType::BF16, DType::F32}) {
      KernelSpec spec = base(dtype, 128, 128);
      spec.op = KernelOp::Decode;
      spec.H = 2;
      spec.HV = 4;
      spec.stateLayout = layout;
      spec.activation = GateActivation::LowerBound;
      spec.lowerBound = -5.0;
      spec.hasALog = spec.hasDtBias = spec.qkL2Norm = spec.betaSigmoid = true;
      for (int64_t t : {1, 3, 8, 11}) {
        KdaCase c = makeRandomCase(spec, 8, t, {}, ++seed);
        expectMatches(c,
                      std::string("decode T=") + std::to_string(t) + " " +
                          toString(layout) + " " + toString(dtype),
                      jit());
      }
      spec.varlen = true;
      KdaCase c = makeRandomCase(spec, 1, 6, {1, 2, 3}, ++seed);
      expectMatches(c, std::string("decode varlen ") + toString(layout), jit());
      c = makeRandomCase(spec, 1, 27, {9, 1, 17}, ++seed);
      expectMatches(c, std::string("decode varlen groups ") + toString(layout),
                    jit());
    }
}

/// A decode spec with every fused option, GVA and the given state options.
KernelSpec decodeSpec(DType dtype, StateLayout layout, DType stateDType) {
  KernelSpec spec = base(dtype, 128, 128);
  spec.op = KernelOp::Decode;
  spec.H = 2;
  spec.HV = 4;
  spec.stateLayout = layout;
  spec.stateDType = stateDType;
  spec.activation = GateActivation::LowerBound;
  spec.lowerBound = -5.0;
  spec.hasALog = spec.hasDtBias = spec.qkL2Norm = spec.betaSigmoid = true;
  return spec;
}

/// A bf16 state is stored rounded: the oracle reads the same rounded input
/// state but keeps its result exact, so the bound is bf16's half-ulp.
double decodeTolerance(const KernelSpec &spec) {
  return spec.stateDType == DType::BF16 ? 5e-3 : toleranceFor(spec);
}

/// Runs a pooled case on the GPU and on runPooledReference; outputs of
/// skipped sequences must still hold the poison (NaN), the rest must match.
void expectPoolMatches(const KernelSpec &spec, int64_t B, int64_t T,
                       std::vector<int64_t> seqLens, int64_t slotsPerSequence,
                       uint64_t seed, const std::string &label, Jit &jit) {
  KernelSpec plain = spec;
  plain.statePool = plain.perTokenStates = plain.acceptedCounts = false;
  KdaCase c = makeRandomCase(plain, B, T, seqLens, seed);
  c.spec.statePool = spec.statePool;
  c.spec.perTokenStates = spec.perTokenStates;
  c.spec.acceptedCounts = spec.acceptedCounts;
  int64_t N = spec.varlen ? int64_t(seqLens.size()) : B;
  StatePool pool = makeRandomPool(spec, N, slotsPerSequence, seed + 1);
  StatePool expected = pool;
  llvm::Expected<std::vector<double>> wantO =
      runPooledReference(c.spec, c.inputs, expected);
  ASSERT_TRUE(static_cast<bool>(wantO)) << label << ": "
                                        << llvm::toString(wantO.takeError());
  llvm::Expected<KdaOutputs> got = runPooledCaseOnGpu(jit, c, pool);
  ASSERT_TRUE(static_cast<bool>(got)) << label << ": "
                                      << llvm::toString(got.takeError());
  std::vector<double> gotWritten, wantWritten;
  int skipped = 0, poisonLost = 0;
  for (size_t i = 0; i < wantO->size(); ++i) {
    if (std::isnan((*wantO)[i])) {
      ++skipped;
      poisonLost += !std::isnan(got->o[i]);
      continue;
    }
    gotWritten.push_back(got->o[i]);
    wantWritten.push_back((*wantO)[i]);
  }
  EXPECT_GT(skipped, 0) << label << ": the case skips no sequence";
  EXPECT_EQ(poisonLost, 0) << label << ": outputs of skipped sequences written";
  double tol = decodeTolerance(spec);
  double errO = relativeError(gotWritten, wantWritten);
  EXPECT_LE(errO, tol) << label << ": o";
  EXPECT_FALSE(std::isnan(errO)) << label << ": o has unwritten (NaN) values";
  double errPool = relativeError(got->finalState, expected.states);
  EXPECT_LE(errPool, tol) << label << ": pool";
  EXPECT_FALSE(std::isnan(errPool)) << label << ": pool has NaN";
}

/// Every state option of the decode kernel against the oracle, with the
/// state in registers and in shared memory: f32 and bf16 state, both
/// layouts, plain states, slot pools, per-token slots with accepted
/// counts, varlen. Specs with a static T = 1 keep a bf16 state 16-bit (packed
/// in registers, or a bf16 shared tile); the others keep it in f32.
TEST_F(JitGpu, DecodeStateOptions) {
  uint64_t seed = 1000;
  for (const char *stateIn : {"registers", "shared"})
    for (StateLayout layout : {StateLayout::KV, StateLayout::VK})
      for (DType stateDType : {DType::F32, DType::BF16}) {
        Jit &jit = decodeJit(stateIn);
        std::string tag = std::string(toString(layout)) + " state " +
                          toString(stateDType) + " in " + stateIn;
        KernelSpec spec = decodeSpec(DType::BF16, layout, stateDType);
        // bf16 inputs: expectMatches' 5e-3 is decodeTolerance's for either
        // state type.
        expectMatches(makeRandomCase(spec, 5, 2, {}, ++seed), "plain " + tag,
                      jit);
        KernelSpec oneToken = spec;
        oneToken.T = 1;
        expectMatches(makeRandomCase(oneToken, 7, 1, {}, ++seed),
                      "one token " + tag, jit);

        spec.hasInitialState = spec.hasFinalState = false;
        spec.statePool = true;
        expectPoolMatches(spec, 9, 1, {}, 1, ++seed, "slots " + tag, jit);
        oneToken = spec;
        oneToken.T = 1;
        expectPoolMatches(oneToken, 9, 1, {}, 1, ++seed,
                          "one-token slots " + tag, jit);
        spec.perTokenStates = spec.acceptedCounts = true;
        expectPoolMatches(spec, 9, 3, {}, 4, ++seed, "per-token " + tag, jit);
        // Two token groups, the second partial, and a slot per token.
        expectPoolMatches(spec, 3, 11, {}, 12, ++seed,
                          "per-token groups " + tag, jit);
        spec.varlen = true;
        spec.B = 1;
        expectPoolMatches(spec, 1, 12, {1, 3, 2, 2, 1, 3}, 3, ++seed,
                          "per-token varlen " + tag, jit);
      }
}

/// A static T of 2 to 8 tokens on a shared kv state runs as one chunk (one
/// tensor-core product over the 16-bit state, the UT transform on T x T
/// tiles, one update pass to global memory): bf16 states by default, f32
/// ones with state-in=shared; plain states and slot pools, the fused
/// lowerbound gate, a scalar softplus gate, other head dims.
TEST_F(JitGpu, DecodeTokenChunk) {
  uint64_t seed = 1200;
  for (auto [stateDType, stateIn] :
       {std::pair<DType, const char *>{DType::BF16, "auto"},
        {DType::F32, "shared"}})
    for (int64_t t : {2, 5, 8}) {
      Jit &jit = decodeJit(stateIn);
      std::string tag = std::string("T=") + std::to_string(t) + " state " +
                        toString(stateDType) + " in " + stateIn;
      KernelSpec spec = decodeSpec(DType::BF16, StateLayout::KV, stateDType);
      expectMatches(makeRandomCase(spec, 6, t, {}, ++seed), "plain " + tag,
                    jit);
      KernelSpec scalar = spec;
      scalar.gate = GateGranularity::Scalar;
      scalar.activation = GateActivation::Softplus;
      scalar.lowerBound.reset();
      scalar.hasDtBias = false;
      expectMatches(makeRandomCase(scalar, 3, t, {}, ++seed),
                    "scalar softplus " + tag, jit);
      KernelSpec dims = spec;
      dims.K = 64;
      dims.V = 256;
      expectMatches(makeRandomCase(dims, 2, t, {}, ++seed), "K=64 V=256 " + tag,
                    jit);
      spec.hasInitialState = spec.hasFinalState = false;
      spec.statePool = true;
      expectPoolMatches(spec, 9, t, {}, 1, ++seed, "slots " + tag, jit);
    }
}

/// The values of `pool` ([P, slot]) in the slots `slots` names (>= 0).
std::vector<double> slotValues(const std::vector<double> &pool,
                               const std::vector<int32_t> &slots,
                               int64_t slotSize) {
  std::vector<double> out;
  for (int32_t slot : slots)
    if (slot >= 0)
      out.insert(out.end(), pool.begin() + slot * slotSize,
                 pool.begin() + (slot + 1) * slotSize);
  return out;
}

/// Speculative decoding by records: the call's o matches the slot pool's
/// oracle and its records the oracle's, skipped sequences keep the poison,
/// the pool is left bit for bit as it was, and the commit rebuilds each
/// kept slot as the oracle's prefix state (accepted counts 0, within T and
/// past T), leaving the others untouched.
TEST_F(JitGpu, DecodeTokenRecordsAndCommit) {
  uint64_t seed = 1300;
  for (DType stateDType : {DType::BF16, DType::F32})
    for (int64_t t : {1, 4, 8})
      for (GateGranularity gate :
           {GateGranularity::Channel, GateGranularity::Scalar}) {
        KernelSpec spec = decodeSpec(DType::BF16, StateLayout::KV, stateDType);
        if (gate == GateGranularity::Scalar) {
          spec.gate = gate;
          spec.activation = GateActivation::Softplus;
          spec.lowerBound.reset();
          spec.hasDtBias = false;
        }
        spec.T = t;
        spec.hasInitialState = spec.hasFinalState = false;
        spec.statePool = spec.tokenRecords = true;
        std::string tag = std::string("T=") + std::to_string(t) + " " +
                          toString(gate) + " gate, state " +
                          toString(stateDType);
        KernelSpec plain = spec;
        plain.statePool = plain.tokenRecords = false;
        const int64_t N = 9, slotSize = spec.HV * spec.K * spec.V;
        KdaCase c = makeRandomCase(plain, N, t, {}, ++seed);
        c.spec = spec;
        StatePool pool = makeRandomPool(spec, N, 1, ++seed);
        StatePool expected = pool;
        llvm::Expected<std::vector<double>> wantO =
            runPooledReference(spec, c.inputs, expected);
        ASSERT_TRUE(static_cast<bool>(wantO))
            << tag << ": " << llvm::toString(wantO.takeError());
        std::vector<int32_t> accepted(N);
        for (int64_t n = 0; n < N; ++n)
          accepted[n] = int32_t(n % (t + 2)); // 0 .. T + 1
        llvm::Expected<RecordsRun> run =
            runRecordsAndCommitOnGpu(jit(), c, pool, accepted);
        ASSERT_TRUE(static_cast<bool>(run))
            << tag << ": " << llvm::toString(run.takeError());

        // Written where the oracle writes, poison (NaN) elsewhere.
        auto expectWritten = [&](const std::vector<double> &got,
                                 const std::vector<double> &want,
                                 const std::string &what, double tol) {
          ASSERT_EQ(got.size(), want.size()) << tag << ": " << what;
          std::vector<double> gotWritten, wantWritten;
          int poisonLost = 0;
          for (size_t i = 0; i < want.size(); ++i) {
            if (std::isnan(want[i])) {
              poisonLost += !std::isnan(got[i]);
              continue;
            }
            gotWritten.push_back(got[i]);
            wantWritten.push_back(want[i]);
          }
          EXPECT_EQ(poisonLost, 0) << tag << ": " << what
                                   << " of skipped sequences written";
          double err = relativeError(gotWritten, wantWritten);
          EXPECT_LE(err, tol) << tag << ": " << what;
          EXPECT_FALSE(std::isnan(err)) << tag << ": " << what << " has NaN";
        };
        double tol = decodeTolerance(spec);
        expectWritten(run->decode.o, *wantO, "o", tol);
        expectWritten(run->records, expected.records, "records", tol);
        EXPECT_EQ(run->poolAfterDecode, pool.states)
            << tag << ": the records call wrote the pool";

        expected.accepted = accepted;
        llvm::Error e = commitPooledRecords(commitSpecFor(spec), t, expected);
        ASSERT_FALSE(static_cast<bool>(e)) << llvm::toString(std::move(e));
        std::vector<int32_t> kept, untouched;
        for (int64_t n = 0; n < N; ++n)
          (accepted[n] > 0 ? kept : untouched).push_back(pool.indices[n]);
        double err =
            relativeError(slotValues(run->poolAfterCommit, kept, slotSize),
                          slotValues(expected.states, kept, slotSize));
        EXPECT_LE(err, tol) << tag << ": committed slots";
        EXPECT_FALSE(std::isnan(err)) << tag << ": committed slots have NaN";
        EXPECT_EQ(slotValues(run->poolAfterCommit, untouched, slotSize),
                  slotValues(pool.states, untouched, slotSize))
            << tag << ": a slot that keeps no token changed";
      }
}

/// The shared state's V tile and warps follow the head dims: a 64 x 256
/// bf16 state is one 32 KB tile, a 256 x 128 one two tiles of 64 columns,
/// a 32 x 48 one splits 48 columns over 3 warps.
TEST_F(JitGpu, DecodeSharedStateHeadDims) {
  uint64_t seed = 1100;
  for (auto [k, v] : {std::pair<int64_t, int64_t>{64, 256}, {256, 128}, {32, 48}})
    for (DType stateDType : {DType::F32, DType::BF16}) {
      KernelSpec spec = decodeSpec(DType::BF16, StateLayout::KV, stateDType);
      spec.K = k;
      spec.V = v;
      spec.T = 1;
      expectMatches(makeRandomCase(spec, 3, 1, {}, ++seed),
                    "K=" + std::to_string(k) + " V=" + std::to_string(v) +
                        " state " + toString(stateDType),
                    decodeJit("shared"));
    }
}

/// The launch checks of pooled specs: a missing pool, a pool of the wrong
/// state dtype, and too few slots per sequence are reported, not run.
TEST_F(JitGpu, DecodePoolArgumentsAreChecked) {
  KernelSpec spec = decodeSpec(DType::BF16, StateLayout::KV, DType::BF16);
  spec.hasInitialState = spec.hasFinalState = false;
  spec.statePool = spec.perTokenStates = true;
  KernelSpec plain = spec;
  plain.statePool = plain.perTokenStates = false;
  KdaCase c = makeRandomCase(plain, 2, 3, {}, 77);
  c.spec = spec;
  llvm::Expected<std::unique_ptr<DeviceCase>> device = DeviceCase::upload(c);
  ASSERT_TRUE(static_cast<bool>(device)) << llvm::toString(device.takeError());
  llvm::Expected<std::shared_ptr<KdaKernel>> kernel = jit().get(spec);
  ASSERT_TRUE(static_cast<bool>(kernel)) << llvm::toString(kernel.takeError());
  auto launchError = [&](const KdaLaunchArgs &args) {
    llvm::Error e = (*kernel)->launch(nullptr, args);
    return e ? llvm::toString(std::move(e)) : std::string();
  };
  EXPECT_NE(launchError((*device)->args()).find("state_pool is required"),
            std::string::npos);
  StatePool pool = makeRandomPool(spec, 2, 2, 78); // S = 2 < T = 3
  llvm::Error attached = (*device)->attachPool(pool);
  ASSERT_FALSE(static_cast<bool>(attached)) << llvm::toString(std::move(attached));
  KdaLaunchArgs args = (*device)->args();
  EXPECT_NE(launchError(args).find("fewer than the T = 3"), std::string::npos)
      << launchError(args);
  args.statePool.dtype = TensorDType::F32;
  EXPECT_NE(launchError(args).find("state_pool has dtype F32, the spec needs "
                                   "BF16"),
            std::string::npos)
      << launchError(args);
}

TEST_F(JitGpu, SecondRequestIsCachedInMemoryAndOnDisk) {
  KernelSpec spec = base(DType::BF16, 64, 64);
  spec.K = 32; // a spec no other test compiles
  JitOptions options;
  options.cacheDirectory = ::testing::TempDir() + "/kdac-jit-cache";
  Jit first(options);
  auto a = first.get(spec);
  ASSERT_TRUE(static_cast<bool>(a)) << llvm::toString(a.takeError());
  auto b = first.get(spec);
  ASSERT_TRUE(static_cast<bool>(b));
  EXPECT_EQ(a->get(), b->get());
  Jit second(options);
  auto c = second.get(spec);
  ASSERT_TRUE(static_cast<bool>(c));
  EXPECT_NE((*c)->timings().source, rt::CacheSource::Compiled);
}

/// The deployment path of the launch-only library: kernels compiled ahead
/// of time (as `kdac --emit=cubin` does), shipped as files with the
/// descriptor's text, read back and launched by a KernelSet with the
/// caller's workspaces, give exactly what the JIT's kernels give.
TEST_F(JitGpu, KernelSetFromShippedFilesMatchesTheJit) {
  KernelSpec spec = base(DType::BF16, 128, 64);
  spec.varlen = true;
  spec.activation = GateActivation::LowerBound;
  spec.lowerBound = -5.0;
  spec.hasALog = spec.hasDtBias = spec.qkL2Norm = spec.betaSigmoid = true;
  KdaCase c = makeRandomCase(spec, 1, 300, {100, 1, 199}, 77);
  llvm::Expected<KdaOutputs> viaJit = runCaseOnGpu(jit(), c);
  ASSERT_TRUE(static_cast<bool>(viaJit)) << llvm::toString(viaJit.takeError());

  ChunkedPipelineOptions options = jit().configurationFor(c.spec, 8192);
  llvm::Expected<EmittedCuda> emitted = generateCuda(c.spec, options);
  ASSERT_TRUE(static_cast<bool>(emitted)) << llvm::toString(emitted.takeError());
  std::string dir = ::testing::TempDir() + "/kdac-shipped";
  ASSERT_FALSE(llvm::sys::fs::create_directories(dir));
  rt::KernelCompiler compiler({"", false});
  std::vector<std::string> images;
  for (size_t i = 0; i < emitted->kernelSources.size(); ++i) {
    rt::Expected<rt::CompiledKernel> one = compiler.getCubin(
        emitted->kernelSources[i], "shipped.cu", c.spec.arch);
    ASSERT_TRUE(one.ok()) << one.error();
    std::string path = dir + "/kernel" + std::to_string(i) + ".cubin";
    ASSERT_FALSE(static_cast<bool>(writeFileAtomically(
        path, std::string(one->image->begin(), one->image->end()))));
    llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> read =
        readRegularFile(path, 64 << 20);
    ASSERT_TRUE(static_cast<bool>(read)) << llvm::toString(read.takeError());
    images.push_back((*read)->getBuffer().str());
  }
  rt::Expected<rt::LaunchDescriptor> launch =
      parseLaunchDescriptor(printLaunchDescriptor(emitted->launch));
  ASSERT_TRUE(launch.ok()) << launch.error();
  std::vector<const void *> pointers;
  for (const std::string &image : images)
    pointers.push_back(image.data());
  rt::Expected<std::shared_ptr<KernelSet>> set =
      KernelSet::load(kernelSpecFor(c.spec), *launch, pointers);
  ASSERT_TRUE(set.ok()) << set.error();

  llvm::Expected<std::unique_ptr<DeviceCase>> device = DeviceCase::upload(c);
  ASSERT_TRUE(static_cast<bool>(device)) << llvm::toString(device.takeError());
  rt::Expected<std::vector<size_t>> bytes =
      (*set)->workspaceBytes((*device)->args());
  ASSERT_TRUE(bytes.ok()) << bytes.error();
  std::vector<rt::DeviceBuffer> workspaces;
  std::vector<rt::DevicePtr> workspacePointers;
  for (size_t n : *bytes) {
    rt::Expected<rt::DeviceBuffer> buffer = rt::DeviceBuffer::allocate(n);
    ASSERT_TRUE(buffer.ok()) << buffer.error();
    workspacePointers.push_back(buffer->get());
    workspaces.push_back(std::move(*buffer));
  }
  rt::Expected<rt::Device> dev = rt::Device::open(0);
  ASSERT_TRUE(dev.ok()) << dev.error();
  // Poisoned outputs, one launch on the caller's workspaces: the JIT's.
  auto expectTheJitsOutput = [&](KernelSet &kernels, const char *label) {
    llvm::Error poisoned = (*device)->poisonOutputs();
    ASSERT_FALSE(static_cast<bool>(poisoned))
        << label << ": " << llvm::toString(std::move(poisoned));
    rt::Status launched =
        kernels.launch(nullptr, (*device)->args(), workspacePointers.data(),
                       bytes->data(), bytes->size());
    ASSERT_TRUE(launched.ok()) << label << ": " << launched.error();
    rt::Status ran = dev->synchronize();
    ASSERT_TRUE(ran.ok()) << label << ": " << ran.error();
    llvm::Expected<KdaOutputs> got = (*device)->download();
    ASSERT_TRUE(static_cast<bool>(got))
        << label << ": " << llvm::toString(got.takeError());
    EXPECT_EQ(got->o, viaJit->o) << label;
    EXPECT_EQ(got->finalState, viaJit->finalState) << label;
  };
  expectTheJitsOutput(**set, "one image per kernel");

  // One image holding every kernel (the whole source, as `kdac
  // --emit=cubin` writes it) serves as well.
  rt::Expected<rt::CompiledKernel> whole =
      compiler.getCubin(emitted->source, "whole.cu", c.spec.arch);
  ASSERT_TRUE(whole.ok()) << whole.error();
  rt::Expected<std::shared_ptr<KernelSet>> oneImage = KernelSet::load(
      kernelSpecFor(c.spec), *launch, {whole->image->data()});
  ASSERT_TRUE(oneImage.ok()) << oneImage.error();
  expectTheJitsOutput(**oneImage, "one image for all kernels");
  // Too few workspaces is reported, not launched.
  rt::Status missing = (*set)->launch(nullptr, (*device)->args(),
                                      workspacePointers.data(), bytes->data(),
                                      bytes->size() - 1);
  EXPECT_NE(missing.error().find("workspaces, "), std::string::npos)
      << missing.error();
}

} // namespace
