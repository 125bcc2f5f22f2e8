//===- kdac_gram.cuh - The decayed gram on tensor cores -------------------===//
//
// kdk.decayed_gram {tensor_cores}: out[i, j] = scale r_i sum_d a[i, d]
// b[j, d] exp(gc[i, d] - gc[j, d]) for kept (i, j), evaluated per 16 x 8
// output block as one TF32 mma.sync product of factors anchored at the
// block's first row i0:
//   left[i, d]  = a[i, d] exp(gc[i, d] - gc[i0, d])   (<= |a|: gc falls)
//   right[j, d] = b[j, d] exp(gc[i0, d] - gc[j, d])   (<= |b| for j < i0)
// Only the block's own rows j >= i0 grow, by at most exp(15 max|g|), which
// the lowering bounds (lowerbound gates). The direct evaluation in
// kdac_tile.cuh does two exps per (i, j, d) on f32 FMAs; this does one per
// (row, d) per block on tensor cores and reads far less shared memory.
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
