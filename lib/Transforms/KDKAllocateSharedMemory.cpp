//===- KDKAllocateSharedMemory.cpp - Shared-memory offsets of kdk tiles ---===//
//
// Every shared tile of a kernel lives for the whole kernel (a lowering that
// reuses storage reuses the tile itself), so a kernel's dynamic shared
// memory is its tiles laid end to end. This pass writes that plan into the
// IR, each tile's `offset` and the kernel's kdk.shared_memory_bytes, and
// checks it against the limit (the smaller of the option and the module's
// #kdk.target), so the CUDA emitter only prints offsets.
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"

#include "KDK/KDKOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include "llvm/Support/MathExtras.h"

using namespace mlir;

namespace kdac {
#define GEN_PASS_DEF_KDKALLOCATESHAREDMEMORY
#include "kdac/Transforms/Passes.h.inc"
} // namespace kdac

namespace {

struct KDKAllocateSharedMemoryPass
    : kdac::impl::KDKAllocateSharedMemoryBase<KDKAllocateSharedMemoryPass> {
  using KDKAllocateSharedMemoryBase::KDKAllocateSharedMemoryBase;

  void runOnOperation() override {
    if (sharedMemoryLimit < 1) {
      // A bad option is not the IR's fault: no dump of the module with it.
      emitError(getOperation().getLoc())
          << "kdk-allocate-shared-memory: smem-limit must be positive, got "
          << int64_t(sharedMemoryLimit);
      return signalPassFailure();
    }
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (func->hasAttr(kdk::kKernelAttr) && failed(allocate(func)))
        return signalPassFailure();
  }

  LogicalResult allocate(func::FuncOp func) {
    Builder b(func.getContext());
    int64_t next = 0;
    func.walk<WalkOrder::PreOrder>([&](kdk::AllocTileOp alloc) {
      MemRefType type = alloc.getTile().getType();
      if (!kdk::isSharedTile(type))
        return;
      alloc.setOffsetAttr(b.getI64IntegerAttr(next));
      next += llvm::alignTo(kdk::tileBytes(type), kdk::kSharedTileAlignment);
    });
    func->setAttr(kdk::kSharedMemoryBytesAttr, b.getI64IntegerAttr(next));
    int64_t limit = kdk::sharedMemoryLimitOf(func, sharedMemoryLimit);
    if (next > limit)
      return emitError(func.getLoc())
             << "kdk-allocate-shared-memory: @" << func.getSymName()
             << " needs " << next << " bytes of shared memory, over the "
             << limit << "-byte limit";
    return success();
  }
};

} // namespace
