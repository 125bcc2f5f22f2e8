// RUN: kda-opt %s -split-input-file --kdk-allocate-shared-memory | kdac-translate --kdk-to-cuda -split-input-file | FileCheck %s

// A register fragment (memory space 5) is a kdac::Fragment whose type holds
// its shape and #kdk.fragment layout, takes no shared memory, and its ops call
// the kdac_fragment.cuh functions without shapes.

!frag = memref<128x32xf32, #kdk.fragment<1, 4, 8>>
!row = memref<1x128xf32, 3>
!vrow = memref<1x32xf32, 3>
module attributes {kdk.chunk_size = 1 : i64} {
  func.func @fragments(%pool: memref<?xbf16> {kdk.arg = #kdk.tensor<"state_pool">},
                       %slots: memref<?xi32> {kdk.arg = #kdk.tensor<"state_indices">})
      attributes {kdk.kernel, kdk.block_threads = 32 : i64, kdk.grid = #kdk.grid<4, 8, sequences>} {
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
    %b = kdk.alloc_tile : memref<1xf32, 3>
    kdk.delta_step %s, %k, %k, %v, %b decay(%decay : memref<128xf32, 3>) into %v scale = 0.5 : !frag, !row, !row, !vrow, memref<1xf32, 3>, !vrow
    kdk.store_tile %s into %pool[%slot] rows(%c128) row_stride(%c128) col_stride = 1 : !frag, memref<?xbf16>
    return
  }
}

// CHECK: // kernel "fragments" grid [4, 8, sequences] block_threads 32 dynamic_shared_bytes 1280
// CHECK-LABEL: fragments(__nv_bfloat16 *__restrict__ state_pool, const int *__restrict__ state_indices) {
// CHECK:      const long long [[SLOT:v[0-9]+]] = (long long)state_indices[[[SEQ:v[0-9]+]]];
// CHECK-NEXT: kdac::Fragment<kdac::FragmentLayout<NT, 128, 32, 1, 4, 8>, float> [[S:v[0-9]+]]; // 128 elements per thread
// CHECK-NEXT: float *const [[K:v[0-9]+]] = {{.*}}(kdac_smem + 0);
// CHECK-NEXT: float *const [[V:v[0-9]+]] = {{.*}}(kdac_smem + 512);
// CHECK-NEXT: float *const [[D:v[0-9]+]] = {{.*}}(kdac_smem + 640);
// CHECK-NEXT: kdac::fragmentLoad(state_pool, [[SLOT]], {{v[0-9]+}}, 1, [[S]]);
// CHECK-NEXT: kdac::fragmentFill([[S]], 0.0f);
// CHECK-NEXT: kdac::fragmentScaleRows([[S]], [[D]], 1);
// CHECK-NEXT: kdac::fragmentVectorTimes<false>([[K]], 1, [[S]], [[V]], 1, 0.5f);
// CHECK-NEXT: kdac::fragmentRankOneUpdate([[K]], 1, [[V]], 1, [[S]], 1.0f);
// CHECK-NEXT: float *const [[B:v[0-9]+]] = {{.*}}(kdac_smem + 1152);
// CHECK-NEXT: kdac::fragmentDeltaStep<false, true>([[S]], [[K]], 1, [[K]], 1, [[V]], 1, [[B]], [[D]], 1, [[V]], 1, 0.5f);
// CHECK-NEXT: kdac::fragmentStore([[S]], state_pool, [[SLOT]], {{v[0-9]+}}, 1);

// -----

// A bf16 fragment of the vk layout (rows contiguous in memory) keeps its
// storage type: two elements per register. Four warps own 32 columns each.

!frag = memref<128x128xbf16, #kdk.fragment<0, 8, 8>>
module attributes {kdk.chunk_size = 1 : i64} {
  func.func @packed(%s0: memref<?xbf16> {kdk.arg = #kdk.tensor<"initial_state">})
      attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 8, sequences>} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c128 = arith.constant 128 : index
    %s = kdk.alloc_tile : !frag
    %k = kdk.alloc_tile : memref<1x128xf32, 3>
    %v = kdk.alloc_tile : memref<1x128xf32, 3>
    %b = kdk.alloc_tile : memref<1xf32, 3>
    kdk.load_tile %s0[%c0] rows(%c128) row_stride(%c1) col_stride = 128 into %s : memref<?xbf16>, !frag
    kdk.mma %k, %s into %v : memref<1x128xf32, 3>, !frag, memref<1x128xf32, 3>
    kdk.delta_step %s, %k, %k, %v, %b into %v additive scale = 0.25 : !frag, memref<1x128xf32, 3>, memref<1x128xf32, 3>, memref<1x128xf32, 3>, memref<1xf32, 3>, memref<1x128xf32, 3>
    return
  }
}

// CHECK-LABEL: packed(
// CHECK:      kdac::Fragment<kdac::FragmentLayout<NT, 128, 128, 0, 8, 8>, __nv_bfloat16> [[P:v[0-9]+]]; // 128 elements per thread
// CHECK:      kdac::fragmentLoad(initial_state, {{v[0-9]+}}, {{v[0-9]+}}, 128, [[P]]);
// CHECK-NEXT: kdac::fragmentVectorTimes<false>({{v[0-9]+}}, 1, [[P]], {{v[0-9]+}}, 1, 1.0f);
// CHECK-NEXT: kdac::fragmentDeltaStep<true, false>([[P]], [[K:v[0-9]+]], 1, [[K]], 1, [[V:v[0-9]+]], 1, {{v[0-9]+}}, (const float *)nullptr, 0, [[V]], 1, 0.25f);

// -----

// Tensor-core accumulator fragments (#kdk.mma_fragment) are kdac::MmaFragments:
// two warps own one 16-column tile each; products with them call
// fragmentMma, and a fragment's store takes the real rows. Asynchronous
// loads become cp.async copies and kdk.wait_async their wait.

!state = memref<64x32xf32, #kdk.mma_fragment>
!acc = memref<16x32xf32, #kdk.mma_fragment>
!tile = memref<16x64xbf16, 3>
module attributes {kdk.chunk_size = 16 : i64} {
  func.func @accumulators(%ws: memref<?xbf16> {kdk.arg = #kdk.tensor<"k">},
                          %o: memref<?xbf16> {kdk.arg = #kdk.tensor<"o">})
      attributes {kdk.kernel, kdk.block_threads = 64 : i64, kdk.grid = #kdk.grid<1, 1, sequences>} {
    %c0 = arith.constant 0 : index
    %c5 = arith.constant 5 : index
    %c16 = arith.constant 16 : index
    %c64 = arith.constant 64 : index
    %s = kdk.alloc_tile : !state
    %v = kdk.alloc_tile : !acc
    %w = kdk.alloc_tile : !tile
    kdk.load_tile %ws[%c0] rows(%c16) row_stride(%c64) col_stride = 1 into %w async : memref<?xbf16>, !tile
    kdk.wait_async
    kdk.barrier
    kdk.fill %s, 0.0 : !state
    kdk.mma %w, %s into %v accumulate alpha = -1.0 : !tile, !state, !acc
    kdk.mma %w, %v into %s transpose_lhs accumulate : !tile, !acc, !state
    kdk.store_tile %v into %o[%c0] rows(%c5) row_stride(%c64) col_stride = 1 : !acc, memref<?xbf16>
    return
  }
}

// CHECK-LABEL: accumulators(const __nv_bfloat16 *__restrict__ k, __nv_bfloat16 *__restrict__ o) {
// CHECK: kdac::MmaFragment<NT, 64, 32> [[S:v[0-9]+]]; // 32 accumulators per thread
// CHECK-NEXT: kdac::MmaFragment<NT, 16, 32> [[V:v[0-9]+]]; // 8 accumulators per thread
// CHECK: kdac::tileLoadAsync<NT, 16, 64, 1>(k, {{v[0-9]+}}, {{v[0-9]+}}, {{v[0-9]+}}, [[W:v[0-9]+]], 64);
// CHECK-NEXT: kdac::cpAsyncWaitAll();
// CHECK-NEXT: __syncthreads();
// CHECK-NEXT: kdac::fragmentFill([[S]], 0.0f);
// CHECK-NEXT: kdac::fragmentMma<false, true>([[W]], 64, [[S]], [[V]], -1.0f);
// CHECK-NEXT: kdac::fragmentMma<true, true>([[W]], 64, [[V]], [[S]], 1.0f);
// CHECK-NEXT: kdac::fragmentStoreRows([[V]], o, {{v[0-9]+}}, {{v[0-9]+}}, {{v[0-9]+}}, 1);

// -----

// kdk.delta_step on a shared state tile (the streamed decode state) calls
// sharedDeltaStep with the tile's shape and row stride; it updates the tile
// in place and the tile is stored like any shared one, or, with store_to,
// the call also takes the buffer (written, so not const), offset and row
// stride.

!state = memref<128x64xbf16, 3>
!row = memref<1x128xf32, 3>
!vrow = memref<1x64xf32, 3>
module attributes {kdk.chunk_size = 1 : i64} {
  func.func @shared_state(%s0: memref<?xbf16> {kdk.arg = #kdk.tensor<"initial_state">},
                          %sT: memref<?xbf16> {kdk.arg = #kdk.tensor<"final_state">})
      attributes {kdk.kernel, kdk.block_threads = 64 : i64, kdk.grid = #kdk.grid<2, 8, sequences>} {
    %c0 = arith.constant 0 : index
    %c128 = arith.constant 128 : index
    %s = kdk.alloc_tile : !state
    %k = kdk.alloc_tile : !row
    %v = kdk.alloc_tile : !vrow
    %b = kdk.alloc_tile : memref<1xf32, 3>
    kdk.load_tile %s0[%c0] rows(%c128) row_stride(%c128) col_stride = 1 into %s async : memref<?xbf16>, !state
    kdk.wait_async
    kdk.barrier
    kdk.delta_step %s, %k, %k, %v, %b into %v scale = 0.25 : !state, !row, !row, !vrow, memref<1xf32, 3>, !vrow
    kdk.barrier
    kdk.store_tile %s into %sT[%c0] rows(%c128) row_stride(%c128) col_stride = 1 : !state, memref<?xbf16>
    kdk.delta_step %s, %k, %k, %v, %b into %v store_to %sT[%c128] row_stride(%c128) : memref<?xbf16> scale = 0.25 : !state, !row, !row, !vrow, memref<1xf32, 3>, !vrow
    return
  }
}

// CHECK-LABEL: shared_state(const __nv_bfloat16 *__restrict__ initial_state, __nv_bfloat16 *__restrict__ final_state)
// CHECK:      __nv_bfloat16 *const [[S:v[0-9]+]] = reinterpret_cast<__nv_bfloat16 *>(kdac_smem + 0); // 128x64 bf16
// CHECK:      kdac::tileLoadAsync<NT, 128, 64, 1>(initial_state, {{v[0-9]+}}, {{v[0-9]+}}, {{v[0-9]+}}, [[S]], 64);
// CHECK-NEXT: kdac::cpAsyncWaitAll();
// CHECK-NEXT: __syncthreads();
// CHECK-NEXT: kdac::sharedDeltaStep<false, false, NT, 128, 64>([[S]], 64, [[K:v[0-9]+]], 1, [[K]], 1, [[V:v[0-9]+]], 1, {{v[0-9]+}}, (const float *)nullptr, 0, [[V]], 1, 0.25f);
// CHECK-NEXT: __syncthreads();
// CHECK-NEXT: kdac::tileStore<NT, 128, 64, 1>([[S]], 64, final_state,
// CHECK-NEXT: kdac::sharedDeltaStep<false, false, NT, 128, 64>([[S]], 64, [[K]], 1, [[K]], 1, [[V]], 1, {{v[0-9]+}}, (const float *)nullptr, 0, [[V]], 1, 0.25f, final_state, [[C128:v[0-9]+]], [[C128]]);
