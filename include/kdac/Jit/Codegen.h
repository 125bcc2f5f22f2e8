//===- Codegen.h - Spec to CUDA source and launch descriptor ----*- C++ -*-===//
//
// The whole compiler behind one call: builds kda.recurrence for a spec, runs
// the shared pipeline to the kernel level and emits CUDA. kdac (--emit=cuda,
// ptx, cubin) and the JIT both use it, so they produce the same kernels.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_JIT_CODEGEN_H
#define KDAC_JIT_CODEGEN_H

#include "kdac/Pipelines/Pipelines.h"
#include "kdac/Spec/KernelSpec.h"
#include "kdac/Target/CUDA/CudaEmitter.h"

#include "llvm/Support/Error.h"

namespace kdac {

/// The spec the generated kernels serve: run-time sizes (B, T) are left
/// dynamic so one compiled kernel serves every batch and length, except a
/// decode spec's T = 1: a one-token kernel keeps a 16-bit state 16-bit (in
/// shared memory by default, else packed in registers), which holds only
/// when no token's state is rounded but the last, so it serves T = 1 only.
KernelSpec kernelSpecFor(const KernelSpec &spec);

/// Spec -> CUDA. Compiler diagnostics are collected into the error message.
llvm::Expected<EmittedCuda> generateCuda(const KernelSpec &spec,
                                         const ChunkedPipelineOptions &options);

/// Runs the pipeline to the kernel level in place; options.chunkSize == 0
/// means kDefaultChunkSize.
llvm::Error lowerToKernels(mlir::ModuleOp module,
                           const ChunkedPipelineOptions &options);

/// Runs the kernel-level pipeline and the emitter on an already-built module
/// (kda.recurrence or any later stage's IR).
llvm::Expected<EmittedCuda> generateCuda(mlir::ModuleOp module,
                                         const ChunkedPipelineOptions &options);

} // namespace kdac

#endif // KDAC_JIT_CODEGEN_H
