//===- DecodeStatePlan.h - How a decode block holds its state slice -*- C++ -*-===//
//
// The token-by-token kernels (decode, the commit of token records) keep a
// K x Vt slice of one head's state per block, in a register fragment or a
// shared tile; these choose the V tile, the warps and the fragment layout.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_CONVERSION_KDATOKDK_DECODESTATEPLAN_H
#define KDAC_LIB_CONVERSION_KDATOKDK_DECODESTATEPLAN_H

#include "KDA/KDAOps.h"

#include "kdac/Spec/Limits.h"

namespace kdac::lowering {

/// How the K x Vt state slice spreads over the block: a register fragment
/// (kdac_fragment.cuh) or, `inShared`, a shared tile that
/// kdac_shared_state.cuh splits the same way.
struct StateFragmentPlan {
  int64_t vTile = 0, threads = 0;
  int64_t axis = 1, vector = 1, lanes = 1;
  mlir::Type elementType;
  bool inShared = false;
  /// Tokens run as one chunk on a read-only shared state (0: token steps).
  int64_t chunkTokens = 0;
};

/// Whether the call has one token per sequence, statically: then a 16-bit
/// state can stay 16-bit in the kernel, every token's rounding being the
/// final store's.
bool oneTokenPerCall(mlir::kda::RecurrenceOp op);

/// Tokens prepared at once by a multi-token call: their loads, norms and
/// gates share the barriers of one, and their steps run back to back; a
/// static T below it sizes the group exactly.
constexpr int64_t kDecodeTokenGroup = kdac::limits::kMaxStaticDecodeTokens;

int64_t tokenGroupOf(mlir::kda::RecurrenceOp op);

/// Chooses the V tile, the block's warps and the fragment layout of a
/// register-held slice (see DecodeStatePlan.cpp).
mlir::FailureOr<StateFragmentPlan>
planStateFragment(mlir::kda::RecurrenceOp op, int64_t requestedVTile,
                  int64_t maxThreads, mlir::Type storage);

/// The shared-state block of a K x vDim state of `tileType`: a V tile of at
/// most 32 KB (unless one is requested), so six blocks fit an SM's shared
/// memory, and the most warps up to `maxThreads` that split it. Errors name
/// `pass` and end with `remedy`.
mlir::FailureOr<StateFragmentPlan>
planSharedState(mlir::Operation *anchor, llvm::StringRef pass, int64_t kDim,
                int64_t vDim, int64_t requestedVTile, int64_t maxThreads,
                mlir::Type tileType, llvm::StringRef remedy);

} // namespace kdac::lowering

#endif // KDAC_LIB_CONVERSION_KDATOKDK_DECODESTATEPLAN_H
