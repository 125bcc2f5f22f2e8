//===- kdac_fragment.cuh - Tiles held in registers across a block ---------===//
//
// A fragment is a Rows x Cols f32 tile (memory space 5 in kdk) spread over
// the NT threads of a block so that it never touches shared memory: the
// decode kernel keeps its K x Vt slice of the state in one, because there
// the state's traffic is the whole cost. The distribution:
//   G = NT / Cols threads share a column (adjacent lanes, so a column's
//   reduction is a few xor-shuffles); thread t holds column t / G and rows
//   t % G + G * i for i < Rows / G (interleaved, so the G lanes of one
//   column read consecutive rows of a row-major source in one instruction).
// Every function is called by all NT threads, like those of kdac_tile.cuh;
// fragment ops need no barrier among themselves (each thread touches only
// its own elements), only around the shared tiles they read or write.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_DEVICE_KDAC_FRAGMENT_CUH
#define KDAC_DEVICE_KDAC_FRAGMENT_CUH

#include "kdac/kdac_types.cuh"

namespace kdac {

template <int NT, int Rows, int Cols> struct FragmentShape {
  static constexpr int Group = NT / Cols;            // threads per column
  static constexpr int PerThread = Rows / Group;     // registers per thread
  static_assert(NT % Cols == 0, "fragment: NT must be a multiple of Cols");
  static_assert(Group >= 1 && Group <= 32 && (Group & (Group - 1)) == 0,
                "fragment: NT / Cols must be a power of two <= 32");
  static_assert(Rows % Group == 0, "fragment: Rows must divide by NT / Cols");
  __device__ static int column() { return threadIdx.x / Group; }
  __device__ static int firstRow() { return threadIdx.x % Group; }
};

// kdk.load_tile into a fragment: frag(r, c) = src[offset + r * rowStride +
// c * ColStride], every row (a fragment has no partial tiles).
template <int NT, int Rows, int Cols, int ColStride, typename Src>
__device__ __forceinline__ void
fragmentLoad(const Src *__restrict__ src, long long offset,
             long long rowStride,
             float (&frag)[FragmentShape<NT, Rows, Cols>::PerThread]) {
  using Shape = FragmentShape<NT, Rows, Cols>;
  const Src *base = src + offset + (long long)Shape::column() * ColStride;
#pragma unroll
  for (int i = 0; i < Shape::PerThread; ++i)
    frag[i] = toFloat(base[(Shape::firstRow() + Shape::Group * i) * rowStride]);
}

// kdk.store_tile from a fragment.
template <int NT, int Rows, int Cols, int ColStride, typename Dst>
__device__ __forceinline__ void
fragmentStore(const float (&frag)[FragmentShape<NT, Rows, Cols>::PerThread],
              Dst *__restrict__ dst, long long offset, long long rowStride) {
  using Shape = FragmentShape<NT, Rows, Cols>;
  Dst *base = dst + offset + (long long)Shape::column() * ColStride;
#pragma unroll
  for (int i = 0; i < Shape::PerThread; ++i)
    base[(Shape::firstRow() + Shape::Group * i) * rowStride] =
        fromFloat<Dst>(frag[i]);
}

// kdk.fill of a fragment.
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void
fragmentFill(float (&frag)[FragmentShape<NT, Rows, Cols>::PerThread],
             float value) {
#pragma unroll
  for (int i = 0; i < FragmentShape<NT, Rows, Cols>::PerThread; ++i)
    frag[i] = value;
}

// kdk.scale_rows of a fragment by a shared vector: frag(r, :) *= scale[r].
template <int NT, int Rows, int Cols>
__device__ __forceinline__ void
fragmentScaleRows(float (&frag)[FragmentShape<NT, Rows, Cols>::PerThread],
                  const float *rowScale, int rowScaleStride) {
  using Shape = FragmentShape<NT, Rows, Cols>;
#pragma unroll
  for (int i = 0; i < Shape::PerThread; ++i)
    frag[i] *= rowScale[(Shape::firstRow() + Shape::Group * i) * rowScaleStride];
}

// kdk.mma with a fragment as B: out(0, c) (+)= alpha * sum_r a[r] frag(r, c),
// a a shared row vector of Rows elements (stride aStride), out a shared row
// of Cols. The G partial sums of a column meet by xor-shuffles; the first
// lane of the group writes.
template <int NT, int Rows, int Cols, bool Accumulate, typename T>
__device__ __forceinline__ void
fragmentVectorTimes(const T *a, int aStride,
                    const float (&frag)[FragmentShape<NT, Rows, Cols>::PerThread],
                    float *out, int outStride, float alpha) {
  using Shape = FragmentShape<NT, Rows, Cols>;
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < Shape::PerThread; ++i)
    sum += toFloat(a[(Shape::firstRow() + Shape::Group * i) * aStride]) *
           frag[i];
#pragma unroll
  for (int offset = Shape::Group / 2; offset > 0; offset /= 2)
    sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (Shape::firstRow() == 0) {
    float *target = out + Shape::column() * outStride;
    *target = Accumulate ? *target + alpha * sum : alpha * sum;
  }
}

// kdk.mma accumulating a rank-one product into a fragment:
// frag(r, c) += alpha * a[r] b[c], a and b shared vectors.
template <int NT, int Rows, int Cols, typename T>
__device__ __forceinline__ void
fragmentRankOneUpdate(const T *a, int aStride, const T *b, int bStride,
                      float (&frag)[FragmentShape<NT, Rows, Cols>::PerThread],
                      float alpha) {
  using Shape = FragmentShape<NT, Rows, Cols>;
  const float column = alpha * toFloat(b[Shape::column() * bStride]);
#pragma unroll
  for (int i = 0; i < Shape::PerThread; ++i)
    frag[i] += toFloat(a[(Shape::firstRow() + Shape::Group * i) * aStride]) *
               column;
}

} // namespace kdac

#endif // KDAC_DEVICE_KDAC_FRAGMENT_CUH
