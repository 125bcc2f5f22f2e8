//===- CudaEmitter.h - kdk kernels to CUDA C++ and a launch descriptor ----===//
//
// The last compiler stage: a module of kdk kernel functions becomes one CUDA
// C++ translation unit (compiled at run time by NVRTC against the embedded
// device library) and the LaunchDescriptor the runtime launches it with.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TARGET_CUDA_CUDAEMITTER_H
#define KDAC_TARGET_CUDA_CUDAEMITTER_H

#include "kdac/Launch/KernelSet.h"
#include "kdac/runtime/LaunchDescriptor.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>
#include <vector>

namespace kdac {

/// What emitCuda produces: the source defines one extern "C" __global__
/// function per kernel of `launch`, under the same names.
struct EmittedCuda {
  std::string source;
  rt::LaunchDescriptor launch;
  /// The same kernels, one self-contained translation unit each (in launch
  /// order), so a JIT can compile them concurrently.
  std::vector<std::string> kernelSources;
};

/// Emits every kdk kernel of `module` (func.func with kdk.kernel), in module
/// order; the source starts with the launch descriptor's text
/// (printLaunchDescriptor, kdac/Launch/KernelSet.h) as a comment block. Fails with an error diagnostic at the offending op for anything the
/// emitter does not know, so nothing is silently dropped.
mlir::FailureOr<EmittedCuda> emitCuda(mlir::ModuleOp module);

} // namespace kdac

#endif // KDAC_TARGET_CUDA_CUDAEMITTER_H
