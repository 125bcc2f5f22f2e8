// Register fragments and their token op round-trip through the parser.
// RUN: kda-opt %s -split-input-file | kda-opt | FileCheck %s

// CHECK-LABEL: func.func @fragments
// CHECK: %[[S:.*]] = kdk.alloc_tile : memref<128x32xbf16, #kdk.fragment<1, 8, 4>>
// CHECK: kdk.mma %{{.*}}, %[[S]] into %{{.*}} : memref<1x128xf32, 3>, memref<128x32xbf16, #kdk.fragment<1, 8, 4>>, memref<1x32xf32, 3>
// CHECK: kdk.delta_step %[[S]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} decay(%{{.*}} : memref<128xf32, 3>) into %{{.*}} additive scale = 2.500000e-01 : memref<128x32xbf16, #kdk.fragment<1, 8, 4>>
func.func @fragments() {
  %s = kdk.alloc_tile : memref<128x32xbf16, #kdk.fragment<1, 8, 4>>
  %k = kdk.alloc_tile : memref<1x128xf32, 3>
  %v = kdk.alloc_tile : memref<1x32xf32, 3>
  %d = kdk.alloc_tile : memref<128xf32, 3>
  kdk.mma %k, %s into %v : memref<1x128xf32, 3>, memref<128x32xbf16, #kdk.fragment<1, 8, 4>>, memref<1x32xf32, 3>
  %b = kdk.alloc_tile : memref<1xf32, 3>
  kdk.delta_step %s, %k, %k, %v, %b decay(%d : memref<128xf32, 3>) into %v additive scale = 2.5e-01 : memref<128x32xbf16, #kdk.fragment<1, 8, 4>>, memref<1x128xf32, 3>, memref<1x128xf32, 3>, memref<1x32xf32, 3>, memref<1xf32, 3>, memref<1x32xf32, 3>
  return
}

// -----

// The decode state streamed through shared memory: delta_step in place on
// a shared tile.
// CHECK-LABEL: func.func @shared_state
// CHECK: kdk.delta_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} into %{{.*}} : memref<128x32xbf16, 3>
// CHECK: kdk.delta_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} into %{{.*}} store_to %{{.*}}[%{{.*}}] row_stride(%{{.*}}) : memref<?xbf16> scale = 5.000000e-01 : memref<128x32xbf16, 3>
func.func @shared_state(%dst: memref<?xbf16>, %offset: index, %stride: index) {
  %s = kdk.alloc_tile : memref<128x32xbf16, 3>
  %k = kdk.alloc_tile : memref<1x128xf32, 3>
  %v = kdk.alloc_tile : memref<1x32xf32, 3>
  %b = kdk.alloc_tile : memref<1xf32, 3>
  kdk.delta_step %s, %k, %k, %v, %b into %v : memref<128x32xbf16, 3>, memref<1x128xf32, 3>, memref<1x128xf32, 3>, memref<1x32xf32, 3>, memref<1xf32, 3>, memref<1x32xf32, 3>
  kdk.delta_step %s, %k, %k, %v, %b into %v store_to %dst[%offset] row_stride(%stride) : memref<?xbf16> scale = 0.5 : memref<128x32xbf16, 3>, memref<1x128xf32, 3>, memref<1x128xf32, 3>, memref<1x32xf32, 3>, memref<1xf32, 3>, memref<1x32xf32, 3>
  return
}

// -----

// Tensor-core accumulator fragments, asynchronous tile loads and the
// tensor-core gram.
// CHECK-LABEL: func.func @accumulators
// CHECK: %[[S:.*]] = kdk.alloc_tile : memref<64x32xf32, #kdk.mma_fragment>
// CHECK: kdk.load_tile %{{.*}}[%{{.*}}] rows(%{{.*}}) row_stride(%{{.*}}) col_stride = 1 into %[[W:.*]] async : memref<?xbf16>, memref<16x64xbf16, 3>
// CHECK-NEXT: kdk.wait_async
// CHECK: kdk.mma %[[W]], %[[S]] into %{{.*}} accumulate alpha = -1.000000e+00 : memref<16x64xbf16, 3>, memref<64x32xf32, #kdk.mma_fragment>, memref<16x32xf32, #kdk.mma_fragment>
// CHECK: kdk.mma %[[W]], %{{.*}} into %[[S]] transpose_lhs accumulate : memref<16x64xbf16, 3>, memref<16x32xf32, #kdk.mma_fragment>, memref<64x32xf32, #kdk.mma_fragment>
// CHECK: kdk.decayed_gram {{.*}} mask = strict scale = 1.000000e+00 tensor_cores :
// CHECK: kdk.decayed_gram {{.*}} mask = inclusive scale = 1.000000e+00 tensor_cores first_warp = 2 :
func.func @accumulators(%ws: memref<?xbf16>, %off: index, %rows: index) {
  %s = kdk.alloc_tile : memref<64x32xf32, #kdk.mma_fragment>
  %v = kdk.alloc_tile : memref<16x32xf32, #kdk.mma_fragment>
  %w = kdk.alloc_tile : memref<16x64xbf16, 3>
  kdk.load_tile %ws[%off] rows(%rows) row_stride(%rows) col_stride = 1 into %w async : memref<?xbf16>, memref<16x64xbf16, 3>
  kdk.wait_async
  kdk.barrier
  kdk.mma %w, %s into %v accumulate alpha = -1.0 : memref<16x64xbf16, 3>, memref<64x32xf32, #kdk.mma_fragment>, memref<16x32xf32, #kdk.mma_fragment>
  kdk.mma %w, %v into %s transpose_lhs accumulate : memref<16x64xbf16, 3>, memref<16x32xf32, #kdk.mma_fragment>, memref<64x32xf32, #kdk.mma_fragment>
  %k = kdk.alloc_tile : memref<16x64xf32, 3>
  %gram = kdk.alloc_tile : memref<16x16xf32, 3>
  kdk.decayed_gram %k, %k, %k into %gram mask = strict scale = 1.0 tensor_cores : memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x16xf32, 3>
  %gram2 = kdk.alloc_tile : memref<16x16xf32, 3>
  kdk.decayed_gram %k, %k, %k into %gram2 mask = inclusive scale = 1.0 tensor_cores first_warp = 2 : memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x16xf32, 3>
  return
}

// -----

// The fused forms of the chunk-parallel kernel: an activation that also
// takes the gate's cumsum, a row scale that rounds into an operand tile, and
// decayed rows stored straight to a workspace.
// CHECK-LABEL: func.func @fused_prologue
// CHECK: kdk.gate_activation lowerbound %{{.*}} head(%{{.*}}) rows(%{{.*}}) lower_bound = -5.000000e+00 cumulative : memref<16x64xf32, 3>
// CHECK: kdk.scale_rows %{{.*}}, %{{.*}} into %{{.*}} : memref<16x64xf32, 3>, memref<16xf32, 3>, memref<16x64xbf16, 3>
// CHECK: kdk.store_decayed_rows %{{.*}}, %{{.*}} into %{{.*}}[%{{.*}}] rows(%{{.*}}) row_stride(%{{.*}}) to_last scale = 5.000000e-01 : memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<?xbf16>
func.func @fused_prologue(%head: index, %rows: index, %ws: memref<?xbf16>) {
  %g = kdk.alloc_tile : memref<16x64xf32, 3>
  kdk.gate_activation lowerbound %g head(%head) rows(%rows) lower_bound = -5.0 cumulative : memref<16x64xf32, 3>
  %beta = kdk.alloc_tile : memref<16xf32, 3>
  %vb = kdk.alloc_tile : memref<16x64xbf16, 3>
  kdk.scale_rows %g, %beta into %vb : memref<16x64xf32, 3>, memref<16xf32, 3>, memref<16x64xbf16, 3>
  kdk.store_decayed_rows %g, %g into %ws[%head] rows(%rows) row_stride(%rows) to_last scale = 0.5 : memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<?xbf16>
  return
}

// -----

// CHECK-LABEL: func.func @tf32_products
// CHECK: kdk.mma %{{.*}}, %{{.*}} into %{{.*}} transpose_lhs transpose_rhs tf32 accumulate alpha = -1.000000e+00 : memref<32x16xf32, 3>, memref<8x32xf32, 3>, memref<16x8xf32, 3>
func.func @tf32_products(%a: memref<32x16xf32, 3>, %b: memref<8x32xf32, 3>, %c: memref<16x8xf32, 3>) {
  kdk.mma %a, %b into %c transpose_lhs transpose_rhs tf32 accumulate alpha = -1.0 : memref<32x16xf32, 3>, memref<8x32xf32, 3>, memref<16x8xf32, 3>
  return
}

// -----

// A state read in place from its workspace by a product and a row dot, and
// partial sums added in place.
// CHECK-LABEL: func.func @global_tiles
// CHECK: %[[S:.*]] = kdk.global_tile %{{.*}}[%{{.*}}] : memref<?xf32> -> memref<32x32xf32, strided<[32, 1]>>
// CHECK: kdk.mma %{{.*}}, %[[S]] into %{{.*}} tf32 : memref<16x32xf32, 3>, memref<32x32xf32, strided<[32, 1]>>, memref<16x32xf32, 3>
// CHECK: kdk.row_dot %[[S]], %[[S]] into %{{.*}} : memref<32x32xf32, strided<[32, 1]>>
// CHECK: %[[P:.*]] = kdk.global_tile %{{.*}}[%{{.*}}] : memref<?xf32> -> memref<1x32xf32, strided<[32, 1]>>
// CHECK: kdk.add %{{.*}}, %[[P]] into %{{.*}} : memref<1x32xf32, 3>, memref<1x32xf32, strided<[32, 1]>>, memref<1x32xf32, 3>
func.func @global_tiles(%ws: memref<?xf32>, %i: index, %a: memref<16x32xf32, 3>, %c: memref<16x32xf32, 3>, %r: memref<32xf32, 3>, %sum: memref<1x32xf32, 3>) {
  %s = kdk.global_tile %ws[%i] : memref<?xf32> -> memref<32x32xf32, strided<[32, 1]>>
  kdk.mma %a, %s into %c tf32 : memref<16x32xf32, 3>, memref<32x32xf32, strided<[32, 1]>>, memref<16x32xf32, 3>
  kdk.row_dot %s, %s into %r : memref<32x32xf32, strided<[32, 1]>>, memref<32x32xf32, strided<[32, 1]>>, memref<32xf32, 3>
  %p = kdk.global_tile %ws[%i] : memref<?xf32> -> memref<1x32xf32, strided<[32, 1]>>
  kdk.add %sum, %p into %sum : memref<1x32xf32, 3>, memref<1x32xf32, strided<[32, 1]>>, memref<1x32xf32, 3>
  return
}

// -----

// A token group: delta_step on row %t of 8-row tiles, the decays made by
// kdk.exp from the gate rows in place.
// CHECK-LABEL: func.func @token_group
// CHECK: kdk.exp %[[G:.*]] into %[[G]] : memref<8x128xf32, 3>, memref<8x128xf32, 3>
// CHECK: kdk.delta_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} token(%{{.*}}) decay(%[[G]] : memref<8x128xf32, 3>) into %{{.*}} : memref<128x32xf32, #kdk.fragment<1, 4, 8>>, memref<8x128xf32, 3>
func.func @token_group(%t: index) {
  %s = kdk.alloc_tile : memref<128x32xf32, #kdk.fragment<1, 4, 8>>
  %q = kdk.alloc_tile : memref<8x128xf32, 3>
  %g = kdk.alloc_tile : memref<8x128xf32, 3>
  %v = kdk.alloc_tile : memref<8x32xf32, 3>
  %b = kdk.alloc_tile : memref<8xf32, 3>
  kdk.exp %g into %g : memref<8x128xf32, 3>, memref<8x128xf32, 3>
  kdk.delta_step %s, %q, %q, %v, %b token(%t) decay(%g : memref<8x128xf32, 3>) into %v : memref<128x32xf32, #kdk.fragment<1, 4, 8>>, memref<8x128xf32, 3>, memref<8x128xf32, 3>, memref<8x32xf32, 3>, memref<8xf32, 3>, memref<8x32xf32, 3>
  return
}
