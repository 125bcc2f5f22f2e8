//===- kdac_grad.cuh - Tile primitives of the backward's kdk ops ----------===//
//
// The device functions of the ops kda-grad-decompose's primitives lower to
// (kdk.add, mul, row_dot, row_sum, column_sum, add_to_last_row, tril,
// cumsum_rows reverse, mma transpose_rhs and tf32, decayed_gram_grad) and the
// prologue's adjoints (l2norm_rows_grad, sigmoid_grad,
// gate_activation_grad), under kdac_tile.cuh's
// conventions: all NT threads call, tiles are (pointer, ld) with 1-D tiles
// as n x 1, no trailing barrier. Included only by kernels that use them, so
// forward kernels compile as before.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_DEVICE_KDAC_GRAD_CUH
#define KDAC_DEVICE_KDAC_GRAD_CUH

#include "kdac/kdac_tile.cuh"

namespace kdac {

// kdk.add: out = lhs + rhs (a vector is Rows x 1).
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void tileAdd(const float *lhs, int ldl,
                                        const float *rhs, int ldr, float *out,
                                        int ldo) {
  for (int e = threadIdx.x; e < Rows * Cols; e += NT) {
    const int r = e / Cols, c = e % Cols;
    out[r * ldo + c] = lhs[r * ldl + c] + rhs[r * ldr + c];
  }
}

// kdk.mul: out = scale * lhs * rhs.
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void tileMul(const float *lhs, int ldl,
                                        const float *rhs, int ldr, float *out,
                                        int ldo, float scale) {
  for (int e = threadIdx.x; e < Rows * Cols; e += NT) {
    const int r = e / Cols, c = e % Cols;
    out[r * ldo + c] = scale * lhs[r * ldl + c] * rhs[r * ldr + c];
  }
}

// kdk.row_dot: out[r] = a[r, :] . b[r, :], one warp per row. A warp sums
// all its rows before it stores any: the operands may be K x V states read
// in place from global memory, and a store between two rows' loads would
// keep the second row's loads waiting for the first's (out may alias them).
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void rowDot(const float *a, int lda, const float *b,
                                       int ldb, float *out, int outStride) {
  constexpr int Warps = NT / 32, RowsPerWarp = (Rows + Warps - 1) / Warps;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float sums[RowsPerWarp];
#pragma unroll
  for (int p = 0; p < RowsPerWarp; ++p) {
    const int r = warp + p * Warps;
    float sum = 0.0f;
    if (r < Rows) {
#pragma unroll
      for (int c = lane; c < Cols; c += 32)
        sum = fmaf(a[r * lda + c], b[r * ldb + c], sum);
    }
    sums[p] = sum;
  }
#pragma unroll
  for (int p = 0; p < RowsPerWarp; ++p) {
    float sum = sums[p];
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2)
      sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    const int r = warp + p * Warps;
    if (lane == 0 && r < Rows)
      out[r * outStride] = sum;
  }
}

// kdk.column_sum: out[c] = sum_r x[r, c], one thread per column.
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void columnSum(const float *x, int ldx, float *out,
                                          int outStride) {
  for (int c = threadIdx.x; c < Cols; c += NT) {
    float sum = 0.0f;
    for (int r = 0; r < Rows; ++r)
      sum += x[r * ldx + c];
    out[c * outStride] = sum;
  }
}

// kdk.add_to_last_row: x[Rows-1, :] += row.
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void addToLastRow(float *x, int ldx,
                                             const float *row, int rowStride) {
  for (int c = threadIdx.x; c < Cols; c += NT)
    x[(Rows - 1) * ldx + c] += row[c * rowStride];
}

// kdk.tril: x = scale * x where c < r (c <= r when Inclusive), 0 elsewhere.
template <int NT, int N, bool Inclusive>
__device__ __forceinline__ void tril(float *x, int ldx, float scale) {
  for (int e = threadIdx.x; e < N * N; e += NT) {
    const int r = e / N, c = e % N;
    const bool kept = Inclusive ? c <= r : c < r;
    x[r * ldx + c] = kept ? scale * x[r * ldx + c] : 0.0f;
  }
}

// kdk.cumsum_rows reverse: x_r = sum_{j >= r} y_j, one thread per column.
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void reverseCumsumRows(float *tile, int ld) {
  for (int c = threadIdx.x; c < Cols; c += NT) {
    float sum = 0.0f;
    for (int r = Rows - 1; r >= 0; --r) {
      sum += tile[r * ld + c];
      tile[r * ld + c] = sum;
    }
  }
}

// kdk.mma transpose_rhs: c = [c +] alpha op(a) b^T with b stored N x K, in
// f32 FMAs. Adjacent threads take adjacent rows of b (padded rows keep the
// reads on distinct banks) and share a's row (a broadcast).
template <int NT, int M, int N, int K, bool TransposeA, bool Accumulate>
__device__ __forceinline__ void tileMmaTransposedB(const float *a, int lda,
                                                   const float *b, int ldb,
                                                   float *c, int ldc,
                                                   float alpha) {
  for (int e = threadIdx.x; e < M * N; e += NT) {
    const int i = e / N, j = e % N;
    float acc = 0.0f;
#pragma unroll 4
    for (int k = 0; k < K; ++k)
      acc = fmaf(TransposeA ? a[k * lda + i] : a[i * lda + k], b[j * ldb + k],
                 acc);
    float *out = c + i * ldc + j;
    *out = Accumulate ? fmaf(alpha, acc, *out) : alpha * acc;
  }
}

// kdk.mma tf32: c = [c +] alpha * op(a) op(b) on tensor cores, the f32
// shared operands rounded to tf32 (mma.sync m16n8k8, f32 accumulation).
// op(a) = a (M x K) or, TransposeA, a^T (a stored K x M); op(b) = b (K x N)
// or, TransposeB, b^T (b stored N x K). A warp owns a 16-row strip of NB
// 8-column blocks and reuses its A fragment across them; NB is the widest
// that still gives every warp a strip.
template <int NT, int M, int N, int K, bool TransposeA, bool TransposeB,
          bool Accumulate>
__device__ __forceinline__ void tileMmaTf32(const float *a, int lda,
                                            const float *b, int ldb, float *c,
                                            int ldc, float alpha) {
  static_assert(NT % 32 == 0 && M % 16 == 0 && N % 8 == 0 && K % 8 == 0,
                "tf32 products need M % 16, N % 8 and K % 8 == 0");
  constexpr int Warps = NT / 32, RowTiles = M / 16, ColTiles = N / 8;
  constexpr int NB =
      (ColTiles % 4 == 0 && RowTiles * (ColTiles / 4) >= Warps)   ? 4
      : (ColTiles % 2 == 0 && RowTiles * (ColTiles / 2) >= Warps) ? 2
                                                                  : 1;
  constexpr int Strips = ColTiles / NB, Jobs = RowTiles * Strips;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / 4, quad = lane % 4;
  auto opA = [&](int r, int k) {
    return toTf32(TransposeA ? a[k * lda + r] : a[r * lda + k]);
  };
  auto opB = [&](int k, int n) {
    return toTf32(TransposeB ? b[n * ldb + k] : b[k * ldb + n]);
  };
  for (int job = warp; job < Jobs; job += Warps) {
    const int m0 = (job / Strips) * 16, n0 = (job % Strips) * NB * 8;
    float d[NB][4];
#pragma unroll
    for (int j = 0; j < NB; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i)
        d[j][i] = 0.0f;
#pragma unroll 4
    for (int k0 = 0; k0 < K; k0 += 8) {
      const u32 fa[4] = {opA(m0 + group, k0 + quad),
                         opA(m0 + group + 8, k0 + quad),
                         opA(m0 + group, k0 + quad + 4),
                         opA(m0 + group + 8, k0 + quad + 4)};
#pragma unroll
      for (int j = 0; j < NB; ++j) {
        const int n = n0 + 8 * j + group;
        const u32 fb[2] = {opB(k0 + quad, n), opB(k0 + quad + 4, n)};
        mmaTf32M16N8K8(d[j], fa, fb, d[j]);
      }
    }
#pragma unroll
    for (int j = 0; j < NB; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float *out = c + (m0 + group + 8 * (i / 2)) * ldc + n0 + 8 * j +
                     2 * quad + i % 2;
        *out = Accumulate ? fmaf(alpha, d[j][i], *out) : alpha * d[j][i];
      }
  }
}

// kdk.decayed_gram_grad. With e(i, j, d) = exp(gc[i, d] - gc[j, d]) on the
// mask (j < i, or j <= i when Inclusive) and s the scale:
//   p[i, d]  = s sum_j dA[i, j] b[j, d] e(i, j, d)   (so da = r_i p)
//   db[j, d] = s sum_i r_i dA[i, j] a[i, d] e(i, j, d)
//   dgc      = a da - b db,  dr[i] = sum_d a[i, d] p[i, d].
// One warp per row i, lanes over d; each decay is formed per pair (every
// exponent is <= 0 for a log-decay cumsum), so nothing overflows, with the
// approximate exp decayedGram uses (relative error ~|x| 2^-22 at exponent x).
template <int NT, int C, int D, bool Inclusive>
__device__ __forceinline__ void
decayedGramGrad(const float *dA, int ldA, const float *a, int lda,
                const float *b, int ldb, const float *gc, int ldg,
                const float *rowScale, int rowScaleStride, float *da, int ldda,
                float *db, int lddb, float *dgc, int lddg, float *dr,
                int drStride, float scale) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int i = warp; i < C; i += NT / 32) {
    const float ri = rowScale ? rowScale[i * rowScaleStride] : 1.0f;
    float rowSum = 0.0f;
    for (int d = lane; d < D; d += 32) {
      const float gi = gc[i * ldg + d];
      float p = 0.0f;
      const int last = Inclusive ? i : i - 1;
      for (int j = 0; j <= last; ++j)
        p = fmaf(dA[i * ldA + j] * b[j * ldb + d],
                 expFast(gi - gc[j * ldg + d]), p);
      p *= scale;
      float q = 0.0f;
      for (int r = Inclusive ? i : i + 1; r < C; ++r) {
        const float rr = rowScale ? rowScale[r * rowScaleStride] : 1.0f;
        q = fmaf(rr * dA[r * ldA + i] * a[r * lda + d],
                 expFast(gc[r * ldg + d] - gi), q);
      }
      q *= scale;
      const float aid = a[i * lda + d];
      da[i * ldda + d] = ri * p;
      db[i * lddb + d] = q;
      dgc[i * lddg + d] = aid * ri * p - b[i * ldb + d] * q;
      rowSum = fmaf(aid, p, rowSum);
    }
    if (dr) {
#pragma unroll
      for (int offset = 16; offset > 0; offset /= 2)
        rowSum += __shfl_xor_sync(0xffffffffu, rowSum, offset);
      if (lane == 0)
        dr[i * drStride] = rowSum;
    }
  }
}

// kdk.decayed_gram_grad tensor_cores: decayedGramGrad's results for one
// 16-row block as two TF32 tensor-core products of the masked dA, with the
// decays split at row 0 as decayedGramTensorCore splits them:
//   p  = s L (.) (dA B'),     B'[j, d] = b[j, d] exp(gc[0, d] - gc[j, d])
//   db = s R (.) (C^T A'),    A'[i, d] = a[i, d] exp(gc[i, d] - gc[0, d])
// with L[i, d] = exp(gc[i, d] - gc[0, d]) <= 1, R = 1 / L (<= e^75 under the
// gate bound kdk-select-products requires) and C[i, j] = r_i dA[i, j].
// Warp w owns the 8-column strips w, w + warps, ...: the same fragment
// positions of p and db, so dgc forms in registers. dr[i] = sum_d a p sums
// per-strip partials in a fixed order (deterministic) through da's tile,
// which is overwritten afterwards (the emitter keeps outputs off inputs).
template <int NT, int C, int D, bool Inclusive>
__device__ __forceinline__ void decayedGramGradTensorCore(
    const float *dA, int ldA, const float *a, int lda, const float *b,
    int ldb, const float *gc, int ldg, const float *rowScale,
    int rowScaleStride, float *da, int ldda, float *db, int lddb, float *dgc,
    int lddg, float *dr, int drStride, float scale) {
  static_assert(C == 16 && D % 8 == 0,
                "decayedGramGradTensorCore: one 16-row block, whole k-steps");
  constexpr int Warps = NT / 32, Strips = D / 8;
  constexpr int PerWarp = (Strips + Warps - 1) / Warps;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane / 4, quad = lane % 4;
  auto kept = [](int i, int j) { return Inclusive ? j <= i : j < i; };
  auto r = [&](int i) {
    return rowScale ? rowScale[i * rowScaleStride] : 1.0f;
  };
  auto masked = [&](int i, int j) {
    return kept(i, j) ? dA[i * ldA + j] : 0.0f;
  };
  // A fragments (m16 x k8, two k-steps): dA for p (m = i, k = j) and C^T
  // for db (m = j, k = i).
  u32 fp[2][4], fq[2][4];
#pragma unroll
  for (int ks = 0; ks < 2; ++ks) {
    const int k0 = 8 * ks + quad, k1 = k0 + 4;
    fp[ks][0] = toTf32(masked(group, k0));
    fp[ks][1] = toTf32(masked(group + 8, k0));
    fp[ks][2] = toTf32(masked(group, k1));
    fp[ks][3] = toTf32(masked(group + 8, k1));
    fq[ks][0] = toTf32(r(k0) * masked(k0, group));
    fq[ks][1] = toTf32(r(k0) * masked(k0, group + 8));
    fq[ks][2] = toTf32(r(k1) * masked(k1, group));
    fq[ks][3] = toTf32(r(k1) * masked(k1, group + 8));
  }
  float p[PerWarp][4], q[PerWarp][4];
#pragma unroll
  for (int s = 0; s < PerWarp; ++s) {
    const int strip = warp + s * Warps;
    if (strip >= Strips)
      break;
    const int n = 8 * strip + group;
    const float anchorN = gc[n];
    float accP[4] = {0.0f, 0.0f, 0.0f, 0.0f}, accQ[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {
      const int j0 = 8 * ks + quad, j1 = j0 + 4;
      const u32 bp[2] = {
          toTf32(b[j0 * ldb + n] * expFast(anchorN - gc[j0 * ldg + n])),
          toTf32(b[j1 * ldb + n] * expFast(anchorN - gc[j1 * ldg + n]))};
      const u32 bq[2] = {
          toTf32(a[j0 * lda + n] * expFast(gc[j0 * ldg + n] - anchorN)),
          toTf32(a[j1 * lda + n] * expFast(gc[j1 * ldg + n] - anchorN))};
      mmaTf32M16N8K8(accP, fp[ks], bp, accP);
      mmaTf32M16N8K8(accQ, fq[ks], bq, accQ);
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int row = group + 8 * (e / 2), col = 8 * strip + 2 * quad + e % 2;
      const float decay = gc[row * ldg + col] - gc[col];
      p[s][e] = scale * expFast(decay) * accP[e];
      q[s][e] = scale * expFast(-decay) * accQ[e];
    }
  }
  if (dr) {
    // Partial dr of each (strip, row), two rows per quad, through da.
#pragma unroll
    for (int s = 0; s < PerWarp; ++s) {
      const int strip = warp + s * Warps;
      if (strip >= Strips)
        break;
      const int col = 8 * strip + 2 * quad;
      float top = a[group * lda + col] * p[s][0] +
                  a[group * lda + col + 1] * p[s][1];
      float bottom = a[(group + 8) * lda + col] * p[s][2] +
                     a[(group + 8) * lda + col + 1] * p[s][3];
#pragma unroll
      for (int offset = 1; offset < 4; offset *= 2) {
        top += __shfl_xor_sync(0xffffffffu, top, offset);
        bottom += __shfl_xor_sync(0xffffffffu, bottom, offset);
      }
      if (quad == 0) {
        const int e0 = strip * 16 + group, e1 = e0 + 8;
        da[(e0 / D) * ldda + e0 % D] = top;
        da[(e1 / D) * ldda + e1 % D] = bottom;
      }
    }
    __syncthreads();
    if (threadIdx.x < C) {
      float sum = 0.0f;
      for (int strip = 0; strip < Strips; ++strip) {
        const int e = strip * 16 + threadIdx.x;
        sum += da[(e / D) * ldda + e % D];
      }
      dr[threadIdx.x * drStride] = sum;
    }
    __syncthreads();
  }
#pragma unroll
  for (int s = 0; s < PerWarp; ++s) {
    const int strip = warp + s * Warps;
    if (strip >= Strips)
      break;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int row = group + 8 * (e / 2), col = 8 * strip + 2 * quad + e % 2;
      const float dai = r(row) * p[s][e];
      da[row * ldda + col] = dai;
      db[row * lddb + col] = q[s][e];
      dgc[row * lddg + col] =
          a[row * lda + col] * dai - b[row * ldb + col] * q[s][e];
    }
  }
}

// kdk.row_sum: out[r] = sum_c x[r, c], one warp per row.
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void rowSum(const float *x, int ldx, float *out,
                                       int outStride) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < Rows; r += NT / 32) {
    float sum = 0.0f;
    for (int c = lane; c < Cols; c += 32)
      sum += x[r * ldx + c];
    sum = warpReduceSum(sum);
    if (lane == 0)
      out[r * outStride] = sum;
  }
}

//===----------------------------------------------------------------------===//
// The prologue's adjoints (in place on the cotangent).
//===----------------------------------------------------------------------===//

// kdk.l2norm_rows_grad: with n = sqrt(|x|^2 + 1e-6) and y = x / n,
// dy = (dy - y (y . dy)) / n. One warp per row.
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void l2normRowsGrad(const float *x, int ldx,
                                               float *dy, int ldd) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int r = warp; r < Rows; r += NT / 32) {
    const float *xr = x + r * ldx;
    float *dr = dy + r * ldd;
    float squares = 0.0f, dot = 0.0f;
    for (int c = lane; c < Cols; c += 32) {
      squares = fmaf(xr[c], xr[c], squares);
      dot = fmaf(xr[c], dr[c], dot);
    }
    const float inverseNorm = 1.0f / sqrtf(warpReduceSum(squares) + 1e-6f);
    // y . dy = (x . dy) / n.
    const float ydy = warpReduceSum(dot) * inverseNorm;
    for (int c = lane; c < Cols; c += 32)
      dr[c] = (dr[c] - xr[c] * inverseNorm * ydy) * inverseNorm;
  }
}

// kdk.sigmoid_grad: dy *= s (1 - s), s = sigmoid(x), on the first `rows`
// rows; padding rows get 0.
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void sigmoidGrad(const float *x, int ldx, float *dy,
                                            int ldd, long long rows) {
  const int validRows = validRowCount<Rows>(rows);
  for (int e = threadIdx.x; e < Rows * Cols; e += NT) {
    const int r = e / Cols, c = e % Cols;
    const float s = __frcp_rn(1.0f + expf(-x[r * ldx + c]));
    float &d = dy[r * ldd + c];
    d = r < validRows ? d * s * (1.0f - s) : 0.0f;
  }
}

// kdk.gate_activation_grad for value head `head` (b, a as gateActivation):
// softplus y = -a softplus(x + b): dy/dx = -a sigmoid(x + b) (-a past 20),
// dy/dA_log = -a softplus(x + b); lowerbound y = lb sigmoid(a (x + b)):
// dy/dx = lb a s (1 - s), dy/dA_log = dy/dx (x + b). One thread per
// column, rows in order, so the column sums (this chunk's ddt_bias and
// dA_log shares) are deterministic.
template <int NT, int Rows, int Cols, int Activation, bool PerHead,
          typename ALogT, typename DtBiasT>
__device__ __forceinline__ void
gateActivationGrad(const float *x, int ldx, float *dy, int ldd, long long head,
                   long long rows, const ALogT *aLog, const DtBiasT *dtBias,
                   float *dtBiasGrad, int dtBiasGradStride, float *aLogGrad,
                   int aLogGradStride, float lowerBound) {
  const float a = aLog ? expf(toFloat(aLog[head])) : 1.0f;
  const int validRows = validRowCount<Rows>(rows);
  for (int c = threadIdx.x; c < Cols; c += NT) {
    const float bias =
        dtBias ? toFloat(dtBias[PerHead ? head : head * Cols + c]) : 0.0f;
    float biasSum = 0.0f, aLogSum = 0.0f;
    for (int r = 0; r < Rows; ++r) {
      float &d = dy[r * ldd + c];
      if (r >= validRows) {
        d = 0.0f;
        continue;
      }
      const float y = x[r * ldx + c] + bias;
      float dydx, dydALog;
      if constexpr (Activation == GateSoftplus) {
        const float s = __frcp_rn(1.0f + expf(-y));
        dydx = -a * (y > 20.0f ? 1.0f : s);
        dydALog = -a * (y > 20.0f ? y : log1pf(expf(y)));
      } else {
        const float s = __frcp_rn(1.0f + expf(-(a * y)));
        dydx = lowerBound * s * (1.0f - s) * a;
        dydALog = dydx * y;
      }
      aLogSum = fmaf(d, dydALog, aLogSum);
      d *= dydx;
      biasSum += d;
    }
    if (dtBiasGrad)
      dtBiasGrad[c * dtBiasGradStride] = biasSum;
    if (aLogGrad)
      aLogGrad[c * aLogGradStride] = aLogSum;
  }
}

} // namespace kdac

#endif // KDAC_DEVICE_KDAC_GRAD_CUH
