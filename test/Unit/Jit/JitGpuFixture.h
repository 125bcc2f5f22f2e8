//===- JitGpuFixture.h - The GPU tests' JIT fixture ------------*- C++ -*-===//
//
// What JitGpuTest.cpp and JitGpuBackwardTest.cpp share: a fixture that
// skips without a CUDA device and hands out one JIT per set of compile
// options (one executable, so `--gtest_filter` reaches both files), and the
// tolerance of a dtype against the fp64 oracle.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TEST_UNIT_JIT_JITGPUFIXTURE_H
#define KDAC_TEST_UNIT_JIT_JITGPUFIXTURE_H

#include "kdac/Jit/Jit.h"
#include "kdac/Spec/CompileOptions.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

namespace kdac::test {

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
  /// A JIT compiling with `pipeline` (one per distinct set of options).
  static Jit &jitWith(const ChunkedPipelineOptions &pipeline) {
    static std::map<std::string, std::unique_ptr<Jit>> jits;
    std::unique_ptr<Jit> &instance = jits[optionsKey(pipeline)];
    if (!instance) {
      JitOptions options;
      options.pipeline = pipeline;
      instance = std::make_unique<Jit>(options);
    }
    return *instance;
  }
  /// A JIT whose decode kernels keep the state where `stateIn` says
  /// (registers | shared | auto).
  static Jit &decodeJit(const std::string &stateIn) {
    ChunkedPipelineOptions pipeline;
    pipeline.decodeStateIn = stateIn;
    return jitWith(pipeline);
  }
};

/// f32 inputs match the oracle to 1e-4, 16-bit ones to 5e-3.
inline double toleranceFor(const KernelSpec &spec) {
  return spec.dtype == DType::F32 ? 1e-4 : 5e-3;
}

} // namespace kdac::test

#endif // KDAC_TEST_UNIT_JIT_JITGPUFIXTURE_H
