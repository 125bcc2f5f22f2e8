//===- kdac_shared_state.cuh - A decode token on a state in shared memory -===//
//
// kdk.delta_step on a K x Vt state tile in shared memory rather than in a
// register fragment. The decode kernel of a one-token call streams its
// state: the tile arrives by cp.async while the block works through the
// token's prologue, and the update pass writes the new state straight to
// global memory (or back into the tile). Holding no state in registers, a
// block needs ~48 of them instead of 160-208, so six blocks share an SM
// instead of two or three and the others' state reads overlap each block's
// arithmetic (bench/RESULTS.md: a bf16 state at B=256 on the H100 went from
// 0.82 of the bytes floor, packed in registers, to 0.93).
//
// kdk.chunk_state_store is the chunk form's update pass over such a tile: a
// decode call of a few tokens runs them as one chunk, so the tile keeps
// the state as loaded (16-bit too) and the new one goes to global memory.
//
// The threads split the tile as a kv fragment would (SharedStateLayout):
// each warp owns whole columns, so a column's sum over K never leaves the
// warp, and a thread reads and writes 16-byte runs along the row.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_DEVICE_KDAC_SHARED_STATE_CUH
#define KDAC_DEVICE_KDAC_SHARED_STATE_CUH

#include "kdac/kdac_fragment.cuh"

namespace kdac {

namespace detail {
// The longest run of at most 16 bytes that divides a warp's columns.
template <typename T, int WarpCols> constexpr int sharedRunLength() {
  int run = 16 / (int)sizeof(T);
  while (run > 1 && WarpCols % run != 0)
    run /= 2;
  return run;
}
} // namespace detail

// How NT threads split a Rows x Cols shared state: a FragmentLayout along
// the columns, runs of detail::sharedRunLength elements, as many lanes
// along a row as a warp's columns take (at most 32).
template <int NT, int Rows, int Cols, typename T> struct SharedStateLayout {
  static constexpr int WarpCols = Cols / (NT / 32);
  static constexpr int Run = detail::sharedRunLength<T, WarpCols>();
  static constexpr int RunLanes = WarpCols / Run < 32 ? WarpCols / Run : 32;
  using Layout = FragmentLayout<NT, Rows, Cols, 1, Run, RunLanes>;
};

namespace detail {
// An aligned run of N elements, widened to f32 into values[0, N).
template <typename T, int N>
__device__ __forceinline__ void readRun(const T *at, float *values) {
  const Run<T, N> run = *reinterpret_cast<const Run<T, N> *>(at);
#pragma unroll
  for (int e = 0; e < N; ++e)
    values[e] = toFloat(run.elements[e]);
}

// Rounds N f32 values into a run (pairs of 16-bit values with one
// conversion each).
template <typename T, int N>
__device__ __forceinline__ void writeRun(T *at, const float (&values)[N]) {
  Run<T, N> run;
  if constexpr (!SameType<T, float>::value && N % 2 == 0) {
    u32 *words = reinterpret_cast<u32 *>(run.elements);
#pragma unroll
    for (int e = 0; e < N; e += 2)
      words[e / 2] = packPair<T>(values[e], values[e + 1]);
  } else {
#pragma unroll
    for (int e = 0; e < N; ++e)
      run.elements[e] = fromFloat<T>(values[e]);
  }
  *reinterpret_cast<Run<T, N> *>(at) = run;
}

// A run of new state to global memory: one vector store when the block's
// destination rows are aligned to runs (`aligned`, uniform for the block),
// else element by element.
template <typename Dst, int N>
__device__ __forceinline__ void storeStateRun(Dst *at, const float (&values)[N],
                                              bool aligned) {
  if (aligned) {
    writeRun(at, values);
  } else {
#pragma unroll
    for (int e = 0; e < N; ++e)
      at[e] = fromFloat<Dst>(values[e]);
  }
}

// Whether dst + r * rowStride starts a run of N elements for every row r.
template <typename Dst, int N>
__device__ __forceinline__ bool runsAligned(const Dst *base,
                                            long long rowStride) {
  return reinterpret_cast<unsigned long long>(base) % (sizeof(Dst) * N) == 0 &&
         rowStride % N == 0;
}

// The delta step on a shared state; the update pass hands each new run to
// `sink(row, col, values)`.
template <bool Additive, bool HasDecay, int NT, int Rows, int Cols, typename T,
          typename Sink>
__device__ __forceinline__ void
sharedDeltaStepTo(const T *state, int ld, const float *q, int qStride,
                  const float *k, int kStride, const float *v, int vStride,
                  const float *beta, const float *decay, int decayStride,
                  float *out, int outStride, float scale, Sink sink) {
  using L = typename SharedStateLayout<NT, Rows, Cols, T>::Layout;
  constexpr int Run = SharedStateLayout<NT, Rows, Cols, T>::Run;
  constexpr int CH = L::ColsHeld;
  float update[CH];
  deltaStepUpdate<Additive, HasDecay, L>(
      [&](int i, float (&x)[CH]) {
#pragma unroll
        for (int j = 0; j < CH; j += Run)
          readRun<T, Run>(state + L::row(i) * ld + L::col(j), x + j);
      },
      q, qStride, k, kStride, v, vStride, beta, decay, decayStride, out,
      outStride, scale, update);
#pragma unroll
  for (int i = 0; i < L::RowsHeld; ++i) {
    const int r = L::row(i);
    const float d = HasDecay ? decay[r * decayStride] : 1.0f;
    const float kr = k[r * kStride];
#pragma unroll
    for (int j = 0; j < CH; j += Run) {
      float x[Run];
      readRun<T, Run>(state + r * ld + L::col(j), x);
#pragma unroll
      for (int e = 0; e < Run; ++e)
        x[e] = HasDecay ? fmaf(d, x[e], kr * update[j + e])
                        : x[e] + kr * update[j + e];
      sink(r, L::col(j), x);
    }
  }
}
} // namespace detail

// kdk.delta_step on a shared state (row stride ld, a multiple of the run
// length; the tile 16-byte aligned): the algebra of fragmentDeltaStep, in
// place. Each thread reads its runs twice (product pass, update pass) and
// touches no other thread's elements, so the op needs barriers only around
// the shared vectors and around readers of the new state.
template <bool Additive, bool HasDecay, int NT, int Rows, int Cols, typename T>
__device__ __forceinline__ void
sharedDeltaStep(T *state, int ld, const float *q, int qStride, const float *k,
                int kStride, const float *v, int vStride, const float *beta,
                const float *decay, int decayStride, float *out, int outStride,
                float scale) {
  detail::sharedDeltaStepTo<Additive, HasDecay, NT, Rows, Cols>(
      state, ld, q, qStride, k, kStride, v, vStride, beta, decay, decayStride,
      out, outStride, scale, [&](int r, int c, const auto &values) {
        detail::writeRun(state + r * ld + c, values);
      });
}

// kdk.delta_step {store_to}: the new state goes to dst[offset + r *
// rowStride + c] (as runs when they are aligned there, which is uniform for
// the block), and the tile keeps the old one.
template <bool Additive, bool HasDecay, int NT, int Rows, int Cols, typename T,
          typename Dst>
__device__ __forceinline__ void
sharedDeltaStep(const T *state, int ld, const float *q, int qStride,
                const float *k, int kStride, const float *v, int vStride,
                const float *beta, const float *decay, int decayStride,
                float *out, int outStride, float scale, Dst *__restrict__ dst,
                long long offset, long long rowStride) {
  constexpr int Run = SharedStateLayout<NT, Rows, Cols, T>::Run;
  Dst *base = dst + offset;
  const bool runs = detail::runsAligned<Dst, Run>(base, rowStride);
  detail::sharedDeltaStepTo<Additive, HasDecay, NT, Rows, Cols>(
      state, ld, q, qStride, k, kStride, v, vStride, beta, decay, decayStride,
      out, outStride, scale, [&](int r, int c, const auto &values) {
        detail::storeStateRun(base + r * rowStride + c, values, runs);
      });
}

// kdk.chunk_state_store: dst[offset + r * rowStride + c] = decay[r] S[r, c]
// + sum_t keys[t, r] values[t, c] for a chunk of Tokens tokens, S the old
// state in shared memory (untouched). Each thread holds its columns' values
// of every token and walks its runs once, rounding each element once.
template <int NT, int Rows, int Cols, int Tokens, typename T, typename Dst>
__device__ __forceinline__ void
sharedChunkStateStore(const T *state, int ld, const float *decay,
                      int decayStride, const float *keys, int ldk,
                      const float *values, int ldv, Dst *__restrict__ dst,
                      long long offset, long long rowStride) {
  using L = typename SharedStateLayout<NT, Rows, Cols, T>::Layout;
  constexpr int Run = SharedStateLayout<NT, Rows, Cols, T>::Run;
  constexpr int CH = L::ColsHeld;
  float held[Tokens][CH];
#pragma unroll
  for (int t = 0; t < Tokens; ++t)
#pragma unroll
    for (int j = 0; j < CH; j += Run)
#pragma unroll
      for (int e = 0; e < Run; ++e)
        held[t][j + e] = values[t * ldv + L::col(j) + e];
  Dst *base = dst + offset;
  const bool runs = detail::runsAligned<Dst, Run>(base, rowStride);
#pragma unroll 2
  for (int i = 0; i < L::RowsHeld; ++i) {
    const int r = L::row(i);
    const float d = decay[r * decayStride];
    float key[Tokens];
#pragma unroll
    for (int t = 0; t < Tokens; ++t)
      key[t] = keys[t * ldk + r];
#pragma unroll
    for (int j = 0; j < CH; j += Run) {
      float x[Run];
      detail::readRun<T, Run>(state + r * ld + L::col(j), x);
#pragma unroll
      for (int e = 0; e < Run; ++e) {
        float y = d * x[e];
#pragma unroll
        for (int t = 0; t < Tokens; ++t)
          y = fmaf(key[t], held[t][j + e], y);
        x[e] = y;
      }
      detail::storeStateRun(base + r * rowStride + L::col(j), x, runs);
    }
  }
}

} // namespace kdac

#endif // KDAC_DEVICE_KDAC_SHARED_STATE_CUH
