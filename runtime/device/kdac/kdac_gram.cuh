//===- kdac_gram.cuh - The decayed gram matrices of kdk.decayed_gram -----===//
//
// decayedGram evaluates out[i, j] = scale r_i sum_d a[i, d] b[j, d]
// exp(gc[i, d] - gc[j, d]) directly (any gate, f32 accuracy);
// decayedGramTensorCore evaluates it per 16 x 8 output block as one TF32
// mma.sync product of factors anchored at the block's first row i0:
//   left[i, d]  = a[i, d] exp(gc[i, d] - gc[i0, d])   (<= |a|: gc falls)
//   right[j, d] = b[j, d] exp(gc[i0, d] - gc[j, d])   (<= |b| for j < i0)
// Only the block's own rows j >= i0 grow, by at most exp(15 max|g|), which
// the lowering bounds (lowerbound gates). The direct evaluation does two
// exps per (i, j, d) on f32 FMAs; the tensor-core form does one per
// (row, d) per block and reads far less shared memory.
// Warps own whole output blocks, so no reduction crosses warps and the
// result does not depend on scheduling. Block b goes to warp
// (firstWarp + b) mod warps: grams issued between the same two barriers
// start at different warps and run side by side.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_DEVICE_KDAC_GRAM_CUH
#define KDAC_DEVICE_KDAC_GRAM_CUH

#include "kdac/kdac_math.cuh"
#include "kdac/kdac_mma.cuh"
#include "kdac/kdac_types.cuh"

namespace kdac {

namespace detail {
// The (i, j) of the k-th entry of the lower triangle j <= i, row-major.
__device__ __forceinline__ void triangleEntry(int k, int &i, int &j) {
  int row = (int)((sqrtf(8.0f * (float)k + 1.0f) - 1.0f) * 0.5f);
  while (row * (row + 1) / 2 > k)
    --row;
  while ((row + 1) * (row + 2) / 2 <= k)
    ++row;
  i = row;
  j = k - row * (row + 1) / 2;
}
} // namespace detail

// kdk.decayed_gram: out[i, j] = scale * r_i * sum_d lhs[i, d] rhs[j, d]
// exp(gc[i, d] - gc[j, d]) for kept (i, j) (j < i strict, j <= i inclusive),
// 0 elsewhere. With AnchorBlock > 0, entries whose row block I is after their
// column block use exp(gc[i, d] - a_I) * exp(a_I - gc[j, d]) with a_I =
// gc[I * AnchorBlock - 1, d]: both factors are <= 1 for log-decays, so no
// intermediate overflows for any gate strength.
// Direct evaluation: each thread owns kept entries (numbered along the
// triangle so threads get equal work) and runs the d loop itself, starting at
// a lane-dependent d so a warp's shared-memory reads hit distinct banks.
// Cost: one or two exps per (i, j, d); decayedGramTensorCore below is the
// tensor-core form for bounded gates.
template <int NT, int Rows, int Depth, bool Inclusive, int AnchorBlock,
          typename LhsT, typename RhsT>
__device__ __forceinline__ void
decayedGram(const LhsT *lhs, int ldl, const RhsT *rhs, int ldr,
            const float *gc, int ldg, const float *rowScale,
            int rowScaleStride, float *out, int ldo, float scale) {
  constexpr int Kept = Inclusive ? Rows * (Rows + 1) / 2 : Rows * (Rows - 1) / 2;
  constexpr int Block = AnchorBlock > 0 ? AnchorBlock : 1;
  const int lane = threadIdx.x % 32;
  const int skew = lane % Depth;
  // A gram of a few rows (a decode chunk's) has fewer entries than a warp
  // has lanes: each warp takes whole entries and its lanes split d, summed
  // in a fixed shuffle order, so no thread runs the whole d loop alone.
  constexpr bool WarpPerEntry = Rows <= 8 && AnchorBlock == 0;
  for (int k = WarpPerEntry ? (int)threadIdx.x / 32 : (int)threadIdx.x;
       WarpPerEntry && k < Kept; k += NT / 32) {
    int i, j;
    detail::triangleEntry(k, i, j);
    if (!Inclusive)
      ++i;
    float acc = 0.0f;
    for (int d = lane; d < Depth; d += 32)
      acc = fmaf(toFloat(lhs[i * ldl + d]) * toFloat(rhs[j * ldr + d]),
                 expFast(gc[i * ldg + d] - gc[j * ldg + d]), acc);
    acc = warpReduceSum(acc);
    if (lane == 0)
      out[i * ldo + j] =
          scale * (rowScale ? rowScale[i * rowScaleStride] : 1.0f) * acc;
  }
  for (int k = threadIdx.x; !WarpPerEntry && k < Kept; k += NT) {
    int i, j;
    detail::triangleEntry(k, i, j);
    if (!Inclusive)
      ++i; // the strict triangle of Rows is the inclusive one of Rows - 1
    const LhsT *lhsRow = lhs + i * ldl;
    const RhsT *rhsRow = rhs + j * ldr;
    const float *gcI = gc + i * ldg;
    const float *gcJ = gc + j * ldg;
    float acc = 0.0f;
    if (AnchorBlock > 0 && i / Block > j / Block) {
      const float *gcA = gc + ((i / Block) * Block - 1) * ldg;
      for (int dd = 0; dd < Depth; ++dd) {
        int d = dd + skew;
        d = d >= Depth ? d - Depth : d;
        const float anchor = gcA[d];
        const float left = toFloat(lhsRow[d]) * expFast(gcI[d] - anchor);
        const float right = toFloat(rhsRow[d]) * expFast(anchor - gcJ[d]);
        acc = fmaf(left, right, acc);
      }
    } else {
      for (int dd = 0; dd < Depth; ++dd) {
        int d = dd + skew;
        d = d >= Depth ? d - Depth : d;
        acc = fmaf(toFloat(lhsRow[d]) * toFloat(rhsRow[d]),
                   expFast(gcI[d] - gcJ[d]), acc);
      }
    }
    const float r = rowScale ? rowScale[i * rowScaleStride] : 1.0f;
    out[i * ldo + j] = scale * r * acc;
  }
  for (int e = threadIdx.x; e < Rows * Rows; e += NT) {
    const int i = e / Rows, j = e % Rows;
    if (Inclusive ? j > i : j >= i)
      out[i * ldo + j] = 0.0f;
  }
}

template <int NT, int Rows, int Depth, bool Inclusive, typename LhsT,
          typename RhsT>
__device__ __forceinline__ void
decayedGramTensorCore(const LhsT *lhs, int ldl, const RhsT *rhs, int ldr,
                      const float *gc, int ldg, const float *rowScale,
                      int rowScaleStride, float *out, int ldo, float scale,
                      int firstWarp) {
  static_assert(Rows % 16 == 0 && Depth % 8 == 0,
                "decayedGramTensorCore: whole m16n8k8 steps");
  constexpr int Warps = NT / 32;
  constexpr int ColBlocks = Rows / 8, Blocks = (Rows / 16) * ColBlocks;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / 4, quad = lane % 4;
  const int firstBlock = (warp + Warps - firstWarp % Warps) % Warps;
  for (int block = firstBlock; block < Blocks; block += Warps) {
    const int rowBlock = block / ColBlocks, colBlock = block % ColBlocks;
    const int i0 = 16 * rowBlock, j = 8 * colBlock + group;
    float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    // Blocks right of the diagonal are all masked: no product needed.
    if (8 * colBlock <= i0 + 15) {
      const float *anchor = gc + i0 * ldg;
      const int rowA = i0 + group, rowB = rowA + 8;
#pragma unroll 4
      for (int k0 = 0; k0 < Depth; k0 += 8) {
        const int ka = k0 + quad, kb = ka + 4;
        const float anchorA = anchor[ka], anchorB = anchor[kb];
        u32 a[4], b[2];
        a[0] = toTf32(toFloat(lhs[rowA * ldl + ka]) *
                      expFast(gc[rowA * ldg + ka] - anchorA));
        a[1] = toTf32(toFloat(lhs[rowB * ldl + ka]) *
                      expFast(gc[rowB * ldg + ka] - anchorA));
        a[2] = toTf32(toFloat(lhs[rowA * ldl + kb]) *
                      expFast(gc[rowA * ldg + kb] - anchorB));
        a[3] = toTf32(toFloat(lhs[rowB * ldl + kb]) *
                      expFast(gc[rowB * ldg + kb] - anchorB));
        b[0] = toTf32(toFloat(rhs[j * ldr + ka]) *
                      expFast(anchorA - gc[j * ldg + ka]));
        b[1] = toTf32(toFloat(rhs[j * ldr + kb]) *
                      expFast(anchorB - gc[j * ldg + kb]));
        mmaTf32M16N8K8(d, a, b, d);
      }
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int row = i0 + group + 8 * (e / 2);
      const int col = 8 * colBlock + 2 * quad + e % 2;
      const bool kept = Inclusive ? col <= row : col < row;
      const float r = rowScale ? rowScale[row * rowScaleStride] : 1.0f;
      out[row * ldo + col] = kept ? scale * r * d[e] : 0.0f;
    }
  }
}

} // namespace kdac

#endif // KDAC_DEVICE_KDAC_GRAM_CUH
