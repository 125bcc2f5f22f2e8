//===- kdac_fragment.cuh - Tiles held in registers across a block ---------===//
//
// A fragment is a Rows x Cols f32 tile (a #kdk.fragment tile in kdk) spread
// over the NT threads of a block so that it never touches shared memory: the
// decode kernel keeps its K x Vt slice of the state in one, because there
// the state's traffic is the whole cost, so the distribution is chosen for
// the global loads and stores (FragmentLayout):
//   - each warp owns Cols / Warps whole columns, so a reduction over the
//     rows (a vector times the fragment) never leaves the warp;
//   - along the axis that is contiguous in memory (ContigAxis: 1 columns,
//     0 rows) a thread holds runs of Vec elements, loaded and stored as one
//     access of up to 16 bytes, and ContigLanes lanes hold adjacent runs, so
//     a warp instruction covers ContigLanes * Vec contiguous elements;
//   - the other 32 / ContigLanes lanes spread over the other axis.
// Every function is called by all NT threads, like those of kdac_tile.cuh;
// fragment ops need no barrier among themselves (each thread touches only
// its own elements), only around the shared tiles they read or write.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_DEVICE_KDAC_FRAGMENT_CUH
#define KDAC_DEVICE_KDAC_FRAGMENT_CUH

#include "kdac/kdac_math.cuh"
#include "kdac/kdac_types.cuh"

namespace kdac {

template <int NT, int Rows, int Cols, int ContigAxis, int Vec, int ContigLanes>
struct FragmentLayout {
  static constexpr int NumRows = Rows, NumCols = Cols;
  static constexpr bool ColsContiguous = ContigAxis == 1;
  static constexpr int Warps = NT / 32;
  static constexpr int RowLanes = ColsContiguous ? 32 / ContigLanes : ContigLanes;
  static constexpr int ColLanes = 32 / RowLanes;
  static constexpr int VecRows = ColsContiguous ? 1 : Vec;
  static constexpr int VecCols = ColsContiguous ? Vec : 1;
  static constexpr int WarpCols = Cols / Warps;
  static constexpr int RowRuns = Rows / (RowLanes * VecRows);
  static constexpr int ColRuns = WarpCols / (ColLanes * VecCols);
  static constexpr int RowsHeld = RowRuns * VecRows;
  static constexpr int ColsHeld = ColRuns * VecCols;
  static constexpr int PerThread = RowsHeld * ColsHeld;
  // Lanes holding the same columns differ by multiples of this.
  static constexpr int RowLaneStride = ColsContiguous ? ContigLanes : 1;
  static_assert(NT % 32 == 0 && Cols % Warps == 0,
                "fragment: whole warps, each owning whole columns");
  static_assert(ContigLanes >= 1 && ContigLanes <= 32 &&
                    (ContigLanes & (ContigLanes - 1)) == 0,
                "fragment: ContigLanes must be a power of two <= 32");
  static_assert(Vec >= 1 && (Vec & (Vec - 1)) == 0,
                "fragment: Vec must be a power of two");
  static_assert(RowRuns >= 1 && Rows % (RowLanes * VecRows) == 0,
                "fragment: the rows do not divide over the lanes");
  static_assert(ColRuns >= 1 && WarpCols % (ColLanes * VecCols) == 0,
                "fragment: a warp's columns do not divide over the lanes");

  __device__ static int lane() { return threadIdx.x % 32; }
  __device__ static int rowLane() {
    return ColsContiguous ? lane() / ContigLanes : lane() % ContigLanes;
  }
  __device__ static int colLane() {
    return ColsContiguous ? lane() % ContigLanes : lane() / ContigLanes;
  }
  // The i-th row and j-th column this thread holds; element (i, j) lives in
  // register i * ColsHeld + j.
  __device__ static int row(int i) {
    return ((i / VecRows) * RowLanes + rowLane()) * VecRows + i % VecRows;
  }
  __device__ static int col(int j) {
    return (int)(threadIdx.x / 32) * WarpCols +
           ((j / VecCols) * ColLanes + colLane()) * VecCols + j % VecCols;
  }
};

namespace detail {
template <typename T, int N> struct alignas(sizeof(T) * N) Run {
  T elements[N];
};

// Whether the runs of Vec elements along the contiguous axis are contiguous
// and aligned in memory (uniform for the block: offsets and strides are).
template <typename Layout, typename T>
__device__ __forceinline__ bool runsAreVectors(const T *base,
                                               long long rowStride,
                                               long long colStride) {
  constexpr int Vec = Layout::VecRows * Layout::VecCols;
  if constexpr (Vec == 1)
    return false;
  const long long contiguous = Layout::ColsContiguous ? colStride : rowStride;
  const long long other = Layout::ColsContiguous ? rowStride : colStride;
  return contiguous == 1 && other % Vec == 0 &&
         (reinterpret_cast<unsigned long long>(base) % (sizeof(T) * Vec)) == 0;
}

template <typename T> __device__ __forceinline__ u32 bitsOf16(float x);
template <> __device__ __forceinline__ u32 bitsOf16<__nv_bfloat16>(float x) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(x));
}
template <> __device__ __forceinline__ u32 bitsOf16<__half>(float x) {
  return __half_as_ushort(__float2half_rn(x));
}
template <typename T> __device__ __forceinline__ float fromBits16(u32 bits);
template <>
__device__ __forceinline__ float fromBits16<__nv_bfloat16>(u32 bits) {
  return __uint_as_float(bits << 16);
}
template <> __device__ __forceinline__ float fromBits16<__half>(u32 bits) {
  return __half2float(__ushort_as_half((unsigned short)bits));
}
} // namespace detail

// The registers of a fragment whose elements are T. Element (i, j) -- the
// i-th held row, j-th held column (FragmentLayout::row/col) -- is read with
// get and written with set; update passes go through detail::updateEach.
template <typename Layout, typename T> struct Fragment {
  static constexpr int ColsHeld = Layout::ColsHeld;
  float r[Layout::PerThread];
  __device__ float get(int i, int j) const { return r[i * ColsHeld + j]; }
  __device__ float getAgain(int i, int j) const { return get(i, j); }
  __device__ void set(int i, int j, float x) { r[i * ColsHeld + j] = x; }
};

// A 16-bit fragment keeps two elements per register, neighbours along the
// contiguous axis, so its state takes half the registers of an f32 one
// (what the compiler allocates in all still depends on the layout; see
// bench/RESULTS.md). Every read widens to f32 and every write rounds once,
// so the math stays fp32.
template <typename Layout, typename T> struct PackedFragment {
  static constexpr int ColsHeld = Layout::ColsHeld;
  static_assert(Layout::VecRows * Layout::VecCols >= 2,
                "fragment: 16-bit elements pair along the contiguous axis");
  u32 words[Layout::PerThread / 2];
  __device__ static int word(int i, int j) {
    return Layout::ColsContiguous ? (i * ColsHeld + j) / 2
                                  : (i / 2) * ColsHeld + j;
  }
  __device__ static bool high(int i, int j) {
    return Layout::ColsContiguous ? (j & 1) : (i & 1);
  }
  __device__ float get(int i, int j) const {
    const u32 w = words[word(i, j)];
    return detail::fromBits16<T>(high(i, j) ? w >> 16 : w & 0xffffu);
  }
  // A second pass over the fragment widens again: the opaque move asks the
  // compiler not to keep every element live in f32 between the passes
  // (which would undo the packing).
  __device__ float getAgain(int i, int j) const {
    u32 w;
    asm volatile("mov.b32 %0, %1;" : "=r"(w) : "r"(words[word(i, j)]));
    return detail::fromBits16<T>(high(i, j) ? w >> 16 : w & 0xffffu);
  }
  __device__ void set(int i, int j, float x) {
    u32 &w = words[word(i, j)];
    const u32 bits = detail::bitsOf16<T>(x);
    w = high(i, j) ? (w & 0xffffu) | (bits << 16) : (w & 0xffff0000u) | bits;
  }
};
template <typename Layout>
struct Fragment<Layout, __nv_bfloat16>
    : PackedFragment<Layout, __nv_bfloat16> {};
template <typename Layout>
struct Fragment<Layout, __half> : PackedFragment<Layout, __half> {};

namespace detail {
// Sums a per-column partial over the lanes holding the same columns (the
// row lanes, never across warps); each of them receives the sum.
template <typename Layout>
__device__ __forceinline__ float sumOverRowLanes(float value) {
#pragma unroll
  for (int offset = Layout::RowLaneStride;
       offset < Layout::RowLaneStride * Layout::RowLanes; offset *= 2)
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

// The first half of a delta step (kdk.delta_step), up to the update:
// kS = S^T (d k) and qS = S^T (d q) over this thread's rows, with
// readRow(i, x) giving the i-th held row's ColsHeld elements in f32; the
// sums meet over the row lanes; update = v' = beta (v - kS) (beta v if
// Additive); and the lanes of row lane 0 write out = scale (qS + (q . k)
// v'), q . k formed by each warp itself. The register and the shared forms
// differ only in readRow and in their update passes.
template <bool Additive, bool HasDecay, typename Layout, typename ReadRow>
__device__ __forceinline__ void
deltaStepUpdate(ReadRow readRow, const float *q, int qStride, const float *k,
                int kStride, const float *v, int vStride, const float *beta,
                const float *decay, int decayStride, float *out, int outStride,
                float scale, float (&update)[Layout::ColsHeld]) {
  constexpr int CH = Layout::ColsHeld;
  float kS[CH], qS[CH];
#pragma unroll
  for (int j = 0; j < CH; ++j)
    kS[j] = qS[j] = 0.0f;
#pragma unroll
  for (int i = 0; i < Layout::RowsHeld; ++i) {
    const int r = Layout::row(i);
    const float d = HasDecay ? decay[r * decayStride] : 1.0f;
    const float kd = d * k[r * kStride], qd = d * q[r * qStride];
    float x[CH];
    readRow(i, x);
#pragma unroll
    for (int j = 0; j < CH; ++j) {
      if constexpr (!Additive)
        kS[j] = fmaf(kd, x[j], kS[j]);
      qS[j] = fmaf(qd, x[j], qS[j]);
    }
  }
  float qk = 0.0f;
  for (int r = (int)(threadIdx.x % 32); r < Layout::NumRows; r += 32)
    qk = fmaf(q[r * qStride], k[r * kStride], qk);
  qk = warpReduceSum(qk);
#pragma unroll
  for (int j = 0; j < CH; ++j) {
    if constexpr (!Additive)
      kS[j] = sumOverRowLanes<Layout>(kS[j]);
    qS[j] = sumOverRowLanes<Layout>(qS[j]);
  }
  const float b = *beta;
#pragma unroll
  for (int j = 0; j < CH; ++j) {
    const float value = v[Layout::col(j) * vStride];
    update[j] = Additive ? b * value : b * (value - kS[j]);
  }
  if (Layout::rowLane() == 0) {
#pragma unroll
    for (int j = 0; j < CH; ++j)
      out[Layout::col(j) * outStride] = scale * fmaf(qk, update[j], qS[j]);
  }
}

// frag(i, j) = f(i, j, frag(i, j)) for every held element. Packed fragments
// go a register (two neighbours) at a time, so each word is written once.
template <typename Layout, typename T, typename F>
__device__ __forceinline__ void updateEach(Fragment<Layout, T> &frag, F f) {
  if constexpr (SameType<T, float>::value) {
#pragma unroll
    for (int i = 0; i < Layout::RowsHeld; ++i)
#pragma unroll
      for (int j = 0; j < Layout::ColsHeld; ++j)
        frag.set(i, j, f(i, j, frag.getAgain(i, j)));
  } else {
    constexpr int DI = Layout::ColsContiguous ? 0 : 1;
    constexpr int DJ = Layout::ColsContiguous ? 1 : 0;
#pragma unroll
    for (int i = 0; i < Layout::RowsHeld; i += 1 + DI)
#pragma unroll
      for (int j = 0; j < Layout::ColsHeld; j += 1 + DJ) {
        const float low = f(i, j, frag.getAgain(i, j));
        const float high = f(i + DI, j + DJ, frag.getAgain(i + DI, j + DJ));
        // One cvt.rn.{bf16,f16}x2.f32 per register (packPair).
        frag.words[frag.word(i, j)] = packPair<T>(low, high);
      }
  }
}
} // namespace detail

// kdk.load_tile into a fragment: frag(r, c) = src[offset + r * rowStride +
// c * colStride], every element (a fragment has no partial tiles).
template <typename Layout, typename T, typename Src>
__device__ __forceinline__ void fragmentLoad(const Src *__restrict__ src,
                                             long long offset,
                                             long long rowStride,
                                             long long colStride,
                                             Fragment<Layout, T> &frag) {
  constexpr int VR = Layout::VecRows, VC = Layout::VecCols;
  const Src *base = src + offset;
  if (detail::runsAreVectors<Layout>(base, rowStride, colStride)) {
    using Run = detail::Run<Src, VR * VC>;
#pragma unroll
    for (int i = 0; i < Layout::RowsHeld; i += VR)
#pragma unroll
      for (int j = 0; j < Layout::ColsHeld; j += VC) {
        const Run run = *reinterpret_cast<const Run *>(
            base + Layout::row(i) * rowStride + Layout::col(j) * colStride);
        if constexpr (!detail::SameType<T, float>::value &&
                      detail::SameType<T, Src>::value) {
          // Same 16-bit type: the words move as they are.
          const u32 *words = reinterpret_cast<const u32 *>(run.elements);
#pragma unroll
          for (int e = 0; e < VR * VC; e += 2)
            frag.words[frag.word(i + e % VR, j + e % VC)] = words[e / 2];
        } else {
#pragma unroll
          for (int e = 0; e < VR * VC; ++e)
            frag.set(i + e % VR, j + e % VC, toFloat(run.elements[e]));
        }
      }
    return;
  }
#pragma unroll
  for (int i = 0; i < Layout::RowsHeld; ++i)
#pragma unroll
    for (int j = 0; j < Layout::ColsHeld; ++j)
      frag.set(i, j,
               toFloat(base[Layout::row(i) * rowStride +
                            Layout::col(j) * colStride]));
}

// kdk.store_tile from a fragment.
template <typename Layout, typename T, typename Dst>
__device__ __forceinline__ void
fragmentStore(const Fragment<Layout, T> &frag, Dst *__restrict__ dst,
              long long offset, long long rowStride, long long colStride) {
  constexpr int VR = Layout::VecRows, VC = Layout::VecCols;
  Dst *base = dst + offset;
  if (detail::runsAreVectors<Layout>(base, rowStride, colStride)) {
    using Run = detail::Run<Dst, VR * VC>;
#pragma unroll
    for (int i = 0; i < Layout::RowsHeld; i += VR)
#pragma unroll
      for (int j = 0; j < Layout::ColsHeld; j += VC) {
        Run run;
        if constexpr (!detail::SameType<T, float>::value &&
                      detail::SameType<T, Dst>::value) {
          u32 *words = reinterpret_cast<u32 *>(run.elements);
#pragma unroll
          for (int e = 0; e < VR * VC; e += 2)
            words[e / 2] = frag.words[frag.word(i + e % VR, j + e % VC)];
        } else {
#pragma unroll
          for (int e = 0; e < VR * VC; ++e)
            run.elements[e] = fromFloat<Dst>(frag.get(i + e % VR, j + e % VC));
        }
        *reinterpret_cast<Run *>(base + Layout::row(i) * rowStride +
                                 Layout::col(j) * colStride) = run;
      }
    return;
  }
#pragma unroll
  for (int i = 0; i < Layout::RowsHeld; ++i)
#pragma unroll
    for (int j = 0; j < Layout::ColsHeld; ++j)
      base[Layout::row(i) * rowStride + Layout::col(j) * colStride] =
          fromFloat<Dst>(frag.get(i, j));
}

// kdk.fill of a fragment.
template <typename Layout, typename T>
__device__ __forceinline__ void fragmentFill(Fragment<Layout, T> &frag,
                                             float value) {
  detail::updateEach(frag, [&](int, int, float) { return value; });
}

// kdk.scale_rows of a fragment by a shared vector: frag(r, :) *= scale[r].
template <typename Layout, typename T>
__device__ __forceinline__ void fragmentScaleRows(Fragment<Layout, T> &frag,
                                                  const float *rowScale,
                                                  int rowScaleStride) {
  detail::updateEach(frag, [&](int i, int, float x) {
    return x * rowScale[Layout::row(i) * rowScaleStride];
  });
}

// kdk.mma with a fragment as B: out(0, c) (+)= alpha * sum_r a[r] frag(r, c),
// a a shared row vector of Rows elements (stride aStride), out a shared row
// of Cols. The partial sums of a column meet by xor-shuffles over the row
// lanes (never across warps); the lanes of row lane 0 write.
template <bool Accumulate, typename Layout, typename T, typename A>
__device__ __forceinline__ void
fragmentVectorTimes(const A *a, int aStride, const Fragment<Layout, T> &frag,
                    float *out, int outStride, float alpha) {
  float sums[Layout::ColsHeld];
#pragma unroll
  for (int j = 0; j < Layout::ColsHeld; ++j)
    sums[j] = 0.0f;
#pragma unroll
  for (int i = 0; i < Layout::RowsHeld; ++i) {
    const float weight = toFloat(a[Layout::row(i) * aStride]);
#pragma unroll
    for (int j = 0; j < Layout::ColsHeld; ++j)
      sums[j] = fmaf(weight, frag.get(i, j), sums[j]);
  }
#pragma unroll
  for (int j = 0; j < Layout::ColsHeld; ++j)
    sums[j] = detail::sumOverRowLanes<Layout>(sums[j]);
  if (Layout::rowLane() == 0) {
#pragma unroll
    for (int j = 0; j < Layout::ColsHeld; ++j) {
      float *target = out + Layout::col(j) * outStride;
      *target = Accumulate ? *target + alpha * sums[j] : alpha * sums[j];
    }
  }
}

// kdk.mma accumulating a rank-one product into a fragment:
// frag(r, c) += alpha * a[r] b[c], a and b shared vectors.
template <typename Layout, typename T, typename A, typename B>
__device__ __forceinline__ void
fragmentRankOneUpdate(const A *a, int aStride, const B *b, int bStride,
                      Fragment<Layout, T> &frag, float alpha) {
  float columns[Layout::ColsHeld];
#pragma unroll
  for (int j = 0; j < Layout::ColsHeld; ++j)
    columns[j] = alpha * toFloat(b[Layout::col(j) * bStride]);
  detail::updateEach(frag, [&](int i, int j, float x) {
    return x + toFloat(a[Layout::row(i) * aStride]) * columns[j];
  });
}

// kdk.delta_step: one token of the recurrence on the state fragment, with
// d = decay (1 without one):
//   kS = S^T (d k), qS = S^T (d q)           -- one pass, S not yet decayed
//   v' = beta (v - kS)   (beta v if Additive)
//   o  = scale (qS + (q . k) v')             -- = scale S_new^T q
//   S  = Diag(d) S + k v'^T                  -- one pass
// q, k, decay are shared K-vectors, v and out shared Vt-vectors, beta one
// shared value. The reduced column sums reach every lane of their column,
// so v' and o never go through shared memory; each warp forms q . k itself.
template <bool Additive, bool HasDecay, typename Layout, typename T>
__device__ __forceinline__ void
fragmentDeltaStep(Fragment<Layout, T> &frag, const float *q, int qStride,
                  const float *k, int kStride, const float *v, int vStride,
                  const float *beta, const float *decay, int decayStride,
                  float *out, int outStride, float scale) {
  constexpr int CH = Layout::ColsHeld;
  float update[CH];
  detail::deltaStepUpdate<Additive, HasDecay, Layout>(
      [&](int i, float (&x)[CH]) {
#pragma unroll
        for (int j = 0; j < CH; ++j)
          x[j] = frag.get(i, j);
      },
      q, qStride, k, kStride, v, vStride, beta, decay, decayStride, out,
      outStride, scale, update);
  detail::updateEach(frag, [&](int i, int j, float x) {
    const int r = Layout::row(i);
    const float product = k[r * kStride] * update[j];
    return HasDecay ? fmaf(decay[r * decayStride], x, product) : x + product;
  });
}

} // namespace kdac

#endif // KDAC_DEVICE_KDAC_FRAGMENT_CUH
