//===- kdac_math.cuh - Scalar activations and warp reductions -------------===//
//
// The decays exp(g) are computed as exp2 of log2(e)-prescaled values so one
// MUFU.EX2 does the work; the gate and beta activations follow PyTorch
// (softplus with beta 1, threshold 20) so results match FLA. The fast
// variants trade ~2 ulp for speed and are named as such.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_DEVICE_KDAC_MATH_CUH
#define KDAC_DEVICE_KDAC_MATH_CUH

namespace kdac {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// 2^x on the special-function unit (relative error ~2^-22; subnormal results
// flush to zero, which is harmless for decay factors).
__device__ __forceinline__ float exp2Fast(float x) {
  float result;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(result) : "f"(x));
  return result;
}

// e^x through exp2; for values already scaled by log2(e) call exp2Fast.
__device__ __forceinline__ float expFast(float x) {
  return exp2Fast(x * kLog2e);
}

// 1 / (1 + e^-x); saturates cleanly to 0 and 1 (rcp(inf) = 0).
__device__ __forceinline__ float sigmoidFast(float x) {
  return __frcp_rn(1.0f + expFast(-x));
}

// log(1 + e^x), linear above 20 like torch.nn.functional.softplus. log1pf
// keeps precision for very negative x, where 1 + e^x rounds to 1.
__device__ __forceinline__ float softplusFast(float x) {
  return x > 20.0f ? x : log1pf(expFast(x));
}

// 1 / sqrt(sum of squares + 1e-6), the qk L2-norm scale of FLA.
__device__ __forceinline__ float inverseL2Norm(float sumOfSquares) {
  return rsqrtf(sumOfSquares + 1e-6f);
}

// Butterfly reductions over aligned groups of `Width` lanes (a power of two
// up to 32); every lane of the group receives the result. All 32 lanes must
// take part, as __shfl_xor_sync with a full mask requires.
template <int Width = 32>
__device__ __forceinline__ float warpReduceSum(float value) {
  static_assert(Width >= 1 && Width <= 32 && (Width & (Width - 1)) == 0,
                "Width must be a power of two <= 32");
  for (int offset = Width / 2; offset > 0; offset /= 2)
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

template <int Width = 32>
__device__ __forceinline__ float warpReduceMax(float value) {
  static_assert(Width >= 1 && Width <= 32 && (Width & (Width - 1)) == 0,
                "Width must be a power of two <= 32");
  for (int offset = Width / 2; offset > 0; offset /= 2)
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

} // namespace kdac

#endif // KDAC_DEVICE_KDAC_MATH_CUH
