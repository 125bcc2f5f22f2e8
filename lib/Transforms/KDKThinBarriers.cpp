//===- KDKThinBarriers.cpp - Drop barriers that order no conflict ---------===//
//
// A lowering that puts a kdk.barrier after every op is correct for any
// order of readers and writers; this pass keeps only the barriers some
// pair of accesses needs, read off the ops' declared memory effects: a
// barrier stays when an op after it (up to the next barrier) reads what an
// op since the last kept barrier wrote, or writes what one read or wrote.
// Shared tiles are compared by their element ranges within one
// kdk.alloc_tile (the strided layout of a subview says where it lies);
// different allocations never overlap (kdk-allocate-shared-memory). Two
// element-wise ops (kdk::ElementwiseOpInterface) that touch one tile
// through views of the same type reach each element from the same thread,
// so they need none for that tile. A global buffer conflicts with itself
// as a whole. Register fragments are per thread and never need one.
// Anything else, and any op with regions, touches everything, and so does
// whatever follows a nested block.
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"

#include "KDK/KDKOps.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <limits>

using namespace mlir;

namespace kdac {
#define GEN_PASS_DEF_KDKTHINBARRIERS
#include "kdac/Transforms/Passes.h.inc"
} // namespace kdac

namespace {

/// Elements [begin, end) of `root` (a shared kdk.alloc_tile or a global
/// buffer) that an op reads or writes.
struct Access {
  Value root;
  int64_t begin, end;
  bool write;
  /// The view's type when an element-wise op touches only the elements it
  /// computes through it (null otherwise).
  Type ownElementView = {};

  bool conflictsWith(const Access &other) const {
    if (root != other.root || !(write || other.write) ||
        !(begin < other.end && other.begin < end))
      return false;
    // One thread per element in both: program order orders them.
    return !ownElementView || ownElementView != other.ownElementView;
  }
};

constexpr int64_t kWhole = std::numeric_limits<int64_t>::max();

/// What the ops of one phase (between two kept barriers) touch.
struct Phase {
  SmallVector<Access> accesses;
  bool everything = false;

  bool conflictsWith(const Phase &next) const {
    if (accesses.empty() && !everything)
      return false;
    if (next.accesses.empty() && !next.everything)
      return false;
    if (everything || next.everything)
      return true;
    for (const Access &a : accesses)
      for (const Access &b : next.accesses)
        if (a.conflictsWith(b))
          return true;
    return false;
  }
  void add(const Phase &other) {
    everything |= other.everything;
    accesses.append(other.accesses.begin(), other.accesses.end());
  }
};

/// The allocation or buffer `tile` views and the elements it spans, or
/// nullopt when that cannot be told (the access then touches everything).
/// Fragments are per thread: an empty root.
std::optional<Access> accessOf(Value tile, bool write) {
  auto type = dyn_cast<MemRefType>(tile.getType());
  if (!type)
    return std::nullopt;
  if (kdk::isRegisterFragment(type))
    return Access{Value(), 0, 0, write};
  Value root = tile;
  while (auto view = root.getDefiningOp<memref::SubViewOp>())
    root = view.getSource();
  if (auto view = root.getDefiningOp<kdk::GlobalTileOp>())
    root = view.getBuffer();
  if (isa<BlockArgument>(root) && kdk::isGlobalBuffer(root.getType()))
    return Access{root, 0, kWhole, write};
  if (!root.getDefiningOp<kdk::AllocTileOp>())
    return std::nullopt;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)) ||
      ShapedType::isDynamic(offset) || !type.hasStaticShape() ||
      llvm::any_of(strides, ShapedType::isDynamic))
    return Access{root, 0, kWhole, write};
  int64_t last = offset;
  for (auto [size, stride] : llvm::zip(type.getShape(), strides))
    last += (size - 1) * stride;
  return Access{root, offset, last + 1, write};
}

/// What `op` touches, from its declared effects.
Phase phaseOf(Operation *op) {
  Phase phase;
  if (op->getNumRegions() != 0) {
    phase.everything = true;
    return phase;
  }
  if (isMemoryEffectFree(op))
    return phase;
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  if (!effects) {
    phase.everything = true;
    return phase;
  }
  SmallVector<Value> ownElementTiles;
  if (auto elementwise = dyn_cast<kdk::ElementwiseOpInterface>(op))
    ownElementTiles = elementwise.getOwnElementTiles();
  SmallVector<MemoryEffects::EffectInstance> instances;
  effects.getEffects(instances);
  for (const MemoryEffects::EffectInstance &effect : instances) {
    if (isa<MemoryEffects::Allocate, MemoryEffects::Free>(effect.getEffect()))
      continue;
    bool write = isa<MemoryEffects::Write>(effect.getEffect());
    Value value = effect.getValue();
    std::optional<Access> access =
        value ? accessOf(value, write) : std::nullopt;
    if (!access) {
      phase.everything = true;
      return phase;
    }
    if (!access->root)
      continue;
    if (access->end != kWhole && llvm::is_contained(ownElementTiles, value))
      access->ownElementView = value.getType();
    phase.accesses.push_back(*access);
  }
  return phase;
}

/// Thins the barriers of `block`, then of the blocks nested in its ops.
void thin(Block &block) {
  // A loop body's last barrier orders this iteration's end before the
  // next one's start: it stays.
  bool loopBody = isa<LoopLikeOpInterface>(block.getParentOp());
  bool nested = !isa<FunctionOpInterface>(block.getParentOp());
  kdk::BarrierOp lastBarrier;
  for (Operation &op : block)
    if (auto barrier = dyn_cast<kdk::BarrierOp>(op))
      lastBarrier = barrier;
  // In a loop body the first phase also follows the previous iteration's
  // ops after the last barrier.
  Phase current;
  if (loopBody && lastBarrier)
    for (Operation *op = lastBarrier->getNextNode(); op; op = op->getNextNode())
      current.add(phaseOf(op));
  SmallVector<Operation *> dropped;
  for (auto it = block.begin(); it != block.end(); ++it) {
    auto barrier = dyn_cast<kdk::BarrierOp>(*it);
    if (!barrier) {
      current.add(phaseOf(&*it));
      continue;
    }
    Phase next;
    auto after = std::next(it);
    for (; after != block.end() && !isa<kdk::BarrierOp>(*after); ++after)
      next.add(phaseOf(&*after));
    // What follows a nested block's last barrier is its parent's
    // continuation, which this walk does not see (an scf.if in a loop is
    // followed by the next iteration's body): assume it touches everything.
    if (nested && after == block.end())
      next.everything = true;
    if ((loopBody && barrier == lastBarrier) || current.conflictsWith(next)) {
      current = Phase();
      continue;
    }
    dropped.push_back(barrier);
  }
  for (Operation *op : dropped)
    op->erase();
  for (Operation &op : block)
    for (Region &region : op.getRegions())
      for (Block &nested : region)
        thin(nested);
}

struct KDKThinBarriersPass
    : kdac::impl::KDKThinBarriersBase<KDKThinBarriersPass> {
  void runOnOperation() override {
    getOperation().walk([](func::FuncOp kernel) {
      if (kernel->hasAttr(kdk::kKernelAttr))
        for (Block &block : kernel.getBody())
          thin(block);
    });
  }
};

} // namespace
