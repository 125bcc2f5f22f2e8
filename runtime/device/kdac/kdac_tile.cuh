//===- kdac_tile.cuh - Block-cooperative tile primitives of kdk ops -------===//
//
// One device function per kdk op; the CUDA emitter (lib/Target/CUDA) maps
// each op to exactly one call. Conventions every function shares:
//   - it is called by all NT threads of a 1-D block (NT a multiple of 32,
//     equal to blockDim.x and to the kernel's __launch_bounds__);
//   - a tile is (pointer, ld): element (r, c) lives at pointer[r * ld + c];
//     a 1-D tile of n elements is an n x 1 tile whose ld is its element
//     stride, so subviews of rows and columns both fit;
//   - static shapes are template parameters, so loops unroll and divisions
//     by shape constants fold;
//   - no function ends with a barrier: the IR orders tile ops with explicit
//     kdk.barrier, and only functions whose own steps depend on each other
//     (tri_inverse) synchronise inside.
// Arithmetic is fp32 whatever the tile element type.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_DEVICE_KDAC_TILE_CUH
#define KDAC_DEVICE_KDAC_TILE_CUH

#include "kdac/kdac_copy.cuh"
#include "kdac/kdac_fragment.cuh"
#include "kdac/kdac_gram.cuh"
#include "kdac/kdac_math.cuh"
#include "kdac/kdac_mma.cuh"
#include "kdac/kdac_mma_fragment.cuh"
#include "kdac/kdac_shared_state.cuh"
#include "kdac/kdac_types.cuh"

namespace kdac {

//===----------------------------------------------------------------------===//
// Scalar helpers for arith ops C++ has no operator for.
//===----------------------------------------------------------------------===//

// arith.ceildivsi: the quotient rounded towards +infinity.
template <typename I>
__device__ __forceinline__ I ceilDivSigned(I a, I b) {
  I quotient = a / b, remainder = a % b;
  return (remainder != 0 && ((remainder > 0) == (b > 0))) ? quotient + 1
                                                          : quotient;
}

// arith.ceildivui on the bit patterns; written so a + b - 1 cannot wrap.
__device__ __forceinline__ long long ceilDivUnsigned(long long a, long long b) {
  unsigned long long ua = a, ub = b;
  return (long long)(ua == 0 ? 0ull : (ua - 1) / ub + 1);
}
__device__ __forceinline__ int ceilDivUnsigned(int a, int b) {
  unsigned ua = a, ub = b;
  return (int)(ua == 0 ? 0u : (ua - 1) / ub + 1);
}

//===----------------------------------------------------------------------===//
// Work decomposition: chunk slots and sequences.
//===----------------------------------------------------------------------===//

// Results of kdk.locate_chunk. Invalid slots report zeros.
struct ChunkLocation {
  bool valid;
  long long sequence, batch, start, rows;
};

// Results of kdk.sequence_range.
struct SequenceRange {
  long long batch, start, length, numChunks, firstSlot;
};

namespace detail {
__device__ __forceinline__ long long chunksOf(long long length, long long C) {
  return length > 0 ? (length + C - 1) / C : 0;
}
__device__ __forceinline__ long long minLL(long long a, long long b) {
  return a < b ? a : b;
}
} // namespace detail

// Without cu_seqlens: ceil(T / C) slots per batch row, in row order.
__device__ __forceinline__ ChunkLocation locateChunk(long long slot,
                                                     long long T,
                                                     long long C) {
  ChunkLocation location = {false, 0, 0, 0, 0};
  long long perRow = detail::chunksOf(T, C);
  if (perRow == 0 || slot < 0)
    return location;
  location.valid = true;
  location.sequence = slot / perRow;
  location.batch = location.sequence;
  location.start = (slot % perRow) * C;
  location.rows = detail::minLL(C, T - location.start);
  return location;
}

// With cu_seqlens (int64 or int32, N + 1 entries, cu[N] == T): the chunks of
// each sequence follow each other. Every thread scans on its own: the results
// are uniform, need no shared memory or barrier, and N is small; the reads of
// one address by a whole warp are broadcast. The scan stops at the segment
// that ends at T, so N itself is not needed.
template <typename IndexT>
__device__ __forceinline__ ChunkLocation locateChunk(long long slot,
                                                     long long T,
                                                     const IndexT *cuSeqlens,
                                                     long long C) {
  ChunkLocation location = {false, 0, 0, 0, 0};
  if (slot < 0)
    return location;
  long long firstSlot = 0;
  long long begin = (long long)cuSeqlens[0];
  for (long long n = 0; begin < T; ++n) {
    long long end = (long long)cuSeqlens[n + 1];
    long long chunks = detail::chunksOf(end - begin, C);
    if (slot < firstSlot + chunks) {
      location.valid = true;
      location.sequence = n;
      location.start = begin + (slot - firstSlot) * C;
      location.rows = detail::minLL(C, end - location.start);
      return location;
    }
    firstSlot += chunks;
    begin = end;
  }
  return location;
}

__device__ __forceinline__ SequenceRange sequenceRange(long long sequence,
                                                       long long T,
                                                       long long C) {
  SequenceRange range;
  range.batch = sequence;
  range.start = 0;
  range.length = T;
  range.numChunks = detail::chunksOf(T, C);
  range.firstSlot = sequence * range.numChunks;
  return range;
}

template <typename IndexT>
__device__ __forceinline__ SequenceRange sequenceRange(long long sequence,
                                                       long long T,
                                                       const IndexT *cuSeqlens,
                                                       long long C) {
  (void)T;
  SequenceRange range;
  range.batch = 0;
  range.firstSlot = 0;
  long long begin = (long long)cuSeqlens[0];
  for (long long n = 0; n < sequence; ++n) {
    long long end = (long long)cuSeqlens[n + 1];
    range.firstSlot += detail::chunksOf(end - begin, C);
    begin = end;
  }
  range.start = begin;
  range.length = (long long)cuSeqlens[sequence + 1] - begin;
  range.numChunks = detail::chunksOf(range.length, C);
  return range;
}

//===----------------------------------------------------------------------===//
// Data movement.
//===----------------------------------------------------------------------===//

namespace detail {
// 16 bytes viewed as elements, so vector loads can feed element conversion.
template <typename T> union Vector16 {
  uint4 raw;
  T elements[16 / sizeof(T)];
};

// Writes `count` converted elements at `dst`; as 16-byte stores when the
// converted run is whole 16-byte units and `vector` says dst is aligned.
template <typename Dst, int Count>
__device__ __forceinline__ void storeRun(Dst *dst, const float (&values)[Count],
                                         bool vector) {
  if constexpr ((Count * sizeof(Dst)) % 16 == 0) {
    if (vector) {
      constexpr int PerVector = 16 / sizeof(Dst);
#pragma unroll
      for (int v = 0; v < Count / PerVector; ++v) {
        Vector16<Dst> out;
#pragma unroll
        for (int e = 0; e < PerVector; ++e)
          out.elements[e] = fromFloat<Dst>(values[v * PerVector + e]);
        store16Bytes(dst + v * PerVector, out.raw);
      }
      return;
    }
  }
#pragma unroll
  for (int e = 0; e < Count; ++e)
    dst[e] = fromFloat<Dst>(values[e]);
}
} // namespace detail

// kdk.load_tile: dst[r, c] = src[offset + r * rowStride + c * ColStride] for
// r < rows, 0 for the rows after. The 16-byte path applies when a row is
// contiguous in global memory and every row start is 16-byte aligned (checked
// at run time, uniformly for the block); otherwise one element per thread.
template <int NT, int Rows, int Cols, int ColStride, typename Src, typename Dst>
__device__ __forceinline__ void tileLoad(const Src *__restrict__ src,
                                         long long offset, long long rows,
                                         long long rowStride, Dst *dst,
                                         int ld) {
  const int validRows = validRowCount<Rows>(rows);
  const Src *base = src + offset;
  if constexpr (ColStride == 1 && (Cols * sizeof(Src)) % 16 == 0) {
    constexpr int PerVector = 16 / sizeof(Src);
    constexpr int VectorsPerRow = Cols / PerVector;
    const bool vectorSource = aligned16(base) &&
                              ((rowStride * (long long)sizeof(Src)) % 16) == 0;
    const bool vectorDestination =
        aligned16(dst) && ((ld * (int)sizeof(Dst)) % 16) == 0;
    if (vectorSource) {
      for (int unit = threadIdx.x; unit < Rows * VectorsPerRow; unit += NT) {
        const int r = unit / VectorsPerRow;
        const int c = (unit % VectorsPerRow) * PerVector;
        float values[PerVector];
        if (r < validRows) {
          detail::Vector16<Src> in;
          in.raw = load16Bytes(base + r * rowStride + c);
#pragma unroll
          for (int e = 0; e < PerVector; ++e)
            values[e] = toFloat(in.elements[e]);
        } else {
#pragma unroll
          for (int e = 0; e < PerVector; ++e)
            values[e] = 0.0f;
        }
        detail::storeRun<Dst, PerVector>(dst + r * ld + c, values,
                                         vectorDestination);
      }
      return;
    }
  }
  for (int e = threadIdx.x; e < Rows * Cols; e += NT) {
    const int r = e / Cols, c = e % Cols;
    float value = 0.0f;
    if (r < validRows)
      value = toFloat(base[r * rowStride + (long long)c * ColStride]);
    dst[r * ld + c] = fromFloat<Dst>(value);
  }
}

// kdk.store_tile: dst[offset + r * rowStride + c * ColStride] = src[r, c] for
// r < rows. Vectorised like tileLoad when the global rows allow it.
template <int NT, int Rows, int Cols, int ColStride, typename Src, typename Dst>
__device__ __forceinline__ void tileStore(const Src *src, int ld,
                                          Dst *__restrict__ dst,
                                          long long offset, long long rows,
                                          long long rowStride) {
  const int validRows = validRowCount<Rows>(rows);
  Dst *base = dst + offset;
  if constexpr (ColStride == 1 && (Cols * sizeof(Dst)) % 16 == 0) {
    constexpr int PerVector = 16 / sizeof(Dst);
    constexpr int VectorsPerRow = Cols / PerVector;
    if (aligned16(base) &&
        ((rowStride * (long long)sizeof(Dst)) % 16) == 0) {
      // Same element type and 16-byte shared rows: the bytes move as they
      // are (a 16-bit decode state: one shared load per 16-byte store).
      if constexpr (detail::SameType<Src, Dst>::value) {
        if (aligned16(src) && ((ld * (int)sizeof(Src)) % 16) == 0) {
          for (int unit = threadIdx.x; unit < validRows * VectorsPerRow;
               unit += NT) {
            const int r = unit / VectorsPerRow;
            const int c = (unit % VectorsPerRow) * PerVector;
            store16Bytes(base + r * rowStride + c,
                         *reinterpret_cast<const uint4 *>(src + r * ld + c));
          }
          return;
        }
      }
      for (int unit = threadIdx.x; unit < validRows * VectorsPerRow;
           unit += NT) {
        const int r = unit / VectorsPerRow;
        const int c = (unit % VectorsPerRow) * PerVector;
        detail::Vector16<Dst> out;
#pragma unroll
        for (int e = 0; e < PerVector; ++e)
          out.elements[e] = fromFloat<Dst>(toFloat(src[r * ld + c + e]));
        store16Bytes(base + r * rowStride + c, out.raw);
      }
      return;
    }
  }
  for (int e = threadIdx.x; e < validRows * Cols; e += NT) {
    const int r = e / Cols, c = e % Cols;
    base[r * rowStride + (long long)c * ColStride] =
        fromFloat<Dst>(toFloat(src[r * ld + c]));
  }
}

// kdk.convert: element-wise copy with conversion (src and dst may be the
// same tile: each element is read and written by one thread).
template <int NT, int Rows, int Cols, typename Src, typename Dst>
__device__ __forceinline__ void tileConvert(const Src *src, int lds, Dst *dst,
                                            int ldd) {
  for (int e = threadIdx.x; e < Rows * Cols; e += NT) {
    const int r = e / Cols, c = e % Cols;
    dst[r * ldd + c] = fromFloat<Dst>(toFloat(src[r * lds + c]));
  }
}

// kdk.fill.
template <int NT, int Rows, int Cols, typename T>
__device__ __forceinline__ void tileFill(T *tile, int ld, float value) {
  const T converted = fromFloat<T>(value);
  for (int e = threadIdx.x; e < Rows * Cols; e += NT)
    tile[(e / Cols) * ld + e % Cols] = converted;
}

//===----------------------------------------------------------------------===//
// Prologue math (in place, fp32 tiles).
//===----------------------------------------------------------------------===//

// kdk.l2norm_rows: x[r, :] /= sqrt(sum(x[r, :]^2) + 1e-6). One warp per row.
// One correctly rounded division per row, then products (within 1.5 ulp of
// dividing each element, as FLA does; a division per element cost more
// than the rest of the prologue).
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void l2normRows(float *tile, int ld) {
  constexpr int Warps = NT / 32;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < Rows; r += Warps) {
    float *row = tile + r * ld;
    float sum = 0.0f;
    for (int c = lane; c < Cols; c += 32)
      sum = fmaf(row[c], row[c], sum);
    const float inverseNorm = 1.0f / sqrtf(warpReduceSum(sum) + 1e-6f);
    for (int c = lane; c < Cols; c += 32)
      row[c] *= inverseNorm;
  }
}

// kdk.sigmoid: 1 / (1 + e^-x) on the first `rows` rows; saturates to 0 and 1
// without NaN. Padding rows keep their zeros.
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void sigmoidTile(float *tile, int ld,
                                            long long rows) {
  const int validRows = validRowCount<Rows>(rows);
  for (int e = threadIdx.x; e < validRows * Cols; e += NT) {
    float &x = tile[(e / Cols) * ld + e % Cols];
    x = __frcp_rn(1.0f + expf(-x));
  }
}

enum GateActivationKind { GateNone = 0, GateSoftplus = 1, GateLowerBound = 2 };

// kdk.gate_activation for value head `head`: b = dtBias[head * Cols + c]
// (dtBias[head] when PerHead), a = exp(aLog[head]) (1 without A_log);
// softplus: x = -a * softplus(x + b), linear above 20 as in PyTorch;
// lowerbound: x = lowerBound * sigmoid(a * (x + b)). Accurate expf/log1pf:
// this runs once per element and feeds every decay after it.
// Cumulative also takes the inclusive prefix sum down the rows (the
// chunk's log-decay cumsum), one thread per column, saving the cumsum's
// barrier and its pass over the tile.
template <int NT, int Rows, int Cols, int Activation, bool PerHead,
          bool Cumulative = false, typename ALogT, typename DtBiasT>
__device__ __forceinline__ void gateActivation(float *tile, int ld,
                                               long long head, long long rows,
                                               const ALogT *aLog,
                                               const DtBiasT *dtBias,
                                               float lowerBound) {
  const float a = aLog ? expf(toFloat(aLog[head])) : 1.0f;
  auto activate = [&](int c, float x) {
    float y = x;
    if (dtBias)
      y += toFloat(dtBias[PerHead ? head : head * Cols + c]);
    if constexpr (Activation == GateSoftplus) {
      const float softplus = y > 20.0f ? y : log1pf(expf(y));
      return -a * softplus;
    } else if constexpr (Activation == GateLowerBound) {
      return lowerBound * __frcp_rn(1.0f + expf(-(a * y)));
    } else {
      return x;
    }
  };
  // Padding rows keep a zero log-decay (see the op's description).
  const int validRows = validRowCount<Rows>(rows);
  if constexpr (Cumulative) {
    for (int c = threadIdx.x; c < Cols; c += NT) {
      float sum = 0.0f;
#pragma unroll 4
      for (int r = 0; r < Rows; ++r) {
        float &x = tile[r * ld + c];
        if (r < validRows)
          sum += activate(c, x);
        x = sum;
      }
    }
  } else {
    if constexpr (Activation == GateNone)
      return;
    for (int e = threadIdx.x; e < validRows * Cols; e += NT) {
      const int r = e / Cols, c = e % Cols;
      float &x = tile[r * ld + c];
      x = activate(c, x);
    }
  }
}

//===----------------------------------------------------------------------===//
// Chunk math on shared tiles.
//===----------------------------------------------------------------------===//

// kdk.cumsum_rows: inclusive prefix sum down the rows, one thread per column.
// Rows are sequential; a Rows-long chain per column is cheap next to the
// gram and the products.
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void cumsumRows(float *tile, int ld) {
  for (int c = threadIdx.x; c < Cols; c += NT) {
    float sum = 0.0f;
    for (int r = 0; r < Rows; ++r) {
      sum += tile[r * ld + c];
      tile[r * ld + c] = sum;
    }
  }
}

// kdk.tri_inverse: M = (I + A)^-1 for strictly lower A by forward
// substitution, M[i, :] = e_i - sum_{j<i} A[i, j] M[j, :]. Only the strictly
// lower part of A is read, and `out` may be `input` (in place).
//
// Up to 32 rows: lane c of the first warp keeps column c of M in registers,
// row after row; every lane reads the same A row (broadcast) and the zeros
// above the diagonal make masks unnecessary. One warp, no block barrier, so
// the other warps go on with the rest of the phase. Larger N: rows are
// sequential and columns spread over the block, published between barriers.
template <int NT, int N>
__device__ __forceinline__ void triInverse(const float *a, int lda, float *m,
                                          int ldm) {
  if constexpr (N <= 32) {
    if (threadIdx.x < 32) {
      const int c = threadIdx.x;
      float column[N];
#pragma unroll
      for (int i = 0; i < N; ++i) {
        const float *aRow = a + i * lda;
        float value = c == i ? 1.0f : 0.0f;
#pragma unroll
        for (int j = 0; j < i; ++j)
          value = fmaf(-aRow[j], column[j], value);
        column[i] = value;
      }
      __syncwarp();
      if (c < N) {
#pragma unroll
        for (int i = 0; i < N; ++i)
          m[i * ldm + c] = column[i];
      }
    }
  } else {
    constexpr int PerThread = (N + NT - 1) / NT;
    for (int i = 0; i < N; ++i) {
      float values[PerThread];
#pragma unroll
      for (int p = 0; p < PerThread; ++p) {
        const int c = threadIdx.x + p * NT;
        float value = c == i ? 1.0f : 0.0f;
        if (c < i) {
          const float *aRow = a + i * lda;
          for (int j = c; j < i; ++j)
            value = fmaf(-aRow[j], m[j * ldm + c], value);
        }
        values[p] = value;
      }
      __syncthreads();
#pragma unroll
      for (int p = 0; p < PerThread; ++p) {
        const int c = threadIdx.x + p * NT;
        if (c < N)
          m[i * ldm + c] = values[p];
      }
      if (i + 1 < N)
        __syncthreads();
    }
  }
}

//===----------------------------------------------------------------------===//
// Products.
//===----------------------------------------------------------------------===//

namespace detail {
template <typename T> struct IsTensorCoreType {
  static constexpr bool value = false;
};
template <> struct IsTensorCoreType<__nv_bfloat16> {
  static constexpr bool value = true;
};
template <> struct IsTensorCoreType<__half> {
  static constexpr bool value = true;
};

// The warp tile, in mma tiles (16 x 8): as large as possible (fragment
// reuse) while every warp still gets a tile.
__host__ __device__ constexpr int pickWarpTilesN(int tilesM, int tilesN, int warps) {
  return (tilesN % 4 == 0 && tilesM * (tilesN / 4) >= warps)   ? 4
         : (tilesN % 2 == 0 && tilesM * (tilesN / 2) >= warps) ? 2
                                                               : 1;
}
__host__ __device__ constexpr int pickWarpTilesM(int tilesM, int tilesN, int warps) {
  return (tilesM % 2 == 0 && (tilesM / 2) * tilesN >= warps) ? 2 : 1;
}

// The A fragment of op(A) rows m0.., columns k0.. (see kdac_mma.cuh).
template <bool TransposeA, typename T>
__device__ __forceinline__ void loadAFragment(u32 (&frag)[4], const T *a,
                                              int lda, int m0, int k0,
                                              int lane, bool useLdmatrix) {
  if (useLdmatrix) {
    if (TransposeA) {
      // A is stored [k][m]: the transposing load of its 8x8 blocks gives
      // op(A) = A^T in fragment order.
      const int k = k0 + lane % 8 + 8 * (lane / 16);
      const int m = m0 + 8 * ((lane / 8) % 2);
      ldmatrixX4Trans(frag, a + k * lda + m);
    } else {
      ldmatrixX4(frag, a + (m0 + ldmatrixX4Row(lane)) * lda + k0 +
                           ldmatrixX4Col(lane));
    }
    return;
  }
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int m = m0 + mmaARow(lane, r);
    const int k = k0 + mmaACol(lane, r, 0);
    const float low = TransposeA ? toFloat(a[k * lda + m]) : toFloat(a[m * lda + k]);
    const float high =
        TransposeA ? toFloat(a[(k + 1) * lda + m]) : toFloat(a[m * lda + k + 1]);
    frag[r] = packPair<T>(low, high);
  }
}

// The B fragments of `Count` (1 or 2) adjacent 16x8 tiles of row-major B.
template <int Count, typename T>
__device__ __forceinline__ void loadBFragments(u32 (&frag)[2 * Count],
                                               const T *b, int ldb, int k0,
                                               int n0, int lane,
                                               bool useLdmatrix) {
  if (useLdmatrix) {
    if constexpr (Count == 2) {
      u32 four[4];
      ldmatrixX4Trans(four, b + (k0 + ldmatrixX4Row(lane)) * ldb + n0 +
                                ldmatrixX4Col(lane));
#pragma unroll
      for (int r = 0; r < 4; ++r)
        frag[r] = four[r];
    } else {
      u32 two[2];
      ldmatrixX2Trans(two, b + (k0 + ldmatrixX2TransRow(lane)) * ldb + n0);
      frag[0] = two[0];
      frag[1] = two[1];
    }
    return;
  }
#pragma unroll
  for (int t = 0; t < Count; ++t)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int n = n0 + 8 * t + mmaBN(lane);
      const int k = k0 + mmaBK(lane, r, 0);
      frag[2 * t + r] =
          packPair<T>(toFloat(b[k * ldb + n]), toFloat(b[(k + 1) * ldb + n]));
    }
}

// Tensor cores: warps take warp tiles (WM x WN mma tiles) round-robin and
// accumulate over K in registers. ldmatrix needs 16-byte aligned rows; when a
// subview breaks that, fragments are gathered element by element instead.
template <int NT, int M, int N, int K, bool TransposeA, bool Accumulate,
          typename T>
__device__ __forceinline__ void mmaTensorCore(const T *a, int lda, const T *b,
                                              int ldb, float *c, int ldc,
                                              float alpha) {
  constexpr int Warps = NT / 32;
  constexpr int TilesM = M / 16, TilesN = N / 8;
  constexpr int WN = pickWarpTilesN(TilesM, TilesN, Warps);
  constexpr int WM = pickWarpTilesM(TilesM, TilesN / WN, Warps);
  constexpr int WarpTilesN = TilesN / WN;
  constexpr int WarpTiles = (TilesM / WM) * WarpTilesN;
  constexpr int BPair = WN % 2 == 0 ? 2 : 1;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const bool useLdmatrix = aligned16(a) && aligned16(b) &&
                           ((lda * (int)sizeof(T)) % 16) == 0 &&
                           ((ldb * (int)sizeof(T)) % 16) == 0;
  for (int tile = warp; tile < WarpTiles; tile += Warps) {
    const int m0 = (tile / WarpTilesN) * WM * 16;
    const int n0 = (tile % WarpTilesN) * WN * 8;
    float acc[WM][WN][4];
#pragma unroll
    for (int mi = 0; mi < WM; ++mi)
#pragma unroll
      for (int ni = 0; ni < WN; ++ni)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          acc[mi][ni][e] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += 16) {
      u32 aFrag[WM][4];
      u32 bFrag[WN][2];
#pragma unroll
      for (int mi = 0; mi < WM; ++mi)
        loadAFragment<TransposeA>(aFrag[mi], a, lda, m0 + 16 * mi, k0, lane,
                                  useLdmatrix);
#pragma unroll
      for (int ni = 0; ni < WN; ni += BPair) {
        u32 pair[2 * BPair];
        loadBFragments<BPair>(pair, b, ldb, k0, n0 + 8 * ni, lane,
                              useLdmatrix);
#pragma unroll
        for (int t = 0; t < BPair; ++t) {
          bFrag[ni + t][0] = pair[2 * t];
          bFrag[ni + t][1] = pair[2 * t + 1];
        }
      }
#pragma unroll
      for (int mi = 0; mi < WM; ++mi)
#pragma unroll
        for (int ni = 0; ni < WN; ++ni)
          mmaM16N8K16<T>(acc[mi][ni], aFrag[mi], bFrag[ni], acc[mi][ni]);
    }
#pragma unroll
    for (int mi = 0; mi < WM; ++mi)
#pragma unroll
      for (int ni = 0; ni < WN; ++ni)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int row = m0 + 16 * mi + mmaCRow(lane, e);
          const int col = n0 + 8 * ni + mmaCCol(lane, e);
          float value = alpha * acc[mi][ni][e];
          if (Accumulate)
            value += c[row * ldc + col];
          c[row * ldc + col] = value;
        }
  }
}

// FMAs in fp32 (f32 operands, or shapes the tensor-core path cannot tile).
// A thread owns RM outputs of one column, strided by M / RM rows, so each B
// value it loads feeds RM FMAs; lanes take adjacent columns (conflict-free B
// reads, broadcast A reads).
template <int NT, int M, int N, int K, bool TransposeA, bool Accumulate,
          typename T>
__device__ __forceinline__ void mmaFma(const T *a, int lda, const T *b,
                                       int ldb, float *c, int ldc,
                                       float alpha) {
  constexpr int RM = (M % 4 == 0 && (M / 4) * N >= NT)   ? 4
                     : (M % 2 == 0 && (M / 2) * N >= NT) ? 2
                                                         : 1;
  constexpr int Strips = M / RM;
  for (int w = threadIdx.x; w < Strips * N; w += NT) {
    const int j = w % N, i0 = w / N;
    float acc[RM];
#pragma unroll
    for (int r = 0; r < RM; ++r)
      acc[r] = 0.0f;
    for (int k = 0; k < K; ++k) {
      const float bValue = toFloat(b[k * ldb + j]);
#pragma unroll
      for (int r = 0; r < RM; ++r) {
        const int i = i0 + r * Strips;
        const float aValue =
            TransposeA ? toFloat(a[k * lda + i]) : toFloat(a[i * lda + k]);
        acc[r] = fmaf(aValue, bValue, acc[r]);
      }
    }
#pragma unroll
    for (int r = 0; r < RM; ++r) {
      float *out = c + (i0 + r * Strips) * ldc + j;
      *out = Accumulate ? fmaf(alpha, acc[r], *out) : alpha * acc[r];
    }
  }
}
} // namespace detail

// kdk.mma: c = [c +] alpha * op(a) b with op(a) = a (M x K) or, TransposeA,
// a^T (a stored K x M); b is K x N, c is M x N fp32. bf16/f16 operands with
// M, K multiples of 16 and N of 8 use mma.sync m16n8k16; everything else
// (f32 operands in particular, for f32 accuracy) uses fp32 FMAs. `c` must
// not overlap `a` or `b` (other warps may still be reading them).
template <int NT, int M, int N, int K, bool TransposeA, bool Accumulate,
          typename T>
__device__ __forceinline__ void tileMma(const T *a, int lda, const T *b,
                                        int ldb, float *c, int ldc,
                                        float alpha) {
  static_assert(NT % 32 == 0, "the block must be whole warps");
  if constexpr (detail::IsTensorCoreType<T>::value && M % 16 == 0 &&
                N % 8 == 0 && K % 16 == 0)
    detail::mmaTensorCore<NT, M, N, K, TransposeA, Accumulate>(a, lda, b, ldb,
                                                               c, ldc, alpha);
  else
    detail::mmaFma<NT, M, N, K, TransposeA, Accumulate>(a, lda, b, ldb, c, ldc,
                                                        alpha);
}

//===----------------------------------------------------------------------===//
// Element-wise tile math.
//===----------------------------------------------------------------------===//

// kdk.sub: out = lhs - rhs.
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void tileSub(const float *lhs, int ldl,
                                        const float *rhs, int ldr, float *out,
                                        int ldo) {
  for (int e = threadIdx.x; e < Rows * Cols; e += NT) {
    const int r = e / Cols, c = e % Cols;
    out[r * ldo + c] = lhs[r * ldl + c] - rhs[r * ldr + c];
  }
}

// kdk.exp: out = exp(x); out may be x.
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void tileExp(const float *x, int ldx, float *out,
                                        int ldo) {
  for (int e = threadIdx.x; e < Rows * Cols; e += NT) {
    const int r = e / Cols, c = e % Cols;
    out[r * ldo + c] = expf(x[r * ldx + c]);
  }
}

// kdk.add_identity: out = I + A, or I - A when Negate.
template <int NT, int N, bool Negate>
__device__ __forceinline__ void addIdentity(const float *input, int ldi,
                                            float *out, int ldo) {
  for (int e = threadIdx.x; e < N * N; e += NT) {
    const int r = e / N, c = e % N;
    const float x = input[r * ldi + c];
    out[r * ldo + c] = (r == c ? 1.0f : 0.0f) + (Negate ? -x : x);
  }
}

namespace detail {
// scale * exp(gc[r, c]) or, ToLast, scale * exp(gc[Rows-1, c] - gc[r, c]).
// Every factor is <= 1 for log-decay cumsums. A 16-bit result keeps 8 or 11
// bits: the special-function exp (~2 ulp of f32) is exact enough there
// (Fast), and f32 results keep expf.
template <int Rows, bool ToLast, bool Fast>
__device__ __forceinline__ float decayFactor(const float *gc, int ldg, int r,
                                             int c, float scale) {
  const float exponent =
      ToLast ? gc[(Rows - 1) * ldg + c] - gc[r * ldg + c] : gc[r * ldg + c];
  return scale * (Fast ? expFast(exponent) : expf(exponent));
}
} // namespace detail

// kdk.decay_rows: out = r_i * x * decayFactor (scale, exp(gc) or, ToLast,
// exp(gc[Rows-1] - gc)).
template <int NT, int Rows, int Cols, bool ToLast, typename OutT>
__device__ __forceinline__ void
decayRows(const float *input, int ldi, const float *gc, int ldg,
          const float *rowScale, int rowScaleStride, OutT *out, int ldo,
          float scale) {
  for (int e = threadIdx.x; e < Rows * Cols; e += NT) {
    const int r = e / Cols, c = e % Cols;
    float factor = detail::decayFactor<Rows, ToLast, sizeof(OutT) == 2>(
        gc, ldg, r, c, scale);
    if (rowScale)
      factor *= rowScale[r * rowScaleStride];
    out[r * ldo + c] = fromFloat<OutT>(input[r * ldi + c] * factor);
  }
}

// kdk.store_decayed_rows: decayRows without a row scale, written for the
// first `rows` rows straight to dst[offset + r * rowStride + c], 16 bytes
// per store when the rows allow it (as tileStore).
template <int NT, int Rows, int Cols, bool ToLast, typename Dst>
__device__ __forceinline__ void
storeDecayedRows(const float *input, int ldi, const float *gc, int ldg,
                 Dst *__restrict__ dst, long long offset, long long rows,
                 long long rowStride, float scale) {
  constexpr bool Fast = sizeof(Dst) == 2;
  const int validRows = validRowCount<Rows>(rows);
  Dst *base = dst + offset;
  if constexpr ((Cols * sizeof(Dst)) % 16 == 0) {
    constexpr int PerVector = 16 / sizeof(Dst);
    constexpr int VectorsPerRow = Cols / PerVector;
    if (aligned16(base) && ((rowStride * (long long)sizeof(Dst)) % 16) == 0) {
      for (int unit = threadIdx.x; unit < validRows * VectorsPerRow;
           unit += NT) {
        const int r = unit / VectorsPerRow;
        const int c = (unit % VectorsPerRow) * PerVector;
        float values[PerVector];
#pragma unroll
        for (int e = 0; e < PerVector; ++e)
          values[e] = input[r * ldi + c + e] *
                      detail::decayFactor<Rows, ToLast, Fast>(gc, ldg, r,
                                                             c + e, scale);
        detail::storeRun<Dst, PerVector>(base + r * rowStride + c, values,
                                         true);
      }
      return;
    }
  }
  for (int e = threadIdx.x; e < validRows * Cols; e += NT) {
    const int r = e / Cols, c = e % Cols;
    base[r * rowStride + c] = fromFloat<Dst>(
        input[r * ldi + c] *
        detail::decayFactor<Rows, ToLast, Fast>(gc, ldg, r, c, scale));
  }
}

// kdk.last_row_exp: out[d] = exp(gc[Rows-1, d]).
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void lastRowExp(const float *gc, int ldg,
                                           float *out, int outStride) {
  for (int c = threadIdx.x; c < Cols; c += NT)
    out[c * outStride] = expf(gc[(Rows - 1) * ldg + c]);
}

// kdk.scale_rows: out[i, :] = x[i, :] * r[i], rounded once to out's type;
// out may be x (in place).
template <int NT, int Rows, int Cols, typename T, typename OutT>
__device__ __forceinline__ void scaleRows(const T *tile, int ld,
                                          const float *rowScale,
                                          int rowScaleStride, OutT *out,
                                          int ldo) {
  for (int e = threadIdx.x; e < Rows * Cols; e += NT) {
    const int r = e / Cols, c = e % Cols;
    out[r * ldo + c] = fromFloat<OutT>(toFloat(tile[r * ld + c]) *
                                       rowScale[r * rowScaleStride]);
  }
}

} // namespace kdac

#endif // KDAC_DEVICE_KDAC_TILE_CUH
