// RUN: kdac-emit-cuda %s | FileCheck %s

// A register fragment (memory space 5) is a per-thread array, takes no
// shared memory, and its ops call the kdac_fragment.cuh functions.

!frag = memref<128x32xf32, 5>
!row = memref<1x128xf32, 3>
!vrow = memref<1x32xf32, 3>
module attributes {kdk.chunk_size = 1 : i64} {
  func.func @fragments(%pool: memref<?xbf16> {kdk.param = "state_pool"},
                       %slots: memref<?xi32> {kdk.param = "state_indices"})
      attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = ["4", "8", "sequences"]} {
    %c0 = arith.constant 0 : index
    %c128 = arith.constant 128 : index
    %seq = kdk.block_id 2
    %slot = kdk.load_index %slots[%seq] : memref<?xi32>
    %s = kdk.alloc_tile : !frag
    %k = kdk.alloc_tile : !row
    %v = kdk.alloc_tile : !vrow
    %decay = kdk.alloc_tile : memref<128xf32, 3>
    kdk.load_tile %pool[%slot] rows(%c128) row_stride(%c128) col_stride = 1 into %s : memref<?xbf16>, !frag
    kdk.fill %s, 0.0 : !frag
    kdk.scale_rows %s, %decay : !frag, memref<128xf32, 3>
    kdk.mma %k, %s into %v alpha = 0.5 : !row, !frag, !vrow
    kdk.mma %k, %v into %s transpose_lhs accumulate : !row, !vrow, !frag
    kdk.store_tile %s into %pool[%slot] rows(%c128) row_stride(%c128) col_stride = 1 : !frag, memref<?xbf16>
    return
  }
}

// CHECK: // kernel "fragments" grid [4, 8, sequences] block_threads 128 dynamic_shared_bytes 1152
// CHECK-LABEL: fragments(__nv_bfloat16 *__restrict__ state_pool, const int *__restrict__ state_indices) {
// CHECK:      const long long [[SLOT:v[0-9]+]] = (long long)state_indices[[[SEQ:v[0-9]+]]];
// CHECK-NEXT: float [[S:v[0-9]+]][32]; // 128x32 f32 fragment, 4 threads per column
// CHECK-NEXT: float *const [[K:v[0-9]+]] = {{.*}}(kdac_smem + 0);
// CHECK-NEXT: float *const [[V:v[0-9]+]] = {{.*}}(kdac_smem + 512);
// CHECK-NEXT: float *const [[D:v[0-9]+]] = {{.*}}(kdac_smem + 640);
// CHECK-NEXT: kdac::fragmentLoad<NT, 128, 32, 1>(state_pool, [[SLOT]], {{v[0-9]+}}, [[S]]);
// CHECK-NEXT: kdac::fragmentFill<NT, 128, 32>([[S]], 0.0f);
// CHECK-NEXT: kdac::fragmentScaleRows<NT, 128, 32>([[S]], [[D]], 1);
// CHECK-NEXT: kdac::fragmentVectorTimes<NT, 128, 32, false>([[K]], 1, [[S]], [[V]], 1, 0.5f);
// CHECK-NEXT: kdac::fragmentRankOneUpdate<NT, 128, 32>([[K]], 1, [[V]], 1, [[S]], 1.0f);
// CHECK-NEXT: kdac::fragmentStore<NT, 128, 32, 1>([[S]], state_pool, [[SLOT]], {{v[0-9]+}});
