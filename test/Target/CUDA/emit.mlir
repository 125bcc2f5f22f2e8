// RUN: kda-opt %s --split-input-file --kdk-allocate-shared-memory | kdac-translate --kdk-to-cuda --split-input-file | FileCheck %s

// A chunk-parallel kernel: signature, the shared-memory plan, one device call
// per tile op with its static shapes, and the launch descriptor on top.

!kb = memref<64x128xbf16, 3>
!kf = memref<64x128xf32, 3>
!sq = memref<64x64xf32, 3>
module attributes {kdk.chunk_size = 64 : i64} {
  func.func @kda_intra(
      %k: memref<?xbf16> {kdk.arg = #kdk.tensor<"k">}, %g: memref<?xf32> {kdk.arg = #kdk.tensor<"g">},
      %beta: memref<?xbf16> {kdk.arg = #kdk.tensor<"beta">},
      %cu: memref<?xi64> {kdk.arg = #kdk.tensor<"cu_seqlens">},
      %w: memref<?xf32> {kdk.arg = #kdk.workspace<"akk", bytes_per_slot = 16384>},
      %T: index {kdk.arg = #kdk.size<"T">})
      attributes {kdk.kernel, kdk.block_threads = 128 : i64,
                  kdk.grid = #kdk.grid<chunk_slots, 16, 1>} {
    %slot = kdk.block_id 0
    %head = kdk.block_id 1
    %valid, %seq, %batch, %start, %rows = kdk.locate_chunk %slot T(%T) cu_seqlens(%cu : memref<?xi64>) chunk_size = 64
    %c16 = arith.constant 16 : index
    %c128 = arith.constant 128 : index
    %c2048 = arith.constant 2048 : index
    scf.if %valid {
      %kt = kdk.alloc_tile : !kb
      %gt = kdk.alloc_tile : !kf
      %bt = kdk.alloc_tile : memref<64xf32, 3>
      %a = kdk.alloc_tile : !sq
      %tok = arith.muli %start, %c2048 : index
      %hoff = arith.muli %head, %c128 : index
      %off = arith.addi %tok, %hoff : index
      kdk.load_tile %k[%off] rows(%rows) row_stride(%c2048) col_stride = 1 into %kt : memref<?xbf16>, !kb
      kdk.load_tile %g[%off] rows(%rows) row_stride(%c2048) col_stride = 1 into %gt : memref<?xf32>, !kf
      %boff = arith.muli %start, %c16 : index
      %bo = arith.addi %boff, %head : index
      kdk.load_tile %beta[%bo] rows(%rows) row_stride(%c16) col_stride = 0 into %bt : memref<?xbf16>, memref<64xf32, 3>
      kdk.barrier
      kdk.sigmoid %bt rows(%rows) : memref<64xf32, 3>
      kdk.cumsum_rows %gt : !kf
      kdk.barrier
      kdk.decayed_gram %kt, %kt, %gt row_scale(%bt : memref<64xf32, 3>) into %a mask = strict scale = 1.0 anchor_block = 16 : !kb, !kb, !kf, !sq
      kdk.barrier
      kdk.tri_inverse %a into %a : !sq, !sq
      kdk.barrier
      %wo = arith.muli %slot, %c128 : index
      kdk.store_tile %a into %w[%wo] rows(%rows) row_stride(%c128) col_stride = 1 : !sq, memref<?xf32>
    }
    return
  }
}

// CHECK:      // chunk_size 64
// CHECK-NEXT: // workspace "akk" bytes_per_chunk_slot 16384
// CHECK-NEXT: // kernel "kda_intra" grid [chunk_slots, 16, 1] block_threads 128 dynamic_shared_bytes 65792
// CHECK-NEXT: //   param tensor "k"
// CHECK-NEXT: //   param tensor "g"
// CHECK-NEXT: //   param tensor "beta"
// CHECK-NEXT: //   param tensor "cu_seqlens"
// CHECK-NEXT: //   param workspace "akk"
// CHECK-NEXT: //   param size "T"
// CHECK:      #include "kdac/kdac_tile.cuh"

// Only the stored-to workspace loses const.
// CHECK-LABEL: extern "C" __global__ void __launch_bounds__(128) kda_intra(
// CHECK-SAME:    const __nv_bfloat16 *__restrict__ k, const float *__restrict__ g,
// CHECK-SAME:    const __nv_bfloat16 *__restrict__ beta, const long long *__restrict__ cu_seqlens,
// CHECK-SAME:    float *__restrict__ ws_akk, long long T) {
// CHECK-NEXT:   constexpr int NT = 128;
// CHECK-NEXT:   extern __shared__ __align__(128) unsigned char kdac_smem[]; // 65792 bytes
// CHECK-NEXT:   const long long [[SLOT:v[0-9]+]] = (long long)blockIdx.x;
// CHECK-NEXT:   const long long [[HEAD:v[0-9]+]] = (long long)blockIdx.y;
// CHECK-NEXT:   const kdac::ChunkLocation [[LOC:v[0-9]+]] = kdac::locateChunk([[SLOT]], T, cu_seqlens, 64ll);
// CHECK:        if ([[LOC]].valid) {

// Tiles in program order at 128-byte aligned offsets: 16384 + 32768 + 256
// (rounded up from the 64 f32 of beta) + 16384 = 65792 bytes.
// CHECK-NEXT:     __nv_bfloat16 *const [[K:v[0-9]+]] = reinterpret_cast<__nv_bfloat16 *>(kdac_smem + 0); // 64x128 bf16
// CHECK-NEXT:     float *const [[G:v[0-9]+]] = reinterpret_cast<float *>(kdac_smem + 16384); // 64x128 f32
// CHECK-NEXT:     float *const [[B:v[0-9]+]] = reinterpret_cast<float *>(kdac_smem + 49152); // 64 f32
// CHECK-NEXT:     float *const [[A:v[0-9]+]] = reinterpret_cast<float *>(kdac_smem + 49408); // 64x64 f32

// CHECK:          kdac::tileLoad<NT, 64, 128, 1>(k, [[OFF:v[0-9]+]], [[LOC]].rows, [[STRIDE:v[0-9]+]], [[K]], 128);
// CHECK-NEXT:     kdac::tileLoad<NT, 64, 128, 1>(g, [[OFF]], [[LOC]].rows, [[STRIDE]], [[G]], 128);
// A per-head beta broadcast into a 1-D tile (64 x 1, element stride 1).
// CHECK:          kdac::tileLoad<NT, 64, 1, 0>(beta, {{v[0-9]+}}, [[LOC]].rows, {{v[0-9]+}}, [[B]], 1);
// CHECK-NEXT:     __syncthreads();
// CHECK-NEXT:     kdac::sigmoidTile<NT, 64, 1>([[B]], 1, {{.*}});
// CHECK-NEXT:     kdac::cumsumRows<NT, 64, 128>([[G]], 128);
// CHECK-NEXT:     __syncthreads();
// CHECK-NEXT:     kdac::decayedGram<NT, 64, 128, false, 16>([[K]], 128, [[K]], 128, [[G]], 128, [[B]], 1, [[A]], 64, 1.0f);
// CHECK-NEXT:     __syncthreads();
// CHECK-NEXT:     kdac::triInverse<NT, 64>([[A]], 64, [[A]], 64);
// CHECK-NEXT:     __syncthreads();
// CHECK-NEXT:     const long long [[WO:v[0-9]+]] = [[SLOT]] * {{v[0-9]+}};
// CHECK-NEXT:     kdac::tileStore<NT, 64, 64, 1>([[A]], 64, ws_akk, [[WO]], [[LOC]].rows, {{v[0-9]+}});
// CHECK-NEXT:   }
// CHECK-NEXT: }

// -----

// Subviews offset the parent's pointer and keep its row stride; 1-D views of
// a column become n x 1 tiles whose ld is the parent's row stride.

module attributes {kdk.chunk_size = 64 : i64} {
  func.func @views(%o: memref<?xf32> {kdk.arg = #kdk.tensor<"o">}, %T: index {kdk.arg = #kdk.size<"T">})
      attributes {kdk.kernel, kdk.block_threads = 64 : i64, kdk.grid = #kdk.grid<batch, 1, 1>} {
    %c0 = arith.constant 0 : index
    %c64 = arith.constant 64 : index
    %s = kdk.alloc_tile : memref<64x64xf32, 3>
    %b = kdk.alloc_tile : memref<64x64xbf16, 3>
    %blk = memref.subview %s[16, 32] [16, 16] [1, 1] : memref<64x64xf32, 3> to memref<16x16xf32, strided<[64, 1], offset: 1056>, 3>
    %inner = memref.subview %blk[8, 0] [8, 16] [1, 1] : memref<16x16xf32, strided<[64, 1], offset: 1056>, 3> to memref<8x16xf32, strided<[64, 1], offset: 1568>, 3>
    %col = memref.subview %s[0, 5] [64, 1] [1, 1] : memref<64x64xf32, 3> to memref<64xf32, strided<[64], offset: 5>, 3>
    %even = memref.subview %s[0, 0] [32, 64] [2, 1] : memref<64x64xf32, 3> to memref<32x64xf32, strided<[128, 1]>, 3>
    kdk.fill %inner, 1.0 : memref<8x16xf32, strided<[64, 1], offset: 1568>, 3>
    kdk.fill %col, -2.5e-3 : memref<64xf32, strided<[64], offset: 5>, 3>
    %r = kdk.alloc_tile : memref<32x2xf32, 3>
    %rcol = memref.subview %r[0, 1] [32, 1] [1, 1] : memref<32x2xf32, 3> to memref<32xf32, strided<[2], offset: 1>, 3>
    kdk.scale_rows %even, %rcol : memref<32x64xf32, strided<[128, 1]>, 3>, memref<32xf32, strided<[2], offset: 1>, 3>
    %bblk = memref.subview %b[48, 48] [16, 16] [1, 1] : memref<64x64xbf16, 3> to memref<16x16xbf16, strided<[64, 1], offset: 3120>, 3>
    kdk.convert %blk into %bblk : memref<16x16xf32, strided<[64, 1], offset: 1056>, 3>, memref<16x16xbf16, strided<[64, 1], offset: 3120>, 3>
    kdk.store_tile %s into %o[%c0] rows(%T) row_stride(%c64) col_stride = 1 : memref<64x64xf32, 3>, memref<?xf32>
    return
  }
}

// CHECK:      // kernel "views" grid [batch, 1, 1] block_threads 64 dynamic_shared_bytes 24832
// CHECK-LABEL: extern "C" __global__ void __launch_bounds__(64) views(float *__restrict__ o, long long T) {
// CHECK:        float *const [[S:v[0-9]+]] = reinterpret_cast<float *>(kdac_smem + 0); // 64x64 f32
// CHECK-NEXT:   __nv_bfloat16 *const [[BT:v[0-9]+]] = reinterpret_cast<__nv_bfloat16 *>(kdac_smem + 16384); // 64x64 bf16
// CHECK-NEXT:   float *const [[BLK:v[0-9]+]] = [[S]] + 1056; // 16x16, ld 64
// A view of a view is relative to its parent: 1568 - 1056.
// CHECK-NEXT:   float *const [[INNER:v[0-9]+]] = [[BLK]] + 512; // 8x16, ld 64
// CHECK-NEXT:   float *const [[COL:v[0-9]+]] = [[S]] + 5; // 64, ld 64
// CHECK-NEXT:   float *const [[EVEN:v[0-9]+]] = [[S]] + 0; // 32x64, ld 128
// CHECK-NEXT:   kdac::tileFill<NT, 8, 16>([[INNER]], 64, 1.0f);
// CHECK-NEXT:   kdac::tileFill<NT, 64, 1>([[COL]], 64, -0.0025f);
// CHECK-NEXT:   float *const [[R:v[0-9]+]] = reinterpret_cast<float *>(kdac_smem + 24576); // 32x2 f32
// CHECK-NEXT:   float *const [[RCOL:v[0-9]+]] = [[R]] + 1; // 32, ld 2
// CHECK-NEXT:   kdac::scaleRows<NT, 32, 64>([[EVEN]], 128, [[RCOL]], 2, [[EVEN]], 128);
// CHECK-NEXT:   __nv_bfloat16 *const [[BBLK:v[0-9]+]] = [[BT]] + 3120; // 16x16, ld 64
// CHECK-NEXT:   kdac::tileConvert<NT, 16, 16>([[BLK]], 64, [[BBLK]], 64);
// CHECK-NEXT:   kdac::tileStore<NT, 64, 64, 1>([[S]], 64, o, {{v[0-9]+}}, T, {{v[0-9]+}});
// CHECK-NEXT: }
