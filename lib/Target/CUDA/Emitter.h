//===- Emitter.h - State of the CUDA emitter, shared by its files --------===//
//
// In the style of MLIR's Target/Cpp: one CudaEmitter per kernel holds the
// output stream and the C++ spelling of every SSA value, and
// CudaEmitter::emitOperation dispatches with a TypeSwitch to one
// printOperation overload per op. The overloads live in EmitControlFlow.cpp
// (scf, arith) and EmitTileOps.cpp (kdk, memref.subview); kernels themselves
// (func.func) are emitted by CudaEmitter.cpp.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_TARGET_CUDA_EMITTER_H
#define KDAC_LIB_TARGET_CUDA_EMITTER_H

#include "KDK/KDKOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Support/IndentedOstream.h"

#include "llvm/ADT/DenseMap.h"

#include <optional>
#include <string>

namespace kdac::cuda {

/// A shared-memory tile as the device library takes it: element (r, c) is
/// pointer[r * ld + c]. A 1-D tile of n elements is n x 1 with ld its
/// element stride, so row and column subviews both fit.
struct TileRef {
  std::string pointer; ///< a C++ name of type `T *`
  mlir::Type elementType;
  int64_t rows = 0;
  int64_t cols = 1;
  int64_t ld = 1;
  bool isVector = false;
  /// A register fragment (memory space 5): `pointer` names a per-thread
  /// array and the tile is only reachable through kdac_fragment.cuh.
  bool inRegisters = false;
  /// A fragment in tensor-core accumulator layout (kdac_mma_fragment.cuh).
  bool mmaLayout = false;
  /// Bytes of kdac_smem from the first to past the last element, for
  /// overlap checks (none for a tile read in place from global memory,
  /// which nothing writes).
  int64_t firstByte = 0;
  int64_t endByte = 0;

  bool overlaps(const TileRef &other) const {
    return firstByte < other.endByte && other.firstByte < endByte;
  }
};

/// Emits the body of one kernel.
class CudaEmitter {
public:
  /// `allocOffsets`: the byte offset in kdac_smem of each kdk.alloc_tile.
  CudaEmitter(llvm::raw_ostream &os, int64_t blockThreads,
              llvm::DenseMap<mlir::Operation *, int64_t> allocOffsets);

  mlir::raw_indented_ostream &ostream() { return os; }
  int64_t getBlockThreads() const { return blockThreads; }

  /// Emits one op as C++ statements; fails loudly on ops it does not know.
  mlir::LogicalResult emitOperation(mlir::Operation &op);
  /// Emits every op of `block` but its terminator, which the parent handles.
  mlir::LogicalResult emitBlockBody(mlir::Block &block);

  /// Gives `value` a fresh C++ name ("v<N>") and returns it.
  llvm::StringRef bindNewName(mlir::Value value);
  void bindName(mlir::Value value, llvm::StringRef name);
  /// The C++ name of a scalar or global value; errors at `user` if the value
  /// was never emitted (e.g. made by an op of another dialect).
  mlir::FailureOr<std::string> getName(mlir::Operation *user,
                                       mlir::Value value);

  void bindTile(mlir::Value value, TileRef tile);
  /// The tile a memref value in shared memory denotes; errors at `user`
  /// when `value` is not one (a global buffer, a register fragment, or a
  /// tile of unknown origin).
  mlir::FailureOr<TileRef> getTile(mlir::Operation *user, mlir::Value value);
  /// As getTile for an optional operand: nullopt when `value` is null.
  mlir::FailureOr<std::optional<TileRef>>
  getOptionalTile(mlir::Operation *user, mlir::Value value);
  /// As getTile, but a register fragment is accepted too (for the ops that
  /// have a fragment form).
  mlir::FailureOr<TileRef> getTileOrFragment(mlir::Operation *user,
                                             mlir::Value value);

  /// The byte offset assigned to an alloc_tile by the shared-memory plan.
  int64_t getAllocOffset(mlir::Operation *alloc) const;

private:
  mlir::raw_indented_ostream os;
  int64_t blockThreads;
  llvm::DenseMap<mlir::Operation *, int64_t> allocOffsets;
  llvm::DenseMap<mlir::Value, std::string> names;
  llvm::DenseMap<mlir::Value, TileRef> tiles;
  unsigned nextName = 0;
};

//===----------------------------------------------------------------------===//
// Type spellings and literals (CudaEmitter.cpp).
//===----------------------------------------------------------------------===//

/// The C++ type of a scalar or element type (index -> long long, i1 -> bool,
/// bf16 -> __nv_bfloat16, ...), or failure for types C++ cannot carry here.
mlir::FailureOr<llvm::StringRef> getCppType(mlir::Type type);
/// As getCppType, with an error at `op` on failure.
mlir::FailureOr<llvm::StringRef> getCppType(mlir::Operation *op,
                                            mlir::Type type);
/// A float literal of the given precision that round-trips exactly.
std::string formatFloatLiteral(double value, bool isDouble = false);
/// The element size in bytes of a tile or buffer element type.
int64_t getElementBytes(mlir::Type type);
/// The tile layout a shared memref type denotes (pointer left empty).
mlir::FailureOr<TileRef> getTileLayout(mlir::Operation *at,
                                       mlir::MemRefType type);

//===----------------------------------------------------------------------===//
// printOperation overloads: EmitControlFlow.cpp. Terminators (scf.yield,
// func.return) are handled by the op that owns their region.
//===----------------------------------------------------------------------===//

mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::scf::ForOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::scf::IfOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::arith::ConstantOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::arith::CmpIOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::arith::SelectOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::arith::IndexCastOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::arith::IndexCastUIOp op);
/// Integer binary ops written as a C++ expression of their two operands:
/// addi subi muli divsi divui remsi remui minsi minui maxsi maxui
/// ceildivsi ceildivui andi ori xori.
mlir::LogicalResult printIntegerBinaryOperation(CudaEmitter &emitter,
                                                mlir::Operation *op);

//===----------------------------------------------------------------------===//
// printOperation overloads: EmitTileOps.cpp.
//===----------------------------------------------------------------------===//

mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::memref::SubViewOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::GlobalTileOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::BlockIdOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::LocateChunkOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::SequenceRangeOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::AllocTileOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::BarrierOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::WaitAsyncOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::LoadTileOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::StoreTileOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::ConvertOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::FillOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::L2NormRowsOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::SigmoidOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::GateActivationOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::CumsumRowsOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::DecayedGramOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::TriInverseOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::MmaOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::SubOp op);
// (The backward's tile primitives: EmitGradOps.cpp.)
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::AddOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::MulOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::RowDotOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::ColumnSumOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::AddToLastRowOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::TrilOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::DecayedGramGradOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::RowSumOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::L2NormRowsGradOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::SigmoidGradOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::GateActivationGradOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::AddIdentityOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::DecayRowsOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::StoreDecayedRowsOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::LastRowExpOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter, mlir::kdk::ExpOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::ScaleRowsOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::LoadIndexOp op);

//===----------------------------------------------------------------------===//
// Register fragments: EmitFragmentOps.cpp. The tile ops above hand over to
// these when an operand lives in registers.
//===----------------------------------------------------------------------===//

mlir::LogicalResult emitFragmentAlloc(CudaEmitter &emitter,
                                      mlir::kdk::AllocTileOp op,
                                      TileRef fragment);
mlir::LogicalResult emitFragmentLoad(CudaEmitter &emitter,
                                     mlir::kdk::LoadTileOp op,
                                     const TileRef &fragment);
mlir::LogicalResult emitFragmentStore(CudaEmitter &emitter,
                                      mlir::kdk::StoreTileOp op,
                                      const TileRef &fragment);
mlir::LogicalResult emitFragmentFill(CudaEmitter &emitter, mlir::kdk::FillOp op,
                                     const TileRef &fragment);
mlir::LogicalResult emitFragmentScaleRows(CudaEmitter &emitter,
                                          mlir::kdk::ScaleRowsOp op,
                                          const TileRef &fragment,
                                          const TileRef &rowScale);
mlir::LogicalResult emitFragmentMma(CudaEmitter &emitter, mlir::kdk::MmaOp op,
                                    const TileRef &lhs, const TileRef &rhs,
                                    const TileRef &out);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::DeltaStepOp op);
mlir::LogicalResult printOperation(CudaEmitter &emitter,
                                   mlir::kdk::ChunkStateStoreOp op);

} // namespace kdac::cuda

#endif // KDAC_LIB_TARGET_CUDA_EMITTER_H
