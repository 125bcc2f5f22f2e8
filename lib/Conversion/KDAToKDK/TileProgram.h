//===- TileProgram.h - A block of kda tile primitives as kdk ops -*- C++ -*-===//
//
// The backward's kernels run bodies that kda-grad-decompose left as tile
// primitives. A TileProgram lowers such a body op for op: each value gets an
// f32 shared tile from the pool, each primitive one kdk op (a copy first
// for the ones kdk updates in place), a barrier after each, and a tile goes
// back to the pool after the barrier that follows its last reader. Ops
// nothing kept reads are skipped, and a product added to a dying value
// accumulates into its tile.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_CONVERSION_KDATOKDK_TILEPROGRAM_H
#define KDAC_LIB_CONVERSION_KDATOKDK_TILEPROGRAM_H

#include "KernelBuilder.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

namespace kdac::lowering {

class TileProgram {
public:
  TileProgram(KernelFunction &k, TilePool &pool) : k(k), b(k.b), pool(pool) {}

  /// Binds a body argument to a tile the kernel filled.
  void bind(mlir::Value value, mlir::Value tile) { tiles[value] = tile; }
  /// As bind(), and the tile goes back to the pool after its last reader
  /// (a chunk's input, not a carried state).
  void bindDonated(mlir::Value value, mlir::Value tile) {
    bind(value, tile);
    made.insert(tile);
  }
  /// As bind(), for the tile a scan carries across its chunk loop: once its
  /// last reader has run, an op may update it in place (the new state then
  /// ends where the old one was), but it never goes back to the pool.
  void bindCarried(mlir::Value value, mlir::Value tile) {
    bind(value, tile);
    carried.insert(tile);
  }
  mlir::Value tileOf(mlir::Value value) const { return tiles.lookup(value); }

  /// The values of `body` that are column blocks of the `sliced` values
  /// when the live ops (those `kept` needs) compute every column of them
  /// from the same column alone: each op reading one is element-wise among
  /// them, scales their rows, or takes one as its right-hand operand B (not
  /// B^T), so a block may run the body on a column block of them. Null when
  /// some op mixes columns (a contraction over them, a row dot, a column
  /// sum), or when a `kept` value is not among them.
  static std::optional<llvm::DenseSet<mlir::Value>>
  columnBlocks(mlir::Block &body, llvm::ArrayRef<mlir::Value> kept,
               llvm::ArrayRef<mlir::Value> sliced);
  /// Lowers `values` (columnBlocks') as tiles `columns` wide.
  void sliceColumns(llvm::DenseSet<mlir::Value> values, int64_t columns) {
    slicedValues = std::move(values);
    sliceWidth = columns;
  }

  /// Lowers the ops of `body` (all but its terminator). Tiles of `kept`
  /// values (the terminator's operands, carried tiles) are not released.
  mlir::LogicalResult run(mlir::Block &body, llvm::ArrayRef<mlir::Value> kept);

  /// Returns every tile the program made or was donated to the pool (after
  /// a barrier), but those of `live`.
  void releaseAll(llvm::ArrayRef<mlir::Value> live = {});

private:
  /// Ops whose results nothing kept reads are not lowered.
  static llvm::DenseSet<mlir::Operation *>
  liveOps(mlir::Block &body, llvm::ArrayRef<mlir::Value> kept);
  /// The shape of `value`'s tile (a column block when sliced).
  llvm::SmallVector<int64_t> tileShape(mlir::Value value) const;
  /// Shared-memory bytes of a value's f32 tile.
  int64_t tileBytes(mlir::Value value) const;
  /// Finds `y = add(x, matmul(...))` where the product has no other reader
  /// and nothing reads x between the matmul and the add: the product then
  /// accumulates into x's tile (kdk.mma accumulate) and the add is that
  /// tile, which saves one tile of the product's shape (a K x V state
  /// update's) and a pass over it.
  void planAccumulation(llvm::ArrayRef<mlir::Operation *> order);
  /// The live ops in an order that keeps few tiles alive at once.
  llvm::SmallVector<mlir::Operation *>
  schedule(mlir::Block &body, const llvm::DenseSet<mlir::Operation *> &live);
  mlir::LogicalResult lower(mlir::Operation *op);
  mlir::Value newTile(mlir::Value like);
  /// The tile of an element-wise op's result: a dying operand's, else new.
  mlir::Value elementwiseOut(mlir::Operation *op);
  /// A fresh copy of `value`'s tile, for an op kdk runs in place.
  mlir::Value copyOf(mlir::Value value, mlir::Value result);
  /// Whether a dying value's tile may be overwritten: one the program made,
  /// or a carried one.
  bool overwritable(mlir::Value tile) const {
    return tile && (made.contains(tile) || carried.contains(tile));
  }

  KernelFunction &k;
  mlir::OpBuilder &b;
  TilePool &pool;
  llvm::DenseMap<mlir::Value, mlir::Value> tiles;
  /// Tiles the program owns, in the order it got them (releaseAll's order,
  /// so the pool's later choices do not depend on pointer values).
  llvm::SetVector<mlir::Value> made;
  /// Carried tiles (bindCarried): overwritable, never released.
  llvm::DenseSet<mlir::Value> carried;
  /// Readers each value has left, and the values run() must not release.
  llvm::DenseMap<mlir::Value, int> pendingUses;
  llvm::DenseSet<mlir::Value> keep;
  /// matmul (and the add it folds into) -> the value whose tile the
  /// product accumulates into.
  llvm::DenseMap<mlir::Operation *, mlir::Value> accumulateInto, foldedAdds;
  /// Values lowered as column blocks sliceWidth wide (sliceColumns).
  llvm::DenseSet<mlir::Value> slicedValues;
  int64_t sliceWidth = 0;
};

} // namespace kdac::lowering

#endif // KDAC_LIB_CONVERSION_KDATOKDK_TILEPROGRAM_H
