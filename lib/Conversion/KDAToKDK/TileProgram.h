//===- TileProgram.h - A block of kda tile primitives as kdk ops -*- C++ -*-===//
//
// The backward's kernels run bodies that kda-grad-decompose left as tile
// primitives. A TileProgram lowers such a body op for op: each value gets an
// f32 shared tile from the pool, each primitive one kdk op (a copy first
// for the ones kdk updates in place), a barrier after each, and a tile goes
// back to the pool after the barrier that follows its last reader.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_CONVERSION_KDATOKDK_TILEPROGRAM_H
#define KDAC_LIB_CONVERSION_KDATOKDK_TILEPROGRAM_H

#include "KernelBuilder.h"

#include "llvm/ADT/DenseSet.h"

namespace kdac::lowering {

class TileProgram {
public:
  TileProgram(KernelFunction &k, TilePool &pool) : k(k), b(k.b), pool(pool) {}

  /// Binds a body argument to a tile the kernel filled.
  void bind(mlir::Value value, mlir::Value tile) { tiles[value] = tile; }
  mlir::Value tileOf(mlir::Value value) const { return tiles.lookup(value); }

  /// Lowers the ops of `body` (all but its terminator). Tiles of `kept`
  /// values (the terminator's operands, carried tiles) are not released.
  mlir::LogicalResult run(mlir::Block &body, llvm::ArrayRef<mlir::Value> kept);

  /// Returns every tile the program made to the pool (after a barrier).
  void releaseAll();

private:
  mlir::LogicalResult lower(mlir::Operation *op);
  mlir::Value newTile(mlir::Value like);
  /// A fresh copy of `value`'s tile, for an op kdk runs in place.
  mlir::Value copyOf(mlir::Value value, mlir::Value result);

  KernelFunction &k;
  mlir::OpBuilder &b;
  TilePool &pool;
  llvm::DenseMap<mlir::Value, mlir::Value> tiles;
  llvm::DenseSet<mlir::Value> made;
};

} // namespace kdac::lowering

#endif // KDAC_LIB_CONVERSION_KDATOKDK_TILEPROGRAM_H
