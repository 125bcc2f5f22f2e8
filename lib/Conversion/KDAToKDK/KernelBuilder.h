//===- KernelBuilder.h - Shared machinery of the kda -> kdk lowering -*- C++ -*-===//
//
// What both kernels of the lowering need: the problem's geometry read off the
// chunk loop, a builder for kernel functions whose arguments bind to tensors,
// workspaces and sizes, index arithmetic, and a shared-memory tile pool that
// recycles tiles once their last reader has run, so a chunk's working set
// fits in one block's shared memory.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_CONVERSION_KDATOKDK_KERNELBUILDER_H
#define KDAC_LIB_CONVERSION_KDATOKDK_KERNELBUILDER_H

#include "KDA/KDAOps.h"
#include "KDK/KDKOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/MapVector.h"

#include <map>

namespace kdac::lowering {

/// Sizes and element types of one kda.chunk_loop.
struct LoopGeometry {
  int64_t chunk = 64;
  int64_t h = 1, hv = 1, kDim = 1, vDim = 1;
  int64_t valueTile = 1; ///< columns of V per recurrence block
  mlir::Type operandType; ///< element type of tensor-core operands
  mlir::Type stateType;   ///< element type of initial/final state in HBM
  mlir::kda::GateGranularity gate = mlir::kda::GateGranularity::channel;
  mlir::kda::StateLayout layout = mlir::kda::StateLayout::kv;
  bool varlen = false;
};

/// A workspace buffer between the kernels: one tile per chunk slot and head.
struct WorkspaceSpec {
  std::string name;
  mlir::MemRefType tileType; ///< the tile as stored (element type, shape)
  int64_t bytesPerSlot(const LoopGeometry &g) const;
};

class TilePool;

/// Builds one kernel function and the index arithmetic inside it.
class KernelFunction {
public:
  /// `grid`: the #kdk.grid extents, counts or kdk::GridAttr's launch-time
  /// codes (kChunkSlots, kSequences, kBatch).
  KernelFunction(mlir::OpBuilder &builder, mlir::ModuleOp module,
                 llvm::StringRef name, int64_t blockThreads,
                 llvm::ArrayRef<int64_t> grid);

  /// Adds a flat global buffer bound to a user tensor.
  mlir::Value addTensor(llvm::StringRef name, mlir::Type elementType);
  /// Adds a workspace buffer (shared by name across kernels).
  mlir::Value addWorkspace(const WorkspaceSpec &ws, const LoopGeometry &g);
  /// Adds an index argument bound to "T", "N" or "B".
  mlir::Value addSize(llvm::StringRef name);
  /// Ends argument declaration and positions the builder in the body.
  void beginBody();
  mlir::func::FuncOp getFunction() { return func; }
  int64_t warps() const { return blockThreads / 32; }

  mlir::Value index(int64_t value);
  mlir::Value add(mlir::Value a, mlir::Value b);
  mlir::Value mul(mlir::Value a, mlir::Value b);
  mlir::Value mul(mlir::Value a, int64_t b) { return mul(a, index(b)); }
  mlir::Value div(mlir::Value a, int64_t b);
  mlir::Value min(mlir::Value a, mlir::Value b);
  mlir::Value sub(mlir::Value a, mlir::Value b);
  mlir::Value compare(mlir::arith::CmpIPredicate predicate, mlir::Value a,
                      mlir::Value b);
  /// Opens `scf.if condition` and moves the builder into its then-block.
  void enterIf(mlir::Value condition);
  void barrier();

  /// Ends the body with a return and checks the shared memory `pool` used
  /// against its limit; the error names the kernel and the knob to turn.
  mlir::LogicalResult finish(const TilePool &pool, mlir::Operation *anchor,
                             llvm::StringRef what, llvm::StringRef remedy,
                             llvm::StringRef pass = "convert-kda-to-kdk");

  mlir::OpBuilder &b;
  mlir::Location loc;

private:
  mlir::Value addArgument(mlir::Type type,
                          llvm::ArrayRef<mlir::NamedAttribute> attrs);

  mlir::func::FuncOp func;
  int64_t blockThreads;
  mlir::Block *entry;
  llvm::SmallVector<mlir::DictionaryAttr> argAttrs;
};

/// Shared-memory tiles with reuse: a released tile goes back to a free list
/// keyed by its type and is handed out again before anything new is made;
/// a free tile with more rows and the same columns is split into row blocks
/// before anything new is made too.
class TilePool {
public:
  int64_t limitBytes() const { return limit; }
  TilePool(KernelFunction &kernel, int64_t limitBytes)
      : kernel(kernel), limit(limitBytes) {}

  /// How a new 2-D tile's rows are padded.
  enum class RowPadding {
    /// None: always a new tile (for one whose readers gain nothing).
    None,
    /// One element: column walks by adjacent threads hit distinct banks,
    /// for the least memory (a large SIMT f32 tile no vector copy or
    /// ldmatrix reads).
    OneElement,
    /// 16 bytes: rows stay 16-byte aligned for vector copies and ldmatrix.
    SixteenBytes,
  };
  /// A free tile of `shape` (whatever its padding), or a new one.
  mlir::Value get(llvm::ArrayRef<int64_t> shape, mlir::Type elementType,
                  RowPadding padding = RowPadding::SixteenBytes);
  void release(mlir::Value tile);
  int64_t bytesAllocated() const { return allocated; }
  bool overLimit() const { return allocated > limit; }

private:
  /// Splits a free tile of more rows (and the same columns) into `shape`
  /// row blocks on `into`; false when there is none.
  bool carve(llvm::ArrayRef<int64_t> shape, mlir::Type elementType,
             llvm::SmallVectorImpl<mlir::Value> &into);

  KernelFunction &kernel;
  int64_t limit;
  int64_t allocated = 0;
  std::map<std::pair<std::vector<int64_t>, void *>, llvm::SmallVector<mlir::Value>>
      free;
};

mlir::MemRefType tileType(llvm::ArrayRef<int64_t> shape, mlir::Type elementType);

/// The rows x cols block of a 2-D tile at (row, col), as a strided view.
mlir::Value blockView(mlir::OpBuilder &b, mlir::Location loc, mlir::Value tile,
                      int64_t row, int64_t col, llvm::ArrayRef<int64_t> shape);

/// Element offset of row `row` of a [B, T, heads, width] tensor at (b, head).
mlir::Value tokenOffset(KernelFunction &k, mlir::Value batch, mlir::Value token,
                        mlir::Value seqLen, int64_t heads, mlir::Value head,
                        int64_t width);

} // namespace kdac::lowering

#endif // KDAC_LIB_CONVERSION_KDATOKDK_KERNELBUILDER_H
