//===- KDKDialect.cpp - The kdk dialect -----------------------------------===//
//
// Registers the ops of `kdk` and implements their verifiers.
//
//===----------------------------------------------------------------------===//
#include "KDK/KDKOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::kdk;

#include "KDK/KDKDialect.cpp.inc"

void KDKDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "KDK/KDKOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "KDK/KDKOps.cpp.inc"

LogicalResult AllocTileOp::verify() {
  MemRefType type = getTile().getType();
  if (!type.hasStaticShape() || !type.getLayout().isIdentity())
    return emitOpError() << "expects a static, contiguous tile type";
  auto space = dyn_cast_or_null<IntegerAttr>(type.getMemorySpace());
  if (space && space.getInt() == kRegisterMemorySpace) {
    if (type.getRank() != 2 || !type.getElementType().isF32())
      return emitOpError() << "expects a register fragment to be a 2-D f32 "
                              "tile";
    return success();
  }
  if (!space || space.getInt() != kSharedMemorySpace)
    return emitOpError() << "expects a tile in shared memory (memory space "
                         << kSharedMemorySpace << ") or registers (memory "
                         << "space " << kRegisterMemorySpace << ")";
  return success();
}

LogicalResult MmaOp::verify() {
  ArrayRef<int64_t> a = getLhs().getType().getShape();
  ArrayRef<int64_t> b = getRhs().getType().getShape();
  ArrayRef<int64_t> c = getOut().getType().getShape();
  int64_t m = getTransposeLhs() ? a[1] : a[0];
  int64_t k = getTransposeLhs() ? a[0] : a[1];
  if (k != b[0] || c[0] != m || c[1] != b[1])
    return emitOpError() << "expects op(A) " << m << "x" << k << " times B "
                         << b[0] << "x" << b[1] << " into " << c[0] << "x"
                         << c[1];
  if (getLhs().getType().getElementType() != getRhs().getType().getElementType())
    return emitOpError() << "expects A and B of one element type";
  return success();
}
