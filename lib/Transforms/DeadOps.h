//===- DeadOps.h - Erasing what a chunk body no longer reads -*- C++ -*-===//
//
// The passes that slice or split chunk bodies leave ops nothing reads; a
// body's arguments stay (its op's signature fixes them), so MLIR's region
// DCE, which also drops unused arguments, does not fit.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_TRANSFORMS_DEADOPS_H
#define KDAC_LIB_TRANSFORMS_DEADOPS_H

#include "mlir/IR/Block.h"
#include "mlir/Transforms/RegionUtils.h"

namespace kdac {

/// Erases the ops of `block` (but its terminator) that nothing reads. Uses
/// follow definitions in one block: a reverse walk frees users first.
inline void eraseDeadOps(mlir::Block &block) {
  llvm::SmallVector<mlir::Operation *> ops;
  for (mlir::Operation &op : block.without_terminator())
    ops.push_back(&op);
  for (mlir::Operation *op : llvm::reverse(ops))
    if (mlir::isOpTriviallyDead(op))
      op->erase();
}

} // namespace kdac

#endif // KDAC_LIB_TRANSFORMS_DEADOPS_H
