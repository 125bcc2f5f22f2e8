//===- kdac_types.cuh - Element types and conversions for kdac kernels ----===//
//
// Generated kernels are specialised per dtype; these overloads let the emitter
// write one spelling (toFloat / fromFloat<T> / loadAsFloat) for bf16, f16 and
// f32 and keep all arithmetic in fp32. Conversions round to nearest even:
// precision matters more here than the last cycle.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_DEVICE_KDAC_TYPES_CUH
#define KDAC_DEVICE_KDAC_TYPES_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace kdac {

// NVRTC has no <cstdint> by default; fixed-width names the emitter can rely on.
typedef unsigned int u32;
typedef unsigned long long u64;

typedef __nv_bfloat16 bf16;
typedef __half f16;

__device__ __forceinline__ float toFloat(float x) { return x; }
__device__ __forceinline__ float toFloat(__half x) { return __half2float(x); }
__device__ __forceinline__ float toFloat(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

template <typename T> __device__ __forceinline__ T fromFloat(float x);
template <> __device__ __forceinline__ float fromFloat<float>(float x) {
  return x;
}
template <> __device__ __forceinline__ __half fromFloat<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

// How many of a tile's Rows rows hold data when a chunk has `rows` tokens
// (clamped to [0, Rows]; the rest are padding).
template <int Rows>
__device__ __forceinline__ int validRowCount(long long rows) {
  return rows < 0 ? 0 : (rows > Rows ? Rows : (int)rows);
}

template <typename T>
__device__ __forceinline__ float loadAsFloat(const T *pointer) {
  return toFloat(*pointer);
}
template <typename T>
__device__ __forceinline__ void storeFromFloat(T *pointer, float value) {
  *pointer = fromFloat<T>(value);
}

// Two 16-bit values in one register, in the order mma.sync operands expect:
// `low` (the smaller column/k index) in bits 0-15.
__device__ __forceinline__ u32 packBf16x2(float low, float high) {
  __nv_bfloat162 pair = __floats2bfloat162_rn(low, high);
  return *reinterpret_cast<const u32 *>(&pair);
}
__device__ __forceinline__ u32 packF16x2(float low, float high) {
  __half2 pair = __floats2half2_rn(low, high);
  return *reinterpret_cast<const u32 *>(&pair);
}
template <typename T>
__device__ __forceinline__ u32 packPair(float low, float high);
template <>
__device__ __forceinline__ u32 packPair<__nv_bfloat16>(float low, float high) {
  return packBf16x2(low, high);
}
template <>
__device__ __forceinline__ u32 packPair<__half>(float low, float high) {
  return packF16x2(low, high);
}

__device__ __forceinline__ float2 unpackBf16x2(u32 packed) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&packed));
}
__device__ __forceinline__ float2 unpackF16x2(u32 packed) {
  return __half22float2(*reinterpret_cast<const __half2 *>(&packed));
}

// Loads two adjacent 16-bit elements as one register; `pointer` must be
// 4-byte aligned.
template <typename T>
__device__ __forceinline__ u32 loadPair(const T *pointer) {
  static_assert(sizeof(T) == 2, "loadPair is for 16-bit element types");
  return *reinterpret_cast<const u32 *>(pointer);
}

__device__ __forceinline__ bool aligned16(const void *pointer) {
  return (reinterpret_cast<unsigned long long>(pointer) & 15ull) == 0;
}

namespace detail {
// std::is_same (the device library includes no standard headers).
template <typename A, typename B> struct SameType {
  static constexpr bool value = false;
};
template <typename A> struct SameType<A, A> {
  static constexpr bool value = true;
};
} // namespace detail

// 16-byte vector load/store (one LDG.128/STG.128); `pointer` must be
// 16-byte aligned.
__device__ __forceinline__ uint4 load16Bytes(const void *pointer) {
  return *reinterpret_cast<const uint4 *>(pointer);
}
__device__ __forceinline__ void store16Bytes(void *pointer, uint4 value) {
  *reinterpret_cast<uint4 *>(pointer) = value;
}

template <typename T> struct ElementsPer16Bytes {
  static constexpr int value = 16 / sizeof(T);
};

} // namespace kdac

#endif // KDAC_DEVICE_KDAC_TYPES_CUH
