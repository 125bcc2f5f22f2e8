//===- KDKOps.h - Operations of the kdk dialect -----------------*- C++ -*-===//
//
// Thin header: the generated op classes of `kdk`, and the names of the
// attributes that mark kernels and bind their parameters.
//
//===----------------------------------------------------------------------===//
#ifndef KDK_KDKOPS_H
#define KDK_KDKOPS_H

#include "KDA/KDAOps.h"
#include "KDK/KDKDialect.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <algorithm>
#include <optional>

#include "KDK/KDKInterfaces.h.inc"

#define GET_ATTRDEF_CLASSES
#include "KDK/KDKAttrs.h.inc"

namespace mlir::kdk {
/// The rules every tile operand of a kdk op follows (TileOperands): a tile
/// in shared memory (memory space 3) of a static shape and static strides,
/// its rows contiguous; a register fragment (memory space 5) only where the
/// op has FragmentOperands; a view read in place from global memory only as
/// kdk.global_tile makes it. Global buffers (memref<?xT>) are not tiles.
LogicalResult verifyTileOperands(Operation *op);

/// Every kdk op's tile operands follow verifyTileOperands' rules.
template <typename ConcreteType>
class TileOperands : public OpTrait::TraitBase<ConcreteType, TileOperands> {
public:
  static LogicalResult verifyTrait(Operation *op) {
    return verifyTileOperands(op);
  }
};
/// The op has a form for register fragments (its verifier says which
/// operands may be one).
template <typename ConcreteType>
class FragmentOperands
    : public OpTrait::TraitBase<ConcreteType, FragmentOperands> {};
} // namespace mlir::kdk

#define GET_OP_CLASSES
#include "KDK/KDKOps.h.inc"

namespace mlir::kdk {
/// Discardable attributes on kernel functions and their arguments.
inline constexpr llvm::StringLiteral kKernelAttr = "kdk.kernel";
inline constexpr llvm::StringLiteral kBlockThreadsAttr = "kdk.block_threads";
/// Blocks that must fit on one SM at once (__launch_bounds__' second
/// argument, which bounds the registers per thread).
inline constexpr llvm::StringLiteral kMinBlocksPerSMAttr =
    "kdk.min_blocks_per_sm";
/// The largest per-token log-decay -g the kernel's gate can produce (a
/// lowerbound gate's |lower_bound|); absent when the gate is unbounded.
inline constexpr llvm::StringLiteral kDecayBoundAttr = "kdk.decay_bound";
inline constexpr llvm::StringLiteral kGridAttr = "kdk.grid";
/// What a kernel argument binds: a #kdk.tensor, #kdk.workspace or #kdk.size.
inline constexpr llvm::StringLiteral kArgAttr = "kdk.arg";
inline constexpr llvm::StringLiteral kChunkSizeAttr = "kdk.chunk_size";
/// The module's code-generation target (#kdk.target).
inline constexpr llvm::StringLiteral kTargetAttr = "kdk.target";
/// The #kdk.target of `arch` as kdac's target table states it; null for an
/// arch kdac does not emit for.
TargetAttr getTargetAttr(MLIRContext *context, llvm::StringRef arch);
/// The dynamic shared memory one block may use on the #kdk.target of `op`'s
/// module; none without a target (the passes' smem-limit options decide).
std::optional<int64_t> targetSharedMemory(Operation *op);
/// `option` (a pass's smem-limit), capped by the module's target.
inline int64_t sharedMemoryLimitOf(Operation *op, int64_t option) {
  return std::min(option, targetSharedMemory(op).value_or(option));
}
/// A kernel's dynamic shared memory, bytes (kdk-allocate-shared-memory).
inline constexpr llvm::StringLiteral kSharedMemoryBytesAttr =
    "kdk.shared_memory_bytes";
/// Every shared tile starts at a multiple of this many bytes: 128-byte rows
/// of any tile start a cache line and a bank cycle, and cp.async and
/// ldmatrix need 16-byte alignment.
inline constexpr int64_t kSharedTileAlignment = 128;
/// The bytes a tile type occupies (elements times element size).
int64_t tileBytes(MemRefType type);
/// What a #kdk.size may bind.
inline constexpr llvm::StringLiteral kSizeParams[] = {"T", "N", "B", "S",
                                                      "chunk_slots"};
/// Whether `type` is a global buffer: memref<?xT>, contiguous, not in
/// shared memory or registers, of f32, bf16, f16, i64 or i32 (the one rule
/// for kernel arguments and the ops' KDK_Global operands).
bool isGlobalBuffer(Type type);
inline constexpr llvm::StringLiteral kGlobalBufferText =
    "memref<?xT> in global memory (T: f32, bf16, f16, i64 or i32)";
/// Shared memory is memory space 3, as in the GPU dialect.
inline constexpr unsigned kSharedMemorySpace = 3;
/// A tile whose memory space is a #kdk.fragment or #kdk.mma_fragment is a
/// register fragment: a 2-D tile spread over the block's threads as that
/// layout says.
inline bool isRegisterFragment(MemRefType type) {
  return isa_and_nonnull<FragmentLayoutAttr, MmaFragmentAttr>(
      type.getMemorySpace());
}
inline bool isMmaFragment(MemRefType type) {
  return isa_and_nonnull<MmaFragmentAttr>(type.getMemorySpace());
}
/// A tile in shared memory (memory space kSharedMemorySpace).
inline bool isSharedTile(MemRefType type) {
  auto space = dyn_cast_or_null<IntegerAttr>(type.getMemorySpace());
  return space && space.getInt() == kSharedMemorySpace;
}
inline bool isRegisterFragment(Value tile) {
  return isRegisterFragment(cast<MemRefType>(tile.getType()));
}
inline bool isMmaFragment(Value tile) {
  return isMmaFragment(cast<MemRefType>(tile.getType()));
}

/// The problem kdk.mma computes: op(A) is m x inner, op(B) inner x n.
struct MmaShape {
  int64_t m, n, inner;
};
MmaShape getMmaShape(MmaOp op);
/// Whether mma.sync m16n8k8 (kdk.mma tf32) tiles the problem: the one rule
/// the verifier and kdk-select-products share.
inline bool fitsTf32Mma(const MmaShape &s) {
  return s.m % 16 == 0 && s.n % 8 == 0 && s.inner % 8 == 0;
}
/// Whether a rows x depth decayed gram (kdk.decayed_gram tensor_cores)
/// is whole m16n8k8 steps: the rule its emitter check and
/// kdk-select-products share.
inline bool fitsTensorCoreGram(int64_t rows, int64_t depth) {
  return rows % 16 == 0 && depth % 8 == 0;
}
/// Whether kdk.decayed_gram_grad tensor_cores covers a rows x depth gram:
/// one 16-row block (the verifier's and kdk-select-products' rule).
inline bool fitsTensorCoreGramGrad(int64_t rows, int64_t depth) {
  return rows == 16 && depth % 8 == 0;
}

/// How kdac::SharedStateLayout (kdac_shared_state.cuh) splits a rows x cols
/// shared state of `elementBytes`-byte elements over `threads` threads for
/// kdk.delta_step: whole columns per warp, runs of up to 16 bytes along a
/// row, a power-of-two number of lanes per row, rows a multiple of the row
/// lanes. Returns "" when it can, else why not. The decode lowering plans
/// with it and the emitter checks with it.
std::string sharedStateSplitProblem(int64_t rows, int64_t cols,
                                    int64_t threads, int64_t elementBytes);
/// The run length (elements) of that split.
int64_t sharedStateRunLength(int64_t cols, int64_t threads,
                             int64_t elementBytes);
} // namespace mlir::kdk

#endif // KDK_KDKOPS_H
