//===- jit_example.cpp - Using kdac's JIT from host C++ -------------------===//
//
// The smallest complete use of the JIT API: describe a problem, get its
// kernels (generated, NVRTC-compiled and cached on first use), upload
// inputs, launch on a stream and check the result against the fp64 oracle.
//
//   kdac-jit-example [T]        (needs a CUDA GPU; prints the error and
//                                exits 1 without one)
//
//===----------------------------------------------------------------------===//
#include "kdac/Testing/GpuCase.h"

#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

int main(int argc, char **argv) {
  int64_t t = argc > 1 ? std::atoll(argv[1]) : 1000;

  // Kimi Linear's configuration: bf16, fused lower-bounded gate, qk L2 norm
  // and beta sigmoid, fp32 state in and out.
  kdac::KernelSpec spec;
  spec.H = spec.HV = 4;
  spec.K = spec.V = 128;
  spec.dtype = spec.betaDType = kdac::DType::BF16;
  spec.activation = kdac::GateActivation::LowerBound;
  spec.lowerBound = -5.0;
  spec.hasALog = spec.hasDtBias = spec.qkL2Norm = spec.betaSigmoid = true;
  spec.hasInitialState = spec.hasFinalState = true;

  kdac::Jit jit;
  llvm::Expected<std::shared_ptr<kdac::KdaKernel>> kernel = jit.get(spec);
  if (!kernel) {
    llvm::errs() << "kdac-jit-example: " << llvm::toString(kernel.takeError())
                 << "\n";
    return 1;
  }
  const kdac::KernelTimings &timings = (*kernel)->timings();
  llvm::outs() << "kernels ready: generate " << timings.generateMilliseconds
               << " ms, compile " << timings.compileMilliseconds << " ms ("
               << kdac::rt::toString(timings.source) << "), load "
               << timings.loadMilliseconds << " ms\n";

  // Random inputs and the oracle's answer; DeviceCase uploads them and
  // fills KdaLaunchArgs (device pointer, dtype and shape per tensor).
  kdac::KdaCase c = kdac::makeRandomCase(spec, /*B=*/2, t, {}, /*seed=*/1);
  auto device = kdac::DeviceCase::upload(c);
  if (!device) {
    llvm::errs() << "kdac-jit-example: " << llvm::toString(device.takeError())
                 << "\n";
    return 1;
  }
  kdac::rt::Expected<kdac::rt::Stream> stream = kdac::rt::Stream::create();
  if (!stream) {
    llvm::errs() << "kdac-jit-example: " << stream.error() << "\n";
    return 1;
  }
  if (llvm::Error e = (*kernel)->launch(stream->get(), (*device)->args())) {
    llvm::errs() << "kdac-jit-example: " << llvm::toString(std::move(e)) << "\n";
    return 1;
  }
  if (kdac::rt::Status s = stream->synchronize(); !s) {
    llvm::errs() << "kdac-jit-example: " << s.error() << "\n";
    return 1;
  }
  llvm::Expected<kdac::KdaOutputs> out = (*device)->download();
  if (!out) {
    llvm::errs() << "kdac-jit-example: " << llvm::toString(out.takeError())
                 << "\n";
    return 1;
  }
  double errO = kdac::relativeError(out->o, c.expected->o);
  double errS = kdac::relativeError(out->finalState, c.expected->finalState);
  llvm::outs() << "B=2 T=" << t << " H=4 K=V=128 bf16: o rel err " << errO
               << ", final_state rel err " << errS << "\n";
  return errO <= 5e-3 && errS <= 5e-3 ? 0 : 1;
}
