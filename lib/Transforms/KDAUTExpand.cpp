//===- KDAUTExpand.cpp - Expand the UT inverse by a chosen method ---------===//
//
// The UT transform needs M = (I + A)^-1 for a strictly lower-triangular A.
// Forward substitution is exact but sequential; the Neumann product and the
// blocked scheme turn most of the work into small matrix products, which is
// what tensor cores want. All three are exact in exact arithmetic.
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"

#include "KDA/KDAOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::kda;

namespace kdac {
#define GEN_PASS_DEF_KDAUTEXPAND
#include "kdac/Transforms/Passes.h.inc"
} // namespace kdac

namespace {

constexpr int64_t kMaxNeumannSize = 16;

RankedTensorType squareType(OpBuilder &b, int64_t n) {
  return RankedTensorType::get({n, n}, b.getF32Type());
}

/// (I + A)^-1 = (I - A)(I + A^2)(I + A^4)...: the factors cover every power
/// below 2^m >= n, and A^n = 0, so the product is exact.
Value buildNeumann(OpBuilder &b, Location loc, Value a) {
  int64_t n = cast<RankedTensorType>(a.getType()).getDimSize(0);
  Value product = AddIdentityOp::create(b, loc, a, /*negate=*/true);
  Value power = a;
  for (int64_t covered = 2; covered < n; covered *= 2) {
    power = MatmulOp::create(b, loc, a.getType(), power, power, false);
    Value factor = AddIdentityOp::create(b, loc, power, /*negate=*/false);
    product = MatmulOp::create(b, loc, a.getType(), product, factor, false);
  }
  return product;
}

Value buildDiagonalInverse(OpBuilder &b, Location loc, Value a,
                           bool useNeumann) {
  if (useNeumann)
    return buildNeumann(b, loc, a);
  return ForwardSubstitutionOp::create(b, loc, a);
}

/// Block forward substitution over bs x bs blocks:
///   M_ii = (I + A_ii)^-1,  M_ij = -M_ii sum_{k=j}^{i-1} A_ik M_kj  (i > j).
Value buildBlocked(OpBuilder &b, Location loc, Value a, int64_t bs,
                   bool neumannDiagonal) {
  int64_t n = cast<RankedTensorType>(a.getType()).getDimSize(0);
  int64_t blocks = n / bs;
  RankedTensorType blockType = squareType(b, bs);
  auto extract = [&](Value from, int64_t i, int64_t j) -> Value {
    return ExtractBlockOp::create(b, loc, blockType, from, i * bs, j * bs);
  };

  SmallVector<SmallVector<Value>> inv(blocks, SmallVector<Value>(blocks));
  for (int64_t i = 0; i < blocks; ++i)
    inv[i][i] = buildDiagonalInverse(b, loc, extract(a, i, i), neumannDiagonal);
  for (int64_t i = 1; i < blocks; ++i) {
    for (int64_t j = i - 1; j >= 0; --j) {
      // negSum = -sum_k A_ik M_kj, then M_ij = M_ii negSum.
      Value negSum = ZeroOp::create(b, loc, blockType);
      for (int64_t k = j; k < i; ++k) {
        Value term = MatmulOp::create(b, loc, blockType, extract(a, i, k),
                                      inv[k][j], false);
        negSum = SubOp::create(b, loc, negSum, term);
      }
      inv[i][j] = MatmulOp::create(b, loc, blockType, inv[i][i], negSum, false);
    }
  }

  Value result = ZeroOp::create(b, loc, a.getType());
  for (int64_t i = 0; i < blocks; ++i)
    for (int64_t j = 0; j <= i; ++j)
      result = InsertBlockOp::create(b, loc, inv[i][j], result, i * bs, j * bs);
  return result;
}

struct KDAUTExpandPass : kdac::impl::KDAUTExpandBase<KDAUTExpandPass> {
  using KDAUTExpandBase::KDAUTExpandBase;

  void runOnOperation() override {
    bool known = method == "forward-substitution" || method == "neumann" ||
                 method == "blocked";
    if (!known || (diagMethod != "forward-substitution" &&
                   diagMethod != "neumann")) {
      emitError(getOperation().getLoc())
          << "kda-ut-expand: unknown method '" << method.getValue() << "' / diag-method '"
          << diagMethod.getValue()
          << "' (expected forward-substitution, neumann or blocked)";
      return signalPassFailure();
    }
    if (blockSize <= 0 || (diagMethod == "neumann" && blockSize > kMaxNeumannSize)) {
      emitError(getOperation().getLoc()) << "kda-ut-expand: block-size must be in [1, "
                                 << kMaxNeumannSize << "] for a Neumann diagonal";
      return signalPassFailure();
    }
    WalkResult result = getOperation().walk([&](UTInverseOp op) {
      return failed(expand(op)) ? WalkResult::interrupt()
                                : WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }

  LogicalResult expand(UTInverseOp op) {
    OpBuilder b(op);
    Location loc = op.getLoc();
    int64_t n = op.getType().getDimSize(0);
    Value inverse;
    if (method == "forward-substitution") {
      inverse = ForwardSubstitutionOp::create(b, loc, op.getInput());
    } else if (method == "neumann") {
      if (n > kMaxNeumannSize)
        return op.emitError() << "kda-ut-expand: the Neumann series is for "
                                 "chunks of at most "
                              << kMaxNeumannSize << " tokens, got " << n
                              << " (use method=blocked diag-method=neumann)";
      inverse = buildNeumann(b, loc, op.getInput());
    } else if (n <= blockSize) {
      inverse = buildDiagonalInverse(b, loc, op.getInput(),
                                     diagMethod == "neumann");
    } else {
      if (n % blockSize != 0)
        return op.emitError() << "kda-ut-expand: block-size " << blockSize.getValue()
                              << " does not divide the chunk size " << n;
      inverse = buildBlocked(b, loc, op.getInput(), blockSize,
                             diagMethod == "neumann");
    }
    op.replaceAllUsesWith(inverse);
    op.erase();
    return success();
  }
};

} // namespace
