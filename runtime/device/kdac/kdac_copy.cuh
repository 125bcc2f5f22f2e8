//===- kdac_copy.cuh - Asynchronous global-to-shared copies and barriers --===//
//
// cp.async (sm_80+) lets a block issue the next tile's loads before computing
// on the current one; the emitter's pipelining pass places commit/wait so
// that stage s is waited for only when it is consumed. Wrappers are volatile
// with a memory clobber so the compiler never moves shared-memory accesses
// across them.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_DEVICE_KDAC_COPY_CUH
#define KDAC_DEVICE_KDAC_COPY_CUH

#include "kdac/kdac_types.cuh"

namespace kdac {

// Copies 16 bytes global -> shared without waiting; both addresses must be
// 16-byte aligned. .cg bypasses L1: tiles are read once per block.
__device__ __forceinline__ void cpAsync16(void *sharedDestination,
                                          const void *globalSource) {
  u32 destination =
      static_cast<u32>(__cvta_generic_to_shared(sharedDestination));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(destination),
               "l"(globalSource)
               : "memory");
}

// As cpAsync16, but writes 16 zero bytes when `valid` is false (reading
// nothing), so ragged tile edges need no branch around the copy.
__device__ __forceinline__ void cpAsync16ZeroFill(void *sharedDestination,
                                                  const void *globalSource,
                                                  bool valid) {
  u32 destination =
      static_cast<u32>(__cvta_generic_to_shared(sharedDestination));
  int sourceBytes = valid ? 16 : 0;
  asm volatile(
      "cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(destination),
      "l"(globalSource), "r"(sourceBytes)
      : "memory");
}

// Closes the group of cp.async issued since the previous commit.
__device__ __forceinline__ void cpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}

// Waits until at most `Pending` committed groups are still in flight. Only
// the calling thread's copies are covered: follow with a barrier before other
// threads read the tile.
template <int Pending> __device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
}

__device__ __forceinline__ void cpAsyncWaitAll() {
  asm volatile("cp.async.wait_all;\n" ::: "memory");
}

// kdk.load_tile {async}: dst[r, c] = src[offset + r * rowStride + c *
// ColStride] for r < rows, 0 after, with no conversion; cp.async when the
// rows are runs of 16 bytes on both sides (a 1-D tile is one run), else
// plain element copies. Commits one group: the tile is valid after
// cpAsyncWaitAll() and a barrier.
template <int NT, int Rows, int Cols, int ColStride, typename T>
__device__ __forceinline__ void tileLoadAsync(const T *__restrict__ src,
                                              long long offset, long long rows,
                                              long long rowStride, T *dst,
                                              int ld) {
  constexpr int PerVector = 16 / sizeof(T);
  const int validRows = validRowCount<Rows>(rows);
  const T *base = src + offset;
  if constexpr (Cols == 1 && Rows % PerVector == 0) {
    // A 1-D tile: one contiguous run when both strides are 1.
    if (rowStride == 1 && ld == 1 && aligned16(base) && aligned16(dst) &&
        validRows % PerVector == 0) {
      for (int v = threadIdx.x; v < Rows / PerVector; v += NT)
        cpAsync16ZeroFill(dst + v * PerVector, base + v * PerVector,
                          v * PerVector < validRows);
      cpAsyncCommit();
      return;
    }
  } else if constexpr (ColStride == 1 && Cols % PerVector == 0) {
    constexpr int VectorsPerRow = Cols / PerVector;
    if (aligned16(base) && aligned16(dst) &&
        (rowStride * sizeof(T)) % 16 == 0 && (ld * sizeof(T)) % 16 == 0) {
      for (int unit = threadIdx.x; unit < Rows * VectorsPerRow; unit += NT) {
        const int r = unit / VectorsPerRow;
        const int c = (unit % VectorsPerRow) * PerVector;
        cpAsync16ZeroFill(dst + r * ld + c, base + r * rowStride + c,
                          r < validRows);
      }
      cpAsyncCommit();
      return;
    }
  }
  for (int e = threadIdx.x; e < Rows * Cols; e += NT) {
    const int r = e / Cols, c = e % Cols;
    dst[r * ld + c] = r < validRows ? base[r * rowStride + (long long)c * ColStride]
                                    : fromFloat<T>(0.0f);
  }
}

// Synchronous 16-byte copy, for data that must be in registers anyway.
__device__ __forceinline__ void copy16(void *destination, const void *source) {
  store16Bytes(destination, load16Bytes(source));
}

// Whole-block barrier (also orders shared-memory accesses).
__device__ __forceinline__ void blockBarrier() { __syncthreads(); }

// Barrier over `threadCount` threads (a multiple of 32) on hardware barrier
// `id` (1-15; 0 is __syncthreads), so warp groups can synchronise without
// stalling the whole block.
__device__ __forceinline__ void namedBarrierSync(int id, int threadCount) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threadCount) : "memory");
}

} // namespace kdac

#endif // KDAC_DEVICE_KDAC_COPY_CUH
