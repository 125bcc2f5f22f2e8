//===- DecodeStatePlan.cpp - How a decode block holds its state slice ----===//
//
// The register fragment's layout and the shared slice's V tile and warps,
// for the decode kernel and the commit of token records.
//
//===----------------------------------------------------------------------===//
#include "DecodeStatePlan.h"

#include "KDK/KDKOps.h"

using namespace mlir;

namespace kdac::lowering {

bool oneTokenPerCall(kda::RecurrenceOp op) {
  auto qType = cast<RankedTensorType>(op.getQ().getType());
  return !op.getCuSeqlens() && qType.getDimSize(1) == 1;
}

int64_t tokenGroupOf(kda::RecurrenceOp op) {
  auto qType = cast<RankedTensorType>(op.getQ().getType());
  int64_t t = qType.getDimSize(1);
  if (op.getCuSeqlens() || ShapedType::isDynamic(t))
    return kDecodeTokenGroup;
  return std::clamp<int64_t>(t, 1, kDecodeTokenGroup);
}

static SmallVector<int64_t> divisorsOf(int64_t n) {
  SmallVector<int64_t> divisors;
  for (int64_t d = 1; d <= n; ++d)
    if (n % d == 0)
      divisors.push_back(d);
  return divisors;
}

/// Picks the fragment layout for warps of `warpCols` state columns: the
/// longest runs (up to `maxVector` elements, 16 bytes) along the axis
/// contiguous in memory, and as many lanes along it as keep one warp row
/// within 128 bytes, among the layouts #kdk.fragment can spread one warp's
/// tile in (FragmentLayoutAttr::spreadProblem, the verifier's rule).
static bool pickRuns(MLIRContext *context, int64_t contiguousDim,
                     int64_t contiguousTile, int64_t otherTile,
                     int64_t elementBytes, int64_t maxVector,
                     bool colsContiguous, StateFragmentPlan &plan) {
  int64_t axis = colsContiguous ? 1 : 0;
  int64_t rows = colsContiguous ? otherTile : contiguousTile;
  int64_t cols = colsContiguous ? contiguousTile : otherTile;
  for (int64_t vector = std::min(maxVector, 16 / elementBytes); vector >= 1;
       vector /= 2) {
    if (contiguousDim % vector != 0 || contiguousTile % vector != 0)
      continue;
    for (int64_t lanes = 32; lanes >= 1; lanes /= 2) {
      // Runs of one 32-bit element: the plan packs 16-bit pairs only where
      // it takes runs of two.
      if (vector * lanes * elementBytes > 128 ||
          !kdk::FragmentLayoutAttr::get(context, axis, vector, lanes)
               .spreadProblem(rows, cols, /*elementBits=*/32, /*threads=*/0)
               .empty())
        continue;
      plan.axis = axis;
      plan.vector = vector;
      plan.lanes = lanes;
      return true;
    }
  }
  return false;
}

/// Chooses the V tile, the block's warps and the fragment layout. Each warp
/// owns whole columns (so a column's sum over K never leaves the warp) and
/// about 128 elements per thread: with kdk.delta_step that reaches 0.94 of
/// the bytes floor for an fp32 state on the H100 (bench/RESULTS.md). A 16-bit state is kept
/// packed when the call has one token per sequence (statically), so every
/// token's rounding is the store's; otherwise the fragment is f32.
FailureOr<StateFragmentPlan> planStateFragment(kda::RecurrenceOp op,
                                               int64_t requestedVTile,
                                               int64_t maxThreads,
                                               Type storage) {
  int64_t kDim = op.getKeyDim(), vDim = op.getValueDim();
  bool kv = op.getLayout() == kda::StateLayout::kv;
  int64_t maxWarps = maxThreads / 32;
  int64_t elementBytes = storage.getIntOrFloatBitWidth() / 8;
  bool packable = elementBytes == 2 && oneTokenPerCall(op);
  int64_t span = requestedVTile > 0 ? requestedVTile : vDim;
  // Warp widths: those near 128 elements per thread first, then wider ones.
  int64_t targetCols = std::max<int64_t>(1, 128 * 32 / kDim);
  // Named: llvm::reverse of a temporary would iterate a destroyed vector.
  SmallVector<int64_t> divisors = divisorsOf(span);
  SmallVector<int64_t> widths;
  for (int64_t w : llvm::reverse(divisors))
    if (w <= targetCols)
      widths.push_back(w);
  for (int64_t w : divisors)
    if (w > targetCols)
      widths.push_back(w);
  for (int64_t warpCols : widths) {
    int64_t warps = 0;
    if (requestedVTile > 0) {
      warps = requestedVTile / warpCols;
      if (warps > maxWarps)
        continue;
    } else {
      for (int64_t w = std::min(maxWarps, vDim / warpCols); w >= 1 && !warps;
           --w)
        if (vDim % (w * warpCols) == 0)
          warps = w;
    }
    if (!warps)
      continue;
    StateFragmentPlan plan;
    plan.vTile = warps * warpCols;
    plan.threads = warps * 32;
    // A packed kv fragment takes runs of two (one register each): wider
    // runs measured 0.35 instead of 0.29 ms at B=256 bf16 on the H100, the
    // compiler holding their passes in ~205 registers instead of ~167. (The
    // vk layout keeps its wide runs: two-element runs would put 32 lanes on
    // one column and its sums behind five shuffles; not measured.)
    auto pick = [&](int64_t maxVector) {
      return kv ? pickRuns(op->getContext(), vDim, warpCols, kDim,
                           elementBytes, maxVector, true, plan)
                : pickRuns(op->getContext(), kDim, kDim, warpCols,
                           elementBytes, maxVector, false, plan);
    };
    if (packable && kv && pick(2) && plan.vector == 2) {
      plan.elementType = storage;
      return plan;
    }
    if (!pick(16))
      continue;
    plan.elementType = packable && plan.vector >= 2
                           ? storage
                           : Float32Type::get(op.getContext());
    return plan;
  }
  return op.emitError() << "convert-kda-recurrence-to-kdk: no block of at most "
                        << maxThreads << " threads (whole warps) can hold the "
                        << kDim << "x" << span
                        << " state slice in registers: every warp needs whole "
                           "columns and K a multiple of its row lanes; raise "
                           "block-threads or change the v-tile";
}

FailureOr<StateFragmentPlan>
planSharedState(Operation *anchor, StringRef pass, int64_t kDim, int64_t vDim,
                int64_t requestedVTile, int64_t maxThreads, Type tileType,
                StringRef remedy) {
  int64_t elementBytes = tileType.getIntOrFloatBitWidth() / 8;
  StateFragmentPlan plan;
  plan.inShared = true;
  plan.elementType = tileType;
  plan.vTile = requestedVTile > 0 ? requestedVTile : vDim;
  while (requestedVTile <= 0 && plan.vTile % 2 == 0 &&
         kDim * plan.vTile * elementBytes > 32 * 1024)
    plan.vTile /= 2;
  std::string widestProblem;
  for (int64_t threads = maxThreads / 32 * 32; threads >= 32; threads -= 32) {
    std::string problem =
        kdk::sharedStateSplitProblem(kDim, plan.vTile, threads, elementBytes);
    if (problem.empty()) {
      plan.threads = threads;
      return plan;
    }
    if (widestProblem.empty())
      widestProblem = problem;
  }
  return anchor->emitError()
         << pass << ": no block of at most " << maxThreads
         << " threads (whole warps) can split the " << kDim << "x"
         << plan.vTile << " shared state ("
         << (widestProblem.empty() ? "fewer than 32 threads" : widestProblem)
         << "); " << remedy;
}

} // namespace kdac::lowering
