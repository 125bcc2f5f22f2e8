//===- kdac_mma.cuh - Tensor-core mma.sync and ldmatrix wrappers (sm_80+) -===//
//
// One warp computes D(16x8, f32) = A(16x16) * B(16x8) + C with
// mma.sync.m16n8k16. The fragment helpers below encode the PTX ISA layouts
// ("Matrix Fragments for mma.m16n8k16 with floating point type") so the
// emitter never hard-codes lane arithmetic. For lane = threadIdx.x % 32,
// group = lane / 4 and quad = lane % 4:
//
//   A (row-major 16x16, 4 regs, 2 halves each; reg r, half h):
//     row = group + 8 * (r % 2),  col = 2 * quad + h + 8 * (r / 2)
//   B (16x8 "col" operand, 2 regs; reg r, half h):
//     k   = 2 * quad + h + 8 * r, n   = group
//   C/D (16x8 f32, 4 values; index i):
//     row = group + 8 * (i / 2),  col = 2 * quad + (i % 2)
//
// ldmatrix.x4 of a row-major 16x16 tile yields exactly the A fragment when
// lane l points at row (l % 16), column 8 * (l / 16). ldmatrix.x2.trans of a
// row-major [k][n] 16x8 tile yields the B fragment when lane l (< 16) points
// at row k = l; ldmatrix.x2 (no trans) does the same for a [n][k] tile when
// lane l points at row n = l % 8, column 8 * (l / 8). ldmatrix.x4.trans of a
// row-major [k][n] 16x16 tile, with the x4 addressing, yields the B fragments
// of columns n 0-7 (regs 0, 1) and n 8-15 (regs 2, 3).
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_DEVICE_KDAC_MMA_CUH
#define KDAC_DEVICE_KDAC_MMA_CUH

#include "kdac/kdac_types.cuh"

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "kdac_mma.cuh needs sm_80 or newer (mma.sync m16n8k16 with bf16)"
#endif

namespace kdac {

// Fragment coordinates (see the header comment).
__device__ __forceinline__ int mmaARow(int lane, int reg) {
  return lane / 4 + 8 * (reg % 2);
}
__device__ __forceinline__ int mmaACol(int lane, int reg, int half) {
  return 2 * (lane % 4) + half + 8 * (reg / 2);
}
__device__ __forceinline__ int mmaBK(int lane, int reg, int half) {
  return 2 * (lane % 4) + half + 8 * reg;
}
__device__ __forceinline__ int mmaBN(int lane) { return lane / 4; }
__device__ __forceinline__ int mmaCRow(int lane, int index) {
  return lane / 4 + 8 * (index / 2);
}
__device__ __forceinline__ int mmaCCol(int lane, int index) {
  return 2 * (lane % 4) + index % 2;
}

// Which shared-memory row/column each lane must point at for ldmatrix.
__device__ __forceinline__ int ldmatrixX4Row(int lane) { return lane % 16; }
__device__ __forceinline__ int ldmatrixX4Col(int lane) {
  return 8 * (lane / 16);
}
__device__ __forceinline__ int ldmatrixX2TransRow(int lane) {
  return lane % 16;
}
__device__ __forceinline__ int ldmatrixX2Row(int lane) { return lane % 8; }
__device__ __forceinline__ int ldmatrixX2Col(int lane) {
  return 8 * ((lane / 8) % 2);
}

// D = A * B + C, bf16 inputs, fp32 accumulation. `d` may alias `c`.
__device__ __forceinline__ void mmaBf16M16N8K16(float (&d)[4],
                                                const u32 (&a)[4],
                                                const u32 (&b)[2],
                                                const float (&c)[4]) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
        "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}

// D = A * B + C, f16 inputs, fp32 accumulation. `d` may alias `c`.
__device__ __forceinline__ void mmaF16M16N8K16(float (&d)[4], const u32 (&a)[4],
                                               const u32 (&b)[2],
                                               const float (&c)[4]) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
        "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}

template <typename T>
__device__ __forceinline__ void mmaM16N8K16(float (&d)[4], const u32 (&a)[4],
                                            const u32 (&b)[2],
                                            const float (&c)[4]);
template <>
__device__ __forceinline__ void
mmaM16N8K16<__nv_bfloat16>(float (&d)[4], const u32 (&a)[4], const u32 (&b)[2],
                           const float (&c)[4]) {
  mmaBf16M16N8K16(d, a, b, c);
}
template <>
__device__ __forceinline__ void
mmaM16N8K16<__half>(float (&d)[4], const u32 (&a)[4], const u32 (&b)[2],
                    const float (&c)[4]) {
  mmaF16M16N8K16(d, a, b, c);
}

// D = A * B + C for m16n8k8 TF32 (f32 registers rounded to tf32, fp32
// accumulation). A: row = group + 8 (r % 2), col = quad + 4 (r / 2);
// B: k = quad + 4 r, n = group; C/D as for m16n8k16.
__device__ __forceinline__ u32 toTf32(float x) {
  u32 bits;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(bits) : "f"(x));
  return bits;
}

__device__ __forceinline__ void mmaTf32M16N8K8(float (&d)[4],
                                               const u32 (&a)[4],
                                               const u32 (&b)[2],
                                               const float (&c)[4]) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\n"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
        "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}

// ldmatrix reads shared memory the compiler cannot see, hence volatile and the
// memory clobber: it must stay after the barrier that published the tile.
__device__ __forceinline__ void ldmatrixX4(u32 (&r)[4], const void *sharedRow) {
  u32 address = static_cast<u32>(__cvta_generic_to_shared(sharedRow));
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(address)
      : "memory");
}

__device__ __forceinline__ void ldmatrixX4Trans(u32 (&r)[4],
                                                const void *sharedRow) {
  u32 address = static_cast<u32>(__cvta_generic_to_shared(sharedRow));
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(address)
      : "memory");
}

__device__ __forceinline__ void ldmatrixX2(u32 (&r)[2], const void *sharedRow) {
  u32 address = static_cast<u32>(__cvta_generic_to_shared(sharedRow));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(address)
               : "memory");
}

__device__ __forceinline__ void ldmatrixX2Trans(u32 (&r)[2],
                                                const void *sharedRow) {
  u32 address = static_cast<u32>(__cvta_generic_to_shared(sharedRow));
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
      : "=r"(r[0]), "=r"(r[1])
      : "r"(address)
      : "memory");
}

} // namespace kdac

#endif // KDAC_DEVICE_KDAC_MMA_CUH
