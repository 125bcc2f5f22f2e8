//===- Pipelines.h - The pass pipelines every kdac tool shares --*- C++ -*-===//
//
// One definition of each compilation stage, used by kdac (--emit), kda-opt
// (as a registered pipeline) and the tests, so they cannot drift apart.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_PIPELINES_PIPELINES_H
#define KDAC_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

#include <string>

namespace kdac {

/// The stages kdac can stop after, in pipeline order.
enum class Stage { KDA, Chunked, Expanded, Kernel };

/// Choices the compiler owns and the autotuner sweeps.
/// Threads per block of the decode kernel unless recurrenceBlockThreads
/// says otherwise.
constexpr int64_t kDecodeBlockThreads = 128;

struct ChunkedPipelineOptions {
  /// Tokens per chunk; 0 lets code generation use its default.
  int64_t chunkSize = 64;
  /// forward-substitution | neumann | blocked
  std::string utMethod = "blocked";
  /// How `blocked` inverts its 16 x 16 diagonal blocks: forward substitution
  /// (one warp, a column per lane in registers, no barrier) or neumann
  /// (log2(16) = 4 products, a barrier each). The first measured faster on
  /// the H100 (T=8192 H=64 bf16: 1.96 vs 2.12 ms).
  std::string diagMethod = "forward-substitution";
  /// Sub-chunk length of the anchored decay; 0 keeps the direct form.
  int64_t anchorBlock = 16;
  /// Kernel level: threads per block and the V columns one recurrence
  /// block owns (0: all of V).
  int64_t blockThreads = 256;
  /// Threads of the recurrence kernel, and of the decode kernel (0:
  /// blockThreads, and kDecodeBlockThreads for decode).
  int64_t recurrenceBlockThreads = 0;
  int64_t valueTile = 64;
  /// The decode kernel's V tile (0: chosen with its state fragment).
  int64_t decodeValueTile = 0;
  /// Where a decode block keeps its state slice: registers | shared | auto
  /// (shared for a 16-bit kv state of a one-token call, measured fastest).
  std::string decodeStateIn = "auto";
  /// Lower token by token (the decode kernel) instead of chunkwise; only the
  /// kernel stage differs.
  bool recurrent = false;
};

/// Adds the passes that take a module of kda.recurrence to `stage`.
void buildPipeline(mlir::OpPassManager &pm, Stage stage,
                   const ChunkedPipelineOptions &options);

/// Registers kdac's passes and the `kda-chunked-pipeline` pipeline.
void registerKdacPassesAndPipelines();

} // namespace kdac

#endif // KDAC_PIPELINES_PIPELINES_H
