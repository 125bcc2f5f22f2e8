//===- KDKElementwise.cpp - Element ownership of element-wise kdk ops -----===//
//
// Which tiles each element-wise kdk op touches only at the element it
// computes (kdk::ElementwiseOpInterface), as its device function reads
// them: operands read at another element (a row scale, the cumsum's last
// row under to_last) are left out, and so is an op on register fragments,
// whose elements follow the fragment layout instead.
//
//===----------------------------------------------------------------------===//
#include "KDK/KDKOps.h"

using namespace mlir;
using namespace mlir::kdk;

#include "KDK/KDKInterfaces.cpp.inc"

/// `tiles` (the null ones dropped), or none if any is a register fragment.
static SmallVector<Value> sharedTiles(std::initializer_list<Value> tiles) {
  SmallVector<Value> out;
  for (Value tile : tiles) {
    if (!tile)
      continue;
    if (isRegisterFragment(tile))
      return {};
    out.push_back(tile);
  }
  return out;
}

SmallVector<Value> ConvertOp::getOwnElementTiles() {
  return sharedTiles({getSrc(), getDst()});
}
SmallVector<Value> FillOp::getOwnElementTiles() {
  return sharedTiles({getTile()});
}
SmallVector<Value> SubOp::getOwnElementTiles() {
  return sharedTiles({getLhs(), getRhs(), getOut()});
}
SmallVector<Value> AddIdentityOp::getOwnElementTiles() {
  return sharedTiles({getInput(), getOut()});
}
SmallVector<Value> DecayRowsOp::getOwnElementTiles() {
  // to_last reads the cumsum's last row for every row.
  return sharedTiles({getInput(), getToLast() ? Value() : getGc(), getOut()});
}
SmallVector<Value> ExpOp::getOwnElementTiles() {
  return sharedTiles({getInput(), getOut()});
}
SmallVector<Value> ScaleRowsOp::getOwnElementTiles() {
  return sharedTiles({getTile(), getOut()});
}
SmallVector<Value> AddOp::getOwnElementTiles() {
  return sharedTiles({getLhs(), getRhs(), getOut()});
}
SmallVector<Value> MulOp::getOwnElementTiles() {
  return sharedTiles({getLhs(), getRhs(), getOut()});
}
SmallVector<Value> TrilOp::getOwnElementTiles() {
  return sharedTiles({getTile()});
}
