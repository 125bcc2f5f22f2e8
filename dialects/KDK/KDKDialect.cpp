//===- KDKDialect.cpp - The kdk dialect -----------------------------------===//
//
// Registers the ops of `kdk` and implements their verifiers and those of the
// kernel attributes (kdk.grid, kdk.block_threads, argument bindings); the
// #kdk attributes themselves are in KDKAttrs.cpp.
//
//===----------------------------------------------------------------------===//
#include "KDK/KDKOps.h"

#include "kdac/Spec/KernelSpec.h"
#include "kdac/Spec/Limits.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::kdk;

#include "KDK/KDKDialect.cpp.inc"

void KDKDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "KDK/KDKOps.cpp.inc"
      >();
  registerAttributes();
}

#define GET_OP_CLASSES
#include "KDK/KDKOps.cpp.inc"

static LogicalResult verifySharedMemoryPlan(Operation *op, Attribute value);

/// The kernels of a module share a workspace by name, so they must agree on
/// its size: each kernel is checked against the kernels before it.
static LogicalResult verifyWorkspaceSizes(FunctionOpInterface kernel) {
  auto workspaceOf = [](FunctionOpInterface f, unsigned i) {
    return f.getArgAttrOfType<WorkspaceArgAttr>(i, kArgAttr);
  };
  Operation *parent = kernel->getParentOp();
  if (!parent)
    return success();
  for (Operation &earlier : parent->getRegion(0).getOps()) {
    if (&earlier == kernel.getOperation())
      break;
    auto other = dyn_cast<FunctionOpInterface>(earlier);
    if (!other || !other->hasAttr(kKernelAttr))
      continue;
    for (unsigned i = 0, e = kernel.getNumArguments(); i < e; ++i) {
      WorkspaceArgAttr here = workspaceOf(kernel, i);
      if (!here)
        continue;
      for (unsigned j = 0, f = other.getNumArguments(); j < f; ++j) {
        WorkspaceArgAttr there = workspaceOf(other, j);
        if (there && there.getName() == here.getName() &&
            there.getBytesPerSlot() != here.getBytesPerSlot())
          return kernel->emitError()
                 << "argument #" << i << " of @"
                 << SymbolTable::getSymbolName(kernel).getValue()
                 << ": workspace \"" << here.getName() << "\" has bytes_per_slot "
                 << here.getBytesPerSlot() << " here but "
                 << there.getBytesPerSlot() << " in @"
                 << SymbolTable::getSymbolName(other).getValue();
      }
    }
  }
  return success();
}

LogicalResult KDKDialect::verifyOperationAttribute(Operation *op,
                                                  NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kBlockThreadsAttr) {
    auto threads = dyn_cast<IntegerAttr>(attr.getValue());
    if (!threads || threads.getInt() < 32 || threads.getInt() > 1024 ||
        threads.getInt() % 32 != 0)
      return op->emitError() << kBlockThreadsAttr
                             << " must be a multiple of 32 in [32, 1024]";
  } else if (name == kMinBlocksPerSMAttr) {
    auto blocks = dyn_cast<IntegerAttr>(attr.getValue());
    auto threads = op->getAttrOfType<IntegerAttr>(kBlockThreadsAttr);
    if (!blocks || !threads || blocks.getInt() < 1)
      return op->emitError() << kMinBlocksPerSMAttr
                             << " must be a positive integer on a kernel "
                                "with "
                             << kBlockThreadsAttr;
    std::string problem = kdac::limits::checkBlocksPerSM(
        blocks.getInt(), threads.getInt(), kMinBlocksPerSMAttr.str());
    if (!problem.empty())
      return op->emitError() << problem;
  } else if (name == kDecayBoundAttr) {
    auto bound = dyn_cast<FloatAttr>(attr.getValue());
    if (!bound || !(bound.getValueAsDouble() > 0.0))
      return op->emitError() << kDecayBoundAttr
                             << " must be a positive float (the largest "
                                "per-token log-decay)";
  } else if (name == kGridAttr) {
    if (!isa<GridAttr>(attr.getValue()))
      return op->emitError() << kGridAttr << " must be a #kdk.grid";
  } else if (name == kKernelAttr) {
    // Every argument of a kernel binds something the launch passes.
    auto func = dyn_cast<FunctionOpInterface>(op);
    if (!func)
      return op->emitError() << kKernelAttr << " marks a function";
    StringRef kernel = SymbolTable::getSymbolName(op).getValue();
    if (func.isExternal() || !func.getFunctionBody().hasOneBlock() ||
        func.getNumResults() != 0)
      return op->emitError() << "kernel @" << kernel
                             << " needs a body of one block and no results";
    // Each tensor, workspace and size is bound once.
    llvm::DenseSet<Attribute> bindings;
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i) {
      Attribute binding = func.getArgAttr(i, kArgAttr);
      if (!binding)
        return op->emitError()
               << "argument #" << i << " of kernel @" << kernel << " needs a "
               << kArgAttr << " (#kdk.tensor, #kdk.workspace or #kdk.size)";
      if (!bindings.insert(binding).second)
        return op->emitError() << "arguments of kernel @" << kernel
                               << " bind " << binding << " twice";
    }
    return verifyWorkspaceSizes(func);
  } else if (name == kChunkSizeAttr) {
    auto chunk = dyn_cast<IntegerAttr>(attr.getValue());
    if (!chunk || chunk.getInt() < 1)
      return op->emitError() << kChunkSizeAttr << " must be a positive integer";
  } else if (name == kSharedMemoryBytesAttr) {
    return verifySharedMemoryPlan(op, attr.getValue());
  } else if (name == kTargetAttr) {
    if (!isa<TargetAttr>(attr.getValue()) || !isa<ModuleOp>(op))
      return op->emitError() << kTargetAttr
                             << " must be a #kdk.target on a module";
  }
  return success();
}

bool mlir::kdk::isGlobalBuffer(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  if (!memref || memref.getRank() != 1 || !memref.isDynamicDim(0) ||
      memref.getMemorySpace() || !memref.getLayout().isIdentity())
    return false;
  Type element = memref.getElementType();
  return element.isF32() || element.isBF16() || element.isF16() ||
         element.isInteger(64) || element.isInteger(32);
}

LogicalResult KDKDialect::verifyRegionArgAttribute(Operation *op,
                                                   unsigned region,
                                                   unsigned argIndex,
                                                   NamedAttribute attr) {
  auto func = dyn_cast<FunctionOpInterface>(op);
  if (!func || region != 0)
    return op->emitError() << attr.getName()
                           << " binds the arguments of a kernel function";
  StringRef name = attr.getName().getValue();
  Type type = func.getArgumentTypes()[argIndex];
  auto fail = [&]() {
    return op->emitError() << "argument #" << argIndex << " of @"
                           << SymbolTable::getSymbolName(op).getValue()
                           << ": ";
  };
  if (name != kArgAttr)
    return fail() << "unknown argument attribute " << attr.getName()
                  << " (a kernel argument binds through " << kArgAttr << ")";
  Attribute binding = attr.getValue();
  if (!isa<TensorArgAttr, WorkspaceArgAttr, SizeArgAttr>(binding))
    return fail() << kArgAttr
                  << " must be a #kdk.tensor, #kdk.workspace or #kdk.size";
  if (isa<SizeArgAttr>(binding)) {
    if (!type.isIndex())
      return fail() << "a #kdk.size argument must be an index";
    return success();
  }
  if (!isGlobalBuffer(type))
    return fail() << "a buffer argument must be a " << kGlobalBufferText;
  return success();
}

/// The kdk.block_threads of the kernel around `op`; 0 outside a kernel.
static int64_t kernelBlockThreads(Operation *op) {
  auto kernel = op->getParentOfType<FunctionOpInterface>();
  auto threads =
      kernel ? kernel->getAttrOfType<IntegerAttr>(kBlockThreadsAttr) : nullptr;
  return threads ? threads.getInt() : 0;
}

int64_t mlir::kdk::sharedStateRunLength(int64_t cols, int64_t threads,
                                        int64_t elementBytes) {
  int64_t warpCols = cols / std::max<int64_t>(1, threads / 32);
  int64_t run = 16 / elementBytes;
  while (run > 1 && warpCols % run != 0)
    run /= 2;
  return run;
}

std::string mlir::kdk::sharedStateSplitProblem(int64_t rows, int64_t cols,
                                               int64_t threads,
                                               int64_t elementBytes) {
  int64_t warps = threads / 32;
  if (threads % 32 != 0 || warps == 0 || cols % warps != 0)
    return "its columns do not divide over whole warps";
  int64_t warpCols = cols / warps;
  int64_t runLanes = std::min<int64_t>(
      32, warpCols / sharedStateRunLength(cols, threads, elementBytes));
  if (!kdac::limits::isPowerOfTwo(runLanes))
    return "a warp's " + std::to_string(warpCols) +
           " columns are not a power-of-two number of runs";
  if (rows % (32 / runLanes) != 0)
    return "its rows do not divide over a warp's " +
           std::to_string(32 / runLanes) + " row lanes";
  return "";
}

LogicalResult AllocTileOp::verify() {
  MemRefType type = getTile().getType();
  if (!type.hasStaticShape() || !type.getLayout().isIdentity())
    return emitOpError() << "expects a static, contiguous tile type";
  if (isRegisterFragment(type)) {
    if (getOffset())
      return emitOpError() << "has a shared-memory offset but is a register "
                              "fragment";
    if (type.getRank() != 2)
      return emitOpError() << "expects a register fragment to be a 2-D tile";
    // The layout's own rules, over this kernel's block when there is one.
    int64_t threads = kernelBlockThreads(*this);
    int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
    std::string problem =
        isMmaFragment(type)
            ? MmaFragmentAttr::holdProblem(rows, cols, type.getElementType(),
                                           threads)
            : cast<FragmentLayoutAttr>(type.getMemorySpace())
                  .spreadProblem(rows, cols,
                                 type.getElementType().getIntOrFloatBitWidth(),
                                 threads);
    if (!problem.empty())
      return emitOpError() << problem;
    return success();
  }
  if (!isSharedTile(type))
    return emitOpError() << "expects a tile in shared memory (memory space "
                         << kSharedMemorySpace << ") or registers (a "
                         << "#kdk.fragment or #kdk.mma_fragment memory space)";
  if (std::optional<int64_t> offset = getOffset();
      offset && (*offset < 0 || *offset % kSharedTileAlignment != 0))
    return emitOpError() << "expects offset to be a non-negative multiple of "
                         << kSharedTileAlignment << ", got " << *offset;
  return success();
}

int64_t mlir::kdk::tileBytes(MemRefType type) {
  return type.getNumElements() * type.getElementTypeBitWidth() / 8;
}

/// kdk.shared_memory_bytes on a kernel: every shared tile of it has an
/// offset, within the total, and no two overlap.
static LogicalResult verifySharedMemoryPlan(Operation *op, Attribute value) {
  auto total = dyn_cast<IntegerAttr>(value);
  if (!total || total.getInt() < 0)
    return op->emitError() << kSharedMemoryBytesAttr
                           << " must be a non-negative integer";
  SmallVector<std::pair<int64_t, AllocTileOp>> tiles;
  WalkResult walk = op->walk([&](AllocTileOp alloc) {
    if (isRegisterFragment(alloc.getTile().getType()))
      return WalkResult::advance();
    std::optional<int64_t> offset = alloc.getOffset();
    if (!offset) {
      alloc.emitOpError() << "has no offset in a kernel with "
                          << kSharedMemoryBytesAttr;
      return WalkResult::interrupt();
    }
    if (*offset + tileBytes(alloc.getTile().getType()) > total.getInt()) {
      alloc.emitOpError() << "ends past the kernel's " << total.getInt()
                          << " bytes of shared memory";
      return WalkResult::interrupt();
    }
    tiles.push_back({*offset, alloc});
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  if (std::optional<int64_t> limit = targetSharedMemory(op);
      limit && total.getInt() > *limit)
    return op->emitError() << kSharedMemoryBytesAttr << " = " << total.getInt()
                           << " exceeds the target's " << *limit
                           << " bytes per block";
  llvm::sort(tiles, [](auto &a, auto &b) { return a.first < b.first; });
  for (size_t i = 1; i < tiles.size(); ++i) {
    auto [start, alloc] = tiles[i];
    auto [before, previous] = tiles[i - 1];
    if (before + tileBytes(previous.getTile().getType()) > start)
      return alloc.emitOpError() << "overlaps the tile at offset " << before
                                 << " in shared memory";
  }
  return success();
}

LogicalResult GlobalTileOp::verify() {
  MemRefType tile = getTile().getType();
  SmallVector<int64_t> strides;
  int64_t offset;
  if (!isGlobalBuffer(getBuffer().getType()) || tile.getMemorySpace() ||
      !tile.hasStaticShape() ||
      failed(tile.getStridesAndOffset(strides, offset)) || strides[1] != 1 ||
      ShapedType::isDynamic(strides[0]) || strides[0] < tile.getDimSize(1) ||
      offset != 0)
    return emitOpError() << "expects a static R x C tile of unit column "
                            "stride, a row stride of at least C and no "
                            "memory space over a global buffer, got "
                         << tile;
  if (tile.getElementType() != getBuffer().getType().getElementType())
    return emitOpError() << "expects the buffer's element type";
  // Read in place: every user must declare that it only reads the tile.
  for (Operation *user : getTile().getUsers()) {
    auto effects = dyn_cast<MemoryEffectOpInterface>(user);
    SmallVector<MemoryEffects::EffectInstance> instances;
    if (effects)
      effects.getEffectsOnValue(getTile(), instances);
    bool onlyReads =
        effects && !instances.empty() &&
        llvm::all_of(instances, [](const MemoryEffects::EffectInstance &e) {
          return isa<MemoryEffects::Read>(e.getEffect());
        });
    if (!onlyReads)
      return emitOpError() << "is read in place; '" << user->getName()
                           << "' must only read it";
  }
  return success();
}

/// A 1-D tile or a 1 x n / n x 1 one of n elements.
static bool isVectorOf(MemRefType type, int64_t n) {
  return type.getNumElements() == n &&
         (type.getRank() == 1 || type.getDimSize(0) == 1 ||
          type.getDimSize(1) == 1);
}

/// A shared state tile must split over its kernel's threads the way
/// kdac::SharedStateLayout indexes it (sharedStateSplitProblem); the
/// kernel's kdk.block_threads says how many there are. Its rows must start
/// at the runs the split reads them in: the row stride and the view's
/// offset in its allocation are multiples of the run (the allocation itself
/// starts at kSharedTileAlignment, a multiple of every run's 16 bytes).
static LogicalResult verifySharedStateSplit(Operation *op, MemRefType state) {
  int64_t threads = kernelBlockThreads(op);
  if (!threads)
    return success(); // not inside a kernel yet
  int64_t rows = state.getDimSize(0), cols = state.getDimSize(1);
  int64_t bytes = state.getElementType().getIntOrFloatBitWidth() / 8;
  std::string problem = sharedStateSplitProblem(rows, cols, threads, bytes);
  if (!problem.empty())
    return op->emitOpError() << "cannot split the " << rows << "x" << cols
                             << " shared state over " << threads
                             << " threads: " << problem;
  int64_t run = sharedStateRunLength(cols, threads, bytes);
  static_assert(kSharedTileAlignment % 16 == 0,
                "an allocation starts at a whole run");
  SmallVector<int64_t> strides;
  int64_t offset = 0;
  if (failed(state.getStridesAndOffset(strides, offset)) ||
      ShapedType::isDynamic(offset) || ShapedType::isDynamic(strides[0]) ||
      strides[0] % run != 0 || offset % run != 0)
    return op->emitOpError() << "cannot read the " << rows << "x" << cols
                             << " shared state in runs of " << run
                             << " elements: its rows are not aligned to them";
  return success();
}

LogicalResult DeltaStepOp::verify() {
  MemRefType state = getState().getType();
  bool shared = isSharedTile(state);
  if ((!isRegisterFragment(state) && !shared) || isMmaFragment(getState()))
    return emitOpError() << "expects a register fragment (#kdk.fragment) or "
                            "a shared tile (memory space "
                         << kSharedMemorySpace << ")";
  int64_t rows = state.getDimSize(0), cols = state.getDimSize(1);
  if (getToken()) {
    // A group of G tokens: every token tile has G rows, beta G values.
    int64_t group = getQ().getType().getDimSize(0);
    auto rowsOf = [&](MemRefType type, int64_t width) {
      return type.getRank() == 2 && type.getDimSize(0) == group &&
             type.getDimSize(1) == width;
    };
    if (!rowsOf(getQ().getType(), rows) || !rowsOf(getK().getType(), rows) ||
        (getDecay() && !rowsOf(getDecay().getType(), rows)) ||
        !rowsOf(getV().getType(), cols) || !rowsOf(getOut().getType(), cols) ||
        getBeta().getType().getRank() != 1 ||
        getBeta().getType().getDimSize(0) != group)
      return emitOpError() << "with token expects q, k (and decay) of "
                           << group << "x" << rows << ", v and out of "
                           << group << "x" << cols << " and " << group
                           << " betas";
    if (getStoreTo())
      return emitOpError() << "with token keeps the state: store_to is a "
                              "one-token kernel's update pass";
  } else if (!isVectorOf(getQ().getType(), rows) ||
      !isVectorOf(getK().getType(), rows) ||
      (getDecay() && !isVectorOf(getDecay().getType(), rows)) ||
      !isVectorOf(getV().getType(), cols) ||
      !isVectorOf(getOut().getType(), cols) ||
      getBeta().getType().getNumElements() != 1)
    return emitOpError() << "expects q, k (and decay) of " << rows
                         << " elements, v and out of " << cols
                         << " and one beta";
  if (getStoreTo() && !shared)
    return emitOpError() << "stores to global memory only from a shared state";
  if (bool(getStoreTo()) != bool(getStoreOffset()) ||
      bool(getStoreTo()) != bool(getStoreRowStride()))
    return emitOpError() << "needs store_to with its offset and row_stride";
  return shared ? verifySharedStateSplit(*this, state) : success();
}

LogicalResult ChunkStateStoreOp::verify() {
  MemRefType state = getState().getType();
  if (!isSharedTile(state))
    return emitOpError() << "expects a shared state tile (memory space "
                         << kSharedMemorySpace << ")";
  int64_t rows = state.getDimSize(0), cols = state.getDimSize(1);
  MemRefType keys = getKeys().getType(), values = getValues().getType();
  int64_t tokens = keys.getDimSize(0);
  if (getDecay().getType().getDimSize(0) != rows || keys.getDimSize(1) != rows ||
      values.getDimSize(0) != tokens || values.getDimSize(1) != cols)
    return emitOpError() << "expects decay of " << rows << ", keys of "
                         << tokens << "x" << rows << " and values of "
                         << tokens << "x" << cols << " for a " << rows << "x"
                         << cols << " state";
  return verifySharedStateSplit(*this, state);
}

MmaShape kdk::getMmaShape(MmaOp op) {
  ArrayRef<int64_t> a = op.getLhs().getType().getShape();
  ArrayRef<int64_t> b = op.getRhs().getType().getShape();
  return {op.getTransposeLhs() ? a[1] : a[0], op.getTransposeRhs() ? b[0] : b[1],
          op.getTransposeLhs() ? a[0] : a[1]};
}

LogicalResult MmaOp::verify() {
  ArrayRef<int64_t> a = getLhs().getType().getShape();
  ArrayRef<int64_t> b = getRhs().getType().getShape();
  ArrayRef<int64_t> c = getOut().getType().getShape();
  int64_t m = getTransposeLhs() ? a[1] : a[0];
  int64_t k = getTransposeLhs() ? a[0] : a[1];
  int64_t bk = getTransposeRhs() ? b[1] : b[0];
  int64_t n = getTransposeRhs() ? b[0] : b[1];
  if (k != bk || c[0] != m || c[1] != n)
    return emitOpError() << "expects op(A) " << m << "x" << k << " times op(B) "
                         << bk << "x" << n << " into " << c[0] << "x" << c[1];
  bool mmaRhs = isMmaFragment(getRhs()), mmaOut = isMmaFragment(getOut());
  bool fragmentLhs = isRegisterFragment(getLhs()),
       fragmentRhs = isRegisterFragment(getRhs()),
       fragmentOut = isRegisterFragment(getOut());
  bool anyFragment = fragmentLhs || fragmentRhs || fragmentOut;
  if (getTf32()) {
    if (anyFragment || !getLhs().getType().getElementType().isF32() ||
        !getRhs().getType().getElementType().isF32())
      return emitOpError() << "with tf32 expects f32 shared tiles";
    if (!fitsTf32Mma({m, n, k}))
      return emitOpError() << "with tf32 expects M a multiple of 16 and N "
                              "and the inner dimension multiples of 8, got "
                           << m << "x" << k << " times " << bk << "x" << n;
  }
  if (getTransposeRhs() &&
      (anyFragment || !getLhs().getType().getElementType().isF32()))
    return emitOpError() << "with transpose_rhs expects f32 shared tiles";
  if (mmaRhs || mmaOut) {
    Type lhsElement = getLhs().getType().getElementType();
    if (!mmaRhs || !mmaOut || fragmentLhs ||
        !(lhsElement.isBF16() || lhsElement.isF16()))
      return emitOpError() << "with an mma_fragment expects B and out both "
                              "mma_fragments and A a shared "
                              "bf16 or f16 tile";
    // ldmatrix reads A's rows 16 bytes at a time.
    SmallVector<int64_t> strides;
    int64_t offset = 0;
    if (failed(getLhs().getType().getStridesAndOffset(strides, offset)) ||
        ShapedType::isDynamic(strides[0]) || (strides[0] * 2) % 16 != 0)
      return emitOpError() << "expects A, next to mma_fragments, to "
                              "have 16-byte aligned rows";
    return success();
  }
  if (fragmentLhs)
    return emitOpError() << "expects A to be a shared tile";
  // A vector times the fragment, or a rank-one update accumulated into it.
  if (fragmentRhs && fragmentOut)
    return emitOpError() << "with a register fragment supports only a vector "
                            "times the fragment, or an accumulated rank-one "
                            "product into it";
  if (fragmentRhs && m != 1)
    return emitOpError() << "with a register fragment as B expects A and out "
                            "to be single rows, got M = "
                         << m;
  if (fragmentOut && (!getAccumulate() || k != 1))
    return emitOpError() << "with a register fragment as out supports only an "
                            "accumulated rank-one product (depth 1), got "
                            "depth "
                         << k;
  // A fragment operand reads as f32 whatever it stores.
  if (!fragmentRhs && !fragmentOut &&
      getLhs().getType().getElementType() != getRhs().getType().getElementType())
    return emitOpError() << "expects A and B of one element type";
  return success();
}
