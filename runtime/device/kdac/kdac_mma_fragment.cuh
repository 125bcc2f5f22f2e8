//===- kdac_mma_fragment.cuh - Tiles held as tensor-core accumulators -----===//
//
// An MmaFragment is a Rows x Cols f32 tile (a #kdk.mma_fragment tile in
// kdk) kept in the accumulator registers of mma.sync
// m16n8k16, transposed: the tile's columns are the mma M dimension and its
// rows the N dimension. The chunked recurrence keeps its K x Vt state and
// the chunk's C x Vt v' and o this way, because every product it needs then
// runs on tensor cores straight from registers:
//   out (+)= op(L) R   (L a shared C x K or K x C tile, R and out fragments)
// is computed as out^T (+)= R^T op(L)^T: R^T's accumulator registers are,
// pair for pair, the A operand of the next mma (the FlashAttention trick),
// and op(L)^T comes from shared memory with ldmatrix (.trans when L is
// transposed). No product needs a barrier or a trip through shared memory.
//
// Warps split the columns: warp w holds columns [w * WarpCols, (w+1) *
// WarpCols) and all rows, so a block of Cols / 16 warps gives each warp one
// m16 tile. For lane = threadIdx.x % 32, group = lane / 4, quad = lane % 4,
// register acc[m][n][i] holds element
//   row = 8 n + 2 quad + i % 2,  col = w WarpCols + 16 m + group + 8 (i / 2).
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_DEVICE_KDAC_MMA_FRAGMENT_CUH
#define KDAC_DEVICE_KDAC_MMA_FRAGMENT_CUH

#include "kdac/kdac_mma.cuh"
#include "kdac/kdac_types.cuh"

namespace kdac {

template <int NT, int Rows, int Cols> struct MmaFragment {
  static constexpr int NumRows = Rows, NumCols = Cols;
  static constexpr int Warps = NT / 32;
  static constexpr int WarpCols = Cols / Warps;
  static constexpr int ColTiles = WarpCols / 16; // m16 tiles per warp
  static constexpr int RowTiles = Rows / 8;      // n8 tiles
  static_assert(NT % 32 == 0 && Cols % (16 * Warps) == 0,
                "mma fragment: each warp holds whole 16-column tiles");
  static_assert(Rows % 16 == 0,
                "mma fragment: rows pair into k16 steps of the next mma");

  float acc[ColTiles][RowTiles][4];

  __device__ static int row(int n, int i) {
    return 8 * n + 2 * (threadIdx.x % 4) + i % 2;
  }
  __device__ static int col(int m, int i) {
    return (int)(threadIdx.x / 32) * WarpCols + 16 * m +
           (int)(threadIdx.x % 32) / 4 + 8 * (i / 2);
  }
};

namespace detail {
// f(element, row, col) for each element this thread holds (Fragment may be
// const).
template <typename Fragment, typename F>
__device__ __forceinline__ void forEachMma(Fragment &frag, F f) {
#pragma unroll
  for (int m = 0; m < Fragment::ColTiles; ++m)
#pragma unroll
    for (int n = 0; n < Fragment::RowTiles; ++n)
#pragma unroll
      for (int i = 0; i < 4; ++i)
        f(frag.acc[m][n][i], Fragment::row(n, i), Fragment::col(m, i));
}

} // namespace detail

// kdk.load_tile into an mma fragment: every row, from global memory.
template <int NT, int Rows, int Cols, typename Src>
__device__ __forceinline__ void fragmentLoad(const Src *__restrict__ src,
                                             long long offset,
                                             long long rowStride,
                                             long long colStride,
                                             MmaFragment<NT, Rows, Cols> &frag) {
  const Src *base = src + offset;
  detail::forEachMma(frag, [&](float &x, int r, int c) {
    x = toFloat(base[r * rowStride + c * colStride]);
  });
}

// kdk.store_tile from an mma fragment: rows below `rows` only.
template <int NT, int Rows, int Cols, typename Dst>
__device__ __forceinline__ void
fragmentStoreRows(const MmaFragment<NT, Rows, Cols> &frag,
                  Dst *__restrict__ dst, long long offset, long long rows,
                  long long rowStride, long long colStride) {
  Dst *base = dst + offset;
  detail::forEachMma(frag, [&](const float &x, int r, int c) {
    if (r < rows)
      base[r * rowStride + c * colStride] = fromFloat<Dst>(x);
  });
}

template <int NT, int Rows, int Cols>
__device__ __forceinline__ void fragmentFill(MmaFragment<NT, Rows, Cols> &frag,
                                             float value) {
  detail::forEachMma(frag, [&](float &x, int, int) { x = value; });
}

// kdk.scale_rows: x[r, :] *= rowScale[r * rowScaleStride] (shared memory).
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void
fragmentScaleRows(MmaFragment<NT, Rows, Cols> &frag, const float *rowScale,
                  int rowScaleStride) {
  detail::forEachMma(frag, [&](float &x, int r, int) {
    x *= rowScale[r * rowScaleStride];
  });
}

// kdk.mma with B and out mma fragments: out (+)= alpha op(L) R, where L is a
// shared M x Kc tile (Kc x M with TransposeL) of bf16 or f16 elements with
// 16-byte aligned rows, R is Kc x N and out M x N. R is rounded to L's
// element type as the A operand; accumulation is f32.
template <bool TransposeL, bool Accumulate, int NT, int Kc, int M, int N,
          typename T>
__device__ __forceinline__ void fragmentMma(const T *lhs, int ldl,
                                            const MmaFragment<NT, Kc, N> &rhs,
                                            MmaFragment<NT, M, N> &out,
                                            float alpha) {
  using Out = MmaFragment<NT, M, N>;
  constexpr int Steps = Kc / 16;
  const int lane = threadIdx.x % 32;
  // ldmatrix x4 lane addressing: two n8 tiles of out rows, both k halves.
  const int ldRow = TransposeL ? (lane % 8) + 8 * ((lane / 8) % 2)
                               : (lane % 8) + 8 * (lane / 16);
  const int ldCol = TransposeL ? 8 * (lane / 16) : 8 * ((lane / 8) % 2);
  const bool direct = Accumulate && alpha == 1.0f;
#pragma unroll
  for (int m = 0; m < Out::ColTiles; ++m) {
    u32 a[Steps][4];
#pragma unroll
    for (int s = 0; s < Steps; ++s) {
      a[s][0] = packPair<T>(rhs.acc[m][2 * s][0], rhs.acc[m][2 * s][1]);
      a[s][1] = packPair<T>(rhs.acc[m][2 * s][2], rhs.acc[m][2 * s][3]);
      a[s][2] = packPair<T>(rhs.acc[m][2 * s + 1][0],
                                    rhs.acc[m][2 * s + 1][1]);
      a[s][3] = packPair<T>(rhs.acc[m][2 * s + 1][2],
                                    rhs.acc[m][2 * s + 1][3]);
    }
#pragma unroll
    for (int n = 0; n < Out::RowTiles; n += 2) {
      float d[2][4] = {};
      if (direct) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          d[0][i] = out.acc[m][n][i];
          d[1][i] = out.acc[m][n + 1][i];
        }
      }
#pragma unroll
      for (int s = 0; s < Steps; ++s) {
        // Rows 8n.. of out are L's rows (columns with TransposeL).
        const T *tile = TransposeL ? lhs + (16 * s + ldRow) * ldl + 8 * n + ldCol
                                   : lhs + (8 * n + ldRow) * ldl + 16 * s + ldCol;
        u32 b[4];
        if constexpr (TransposeL)
          ldmatrixX4Trans(b, tile);
        else
          ldmatrixX4(b, tile);
        const u32 b0[2] = {b[0], b[1]}, b1[2] = {b[2], b[3]};
        mmaM16N8K16<T>(d[0], a[s], b0, d[0]);
        mmaM16N8K16<T>(d[1], a[s], b1, d[1]);
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        if (direct) {
          out.acc[m][n][i] = d[0][i];
          out.acc[m][n + 1][i] = d[1][i];
        } else if (Accumulate) {
          out.acc[m][n][i] = fmaf(alpha, d[0][i], out.acc[m][n][i]);
          out.acc[m][n + 1][i] = fmaf(alpha, d[1][i], out.acc[m][n + 1][i]);
        } else {
          out.acc[m][n][i] = alpha * d[0][i];
          out.acc[m][n + 1][i] = alpha * d[1][i];
        }
      }
    }
  }
}

} // namespace kdac

#endif // KDAC_DEVICE_KDAC_MMA_FRAGMENT_CUH
