//===- Lowering.h - The plan and kernels of kda -> kdk ----------*- C++ -*-===//
//
// The lowering reads the chunk loop as kda-chunk-split cut it (SplitPlan:
// kda.chunk_map's ops, kda.chunk_scan's ops and the values that cross), then
// builds the chunk-parallel kernel from the map and the recurrence kernel
// from the scan; the values that cross go through workspace buffers
// (Crossing).
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_CONVERSION_KDATOKDK_LOWERING_H
#define KDAC_LIB_CONVERSION_KDATOKDK_LOWERING_H

#include "KernelBuilder.h"

#include "kdac/Spec/Limits.h"

#include "llvm/ADT/StringMap.h"

namespace kdac::lowering {

/// A value the recurrence kernel reads from a workspace, and how the
/// chunk-parallel kernel derives it from body values.
struct Crossing {
  enum Kind {
    Copy,         ///< inputs[0] as is
    DecayToStart, ///< scale * inputs[0] * exp(inputs[1])   (q, gc)
    DecayToLast,  ///< inputs[0] * exp(gc_last - inputs[1]) (k, gc)
    LastRowExp,   ///< exp(last row of inputs[0])           (gc)
  };
  Kind kind = Copy;
  WorkspaceSpec workspace;
  llvm::SmallVector<mlir::Value, 2> inputs;
  double scale = 1.0;
};

struct SplitPlan {
  /// kda.chunk_map's ops, in program order, without those a Crossing does.
  llvm::SmallVector<mlir::Operation *> independentOps;
  /// kda.chunk_scan's ops (state_apply, decayed_output,
  /// decayed_state_update), in order.
  llvm::SmallVector<mlir::Operation *> dependentOps;
  llvm::SmallVector<Crossing> crossings;
  const Crossing *find(llvm::StringRef name) const {
    for (const Crossing &c : crossings)
      if (c.workspace.name == name)
        return &c;
    return nullptr;
  }
};

struct KernelOptions {
  int64_t blockThreads = 256;
  /// The recurrence kernel has little work per step and a long dependent
  /// chain: fewer threads per block let more blocks share an SM.
  int64_t recurrenceBlockThreads = 256;
  int64_t valueTile = 64;
  int64_t sharedMemoryLimit = limits::kMaxSharedMemoryBytes;
};

/// Kernel arguments, by role; absent ones are null.
struct GlobalArgs {
  mlir::Value q, k, v, g, beta, aLog, dtBias, cuSeqlens, initialState, o,
      finalState, seqLen;
  llvm::StringMap<mlir::Value> workspaces;
  bool qkL2Norm = false, betaSigmoid = false;
  mlir::kda::GateActivation activation = mlir::kda::GateActivation::none;
  mlir::FloatAttr lowerBound;
};

/// What the loop's operands are bound to: the entry function's arguments
/// (by tensor name) and the fused prologue ops in front of the loop.
struct InputBindings {
  llvm::StringMap<mlir::Type> tensorTypes; ///< element type per tensor name
  bool qkL2Norm = false, betaSigmoid = false;
  mlir::kda::GateActivation activation = mlir::kda::GateActivation::none;
  mlir::FloatAttr lowerBound;
  bool hasFinalState = false;

  GlobalArgs declareChunkParallelKernelArgs(KernelFunction &k, const LoopGeometry &g,
                                    const SplitPlan &plan) const;
  GlobalArgs declareChunkScanKernelArgs(KernelFunction &k,
                                         const LoopGeometry &g,
                                         const SplitPlan &plan) const;
};

/// Reads the split plan off the map and the scan; fails (with a diagnostic)
/// on a split the kernels cannot run.
mlir::FailureOr<SplitPlan> readSplit(mlir::kda::ChunkMapOp map,
                                     mlir::kda::ChunkScanOp scan,
                                     const LoopGeometry &g);

mlir::LogicalResult buildChunkParallelKernel(mlir::OpBuilder &builder,
                                     mlir::ModuleOp module,
                                     mlir::kda::ChunkMapOp map,
                                     const LoopGeometry &g,
                                     const SplitPlan &plan,
                                     const KernelOptions &opts,
                                     const InputBindings &inputs);

mlir::LogicalResult buildChunkScanKernel(mlir::OpBuilder &builder,
                                          mlir::ModuleOp module,
                                          mlir::kda::ChunkScanOp scan,
                                          const LoopGeometry &g,
                                          const SplitPlan &plan,
                                          const KernelOptions &opts,
                                          const InputBindings &inputs);

/// The options both conversions take, checked in this order against
/// Limits.h, each message prefixed by `pass`: block threads, the recurrence
/// kernel's threads (when given and non-zero), the V tile and the
/// shared-memory limit. Returns "" when all hold.
std::string checkConversionOptions(llvm::StringRef pass, int64_t blockThreads,
                                   int64_t recurrenceBlockThreads,
                                   int64_t valueTile, int64_t sharedMemoryLimit);

/// The one `OpT` in `module` that a conversion pass lowers, or an error
/// naming the pass and `what` it expected.
template <typename OpT>
mlir::FailureOr<OpT> findSingleOp(mlir::ModuleOp module, llvm::StringRef pass,
                                  llvm::StringRef what) {
  llvm::SmallVector<OpT> ops;
  module.walk([&](OpT op) { ops.push_back(op); });
  if (ops.size() != 1)
    return mlir::emitError(module.getLoc())
           << pass << ": expects exactly one " << what << ", found "
           << ops.size();
  return ops.front();
}

} // namespace kdac::lowering

#endif // KDAC_LIB_CONVERSION_KDATOKDK_LOWERING_H
