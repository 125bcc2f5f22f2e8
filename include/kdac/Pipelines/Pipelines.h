//===- Pipelines.h - The pass pipelines every kdac tool shares --*- C++ -*-===//
//
// One definition of each compilation stage, used by kdac (--emit), kda-opt
// (as a registered pipeline) and the tests, so they cannot drift apart.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_PIPELINES_PIPELINES_H
#define KDAC_PIPELINES_PIPELINES_H

#include "kdac/Spec/CompileOptions.h"

#include "mlir/Pass/PassManager.h"

namespace kdac {

/// The stages kdac can stop after, in pipeline order.
enum class Stage { KDA, Chunked, Expanded, Split, Kernel };

/// Adds the passes that take a module of kda.recurrence to `stage`.
void buildPipeline(mlir::OpPassManager &pm, Stage stage,
                   const ChunkedPipelineOptions &options);

/// Registers kdac's passes and the `kda-chunked-pipeline` (to the expanded
/// stage) and `kdac-kernel-pipeline` (to kdk kernels) pipelines, whose
/// options are CompileOptions.def's.
void registerKdacPassesAndPipelines();

} // namespace kdac

#endif // KDAC_PIPELINES_PIPELINES_H
