//===- JitGpuTest.cpp - Generated kernels on the GPU against the oracle ---===//
//
// Labelled `gpu`: skipped with a message where there is no CUDA device. All
// golden vectors and random cases over the support matrix run through the
// JIT with outputs poisoned first; f32 inputs must match the fp64 oracle to
// 1e-4, bf16/f16 inputs to 5e-3 (the oracle reads the same rounded inputs).
//
//===----------------------------------------------------------------------===//
#include "kdac/Jit/GpuCase.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

using namespace kdac;

namespace {

class JitGpu : public ::testing::Test {
protected:
  void SetUp() override {
    rt::Expected<rt::Device> device = rt::Device::open(0);
    if (!device)
      GTEST_SKIP() << "no CUDA driver/device: " << device.error();
  }
  static Jit &jit() {
    static Jit instance;
    return instance;
  }
};

double toleranceFor(const KernelSpec &spec) {
  return spec.dtype == DType::F32 ? 1e-4 : 5e-3;
}

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
  // The GPU machine holds the goldens elsewhere than the build machine.
  const char *dir = std::getenv("KDAC_GOLDEN_DIR");
  if (!dir)
    dir = KDAC_GOLDEN_DIR;
  std::error_code ec;
  int files = 0;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end;
       it != end && !ec; it.increment(ec)) {
    if (llvm::sys::path::extension(it->path()) != ".safetensors")
      continue;
    ++files;
    llvm::Expected<KdaCase> c = loadCase(it->path());
    ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
    expectMatches(*c, llvm::sys::path::filename(it->path()).str(), jit());
  }
  EXPECT_GT(files, 0) << "no golden vectors in " << dir;
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
/// sequence, every fused option, GVA, varlen and both state layouts.
TEST_F(JitGpu, DecodeKernel) {
  int seed = 900;
  for (StateLayout layout : {StateLayout::KV, StateLayout::VK})
    for (DType dtype : {DType::BF16, DType::F32}) {
      KernelSpec spec = base(dtype, 128, 128);
      spec.decode = true;
      spec.H = 2;
      spec.HV = 4;
      spec.stateLayout = layout;
      spec.activation = GateActivation::LowerBound;
      spec.lowerBound = -5.0;
      spec.hasALog = spec.hasDtBias = spec.qkL2Norm = spec.betaSigmoid = true;
      for (int64_t t : {1, 3}) {
        KdaCase c = makeRandomCase(spec, 8, t, {}, ++seed);
        expectMatches(c,
                      std::string("decode T=") + std::to_string(t) + " " +
                          toString(layout) + " " + toString(dtype),
                      jit());
      }
      spec.varlen = true;
      KdaCase c = makeRandomCase(spec, 1, 6, {1, 2, 3}, ++seed);
      expectMatches(c, std::string("decode varlen ") + toString(layout), jit());
    }
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

} // namespace
