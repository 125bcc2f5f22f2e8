// convert-kda-to-kdk lowers the split chunk loop (kda-chunk-split): the map
// becomes a chunk-parallel kernel writing workspaces, the scan a recurrence
// kernel walking chunks.
// RUN: kda-opt %s -split-input-file --kda-chunked-pipeline="chunk-size=32 ut-method=blocked diag-method=forward-substitution" \
// RUN:   --kda-chunk-split --convert-kda-to-kdk="block-threads=128 v-tile=32" --canonicalize | FileCheck %s
// RUN: kda-opt %s -split-input-file --kda-chunked-pipeline="chunk-size=32 ut-method=blocked diag-method=forward-substitution" \
// RUN:   --kda-chunk-split --convert-kda-to-kdk="block-threads=128 v-tile=32" --canonicalize | FileCheck %s --check-prefix=F32
// RUN: not kda-opt %s -split-input-file --kda-chunk=chunk-size=32 --kda-chunk-split --convert-kda-to-kdk="v-tile=48" 2>&1 | FileCheck %s --check-prefix=BADTILE
// BADTILE: convert-kda-to-kdk: v-tile 48 does not divide V = 64

// CHECK-LABEL: func.func @kda_chunk_prep(
// CHECK-SAME: memref<?xbf16> {kdk.arg = #kdk.tensor<"q">}
// CHECK-SAME: {kdk.arg = #kdk.workspace<"u", bytes_per_slot = 16384>}
// CHECK-SAME: {kdk.arg = #kdk.workspace<"w", bytes_per_slot = 8192>}
// CHECK-SAME: index {kdk.arg = #kdk.size<"T">})
// CHECK-SAME: attributes {kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<chunk_slots, 2, 1>, kdk.kernel}
// CHECK: %[[SLOT:.*]] = kdk.block_id 0
// CHECK: %[[VALID:.*]], %{{.*}}, %{{.*}}, %{{.*}}, %[[ROWS:.*]] = kdk.locate_chunk %[[SLOT]] T(%{{.*}}) chunk_size = 32
// CHECK: scf.if %[[VALID]]
// CHECK: kdk.load_tile %arg0[%{{.*}}] rows(%[[ROWS]]) row_stride(%{{.*}}) col_stride = 1 into %{{.*}} : memref<?xbf16>, memref<32x64xf32, strided<[68, 1]>, 3>
// v, only ever scaled into a bf16 operand, stays bf16 in shared memory.
// CHECK: kdk.load_tile %arg2[%{{.*}}] {{.*}} into %[[V:.*]] : memref<?xbf16>, memref<32x64xbf16, strided<[72, 1]>, 3>
// CHECK: kdk.l2norm_rows
// The gate's cumsum rides on its activation (one thread per column).
// CHECK: kdk.gate_activation none {{.*}} cumulative
// CHECK: kdk.barrier
// Ops run in the first phase after their operands exist: both grams and the
// decays of q and k (written straight to their workspaces) share the phase
// after the cumsum.
// CHECK: kdk.store_decayed_rows {{.*}} scale = 1.250000e-01
// CHECK: kdk.store_decayed_rows {{.*}} to_last
// CHECK-NOT: kdk.barrier
// CHECK: kdk.decayed_gram {{.*}} mask = strict scale = 1.000000e+00 anchor_block = 16
// CHECK-NOT: kdk.barrier
// CHECK: kdk.decayed_gram {{.*}} mask = inclusive scale = 1.250000e-01
// CHECK-NEXT: kdk.barrier
// CHECK: kdk.tri_inverse
// CHECK: kdk.mma {{.*}} : memref<16x16xf32, {{.*}}>, memref<16x16xf32, strided<[20, 1]>, 3>, memref<16x16xf32, strided<[20, 1]>, 3>
// beta v is scaled in place: v has no other reader.
// CHECK: kdk.scale_rows %[[V]], %{{.*}} into %[[V]] : memref<32x64xbf16, strided<[72, 1]>, 3>, memref<32xf32, 3>, memref<32x64xbf16, strided<[72, 1]>, 3>
// CHECK: kdk.mma {{.*}} : memref<32x32xbf16, strided<[40, 1]>, 3>, memref<32x64xbf16, strided<[72, 1]>, 3>, memref<32x64xf32, strided<[68, 1]>, 3>
// CHECK: kdk.store_tile

// CHECK-LABEL: func.func @kda_chunk_recurrence(
// CHECK-SAME: {kdk.arg = #kdk.tensor<"initial_state">}
// CHECK-SAME: {kdk.arg = #kdk.tensor<"o">}
// CHECK-SAME: {kdk.arg = #kdk.tensor<"final_state">}
// CHECK-SAME: kdk.block_threads = 64 : i64, kdk.grid = #kdk.grid<2, 2, sequences>
// bf16 operands: the state, v' and o live in tensor-core accumulators, one
// 16-column tile per warp; the chunk tiles alternate between two buffers.
// CHECK-DAG: %[[VALUES_NEXT:.*]] = kdk.alloc_tile : memref<32x32xf32, #kdk.mma_fragment>
// CHECK-DAG: %[[OUT:.*]] = kdk.alloc_tile : memref<32x32xf32, #kdk.mma_fragment>
// CHECK-DAG: %[[VALUES:.*]] = kdk.alloc_tile : memref<32x32xf32, #kdk.mma_fragment>
// CHECK-DAG: %[[STATE:.*]] = kdk.alloc_tile : memref<64x32xf32, #kdk.mma_fragment>
// CHECK: kdk.sequence_range
// CHECK: kdk.load_tile %arg0[%{{.*}}] rows(%c64) row_stride(%c64) col_stride = 1 into %[[STATE]]
// The first chunk's loads, then the loop over pairs of chunks.
// CHECK: scf.if
// CHECK: kdk.load_tile %arg1[%{{.*}}] rows(%c32) {{.*}} into %[[VALUES]]
// CHECK: kdk.load_tile %arg2[%{{.*}}] {{.*}} async
// CHECK: scf.for %{{.*}} = %c0 to %num_chunks step %c2
// CHECK: kdk.wait_async
// CHECK-NEXT: kdk.barrier
// CHECK: scf.if
// CHECK: kdk.load_tile %arg1[%{{.*}}] rows(%c32) {{.*}} into %[[VALUES_NEXT]]
// CHECK: kdk.mma %{{.*}}, %[[STATE]] into %[[OUT]] :
// CHECK: kdk.mma %{{.*}}, %[[STATE]] into %[[VALUES]] accumulate alpha = -1.000000e+00
// CHECK: kdk.mma %{{.*}}, %[[VALUES]] into %[[OUT]] accumulate
// CHECK: kdk.store_tile %[[OUT]] into %arg{{[0-9]+}}[%{{.*}}] rows(%{{.*}}) row_stride(%c128)
// CHECK: kdk.scale_rows %[[STATE]]
// CHECK: kdk.mma %{{.*}}, %[[VALUES]] into %[[STATE]] transpose_lhs accumulate
// The second chunk of the pair runs on the other buffers.
// CHECK: scf.if
// CHECK: kdk.wait_async
// CHECK: kdk.mma %{{.*}}, %[[VALUES_NEXT]] into %[[STATE]] transpose_lhs accumulate
// CHECK: kdk.store_tile %[[STATE]] into
func.func @kda_forward(%q: tensor<1x?x2x64xbf16>, %k: tensor<1x?x2x64xbf16>,
    %v: tensor<1x?x2x64xbf16>, %g: tensor<1x?x2x64xf32>, %beta: tensor<1x?x2xbf16>,
    %s0: tensor<1x2x64x64xf32>) -> (tensor<1x?x2x64xbf16>, tensor<1x2x64x64xf32>) {
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) initial_state(%s0)
      gate = channel update = delta qk_l2norm
      : (tensor<1x?x2x64xbf16>, tensor<1x?x2x64xbf16>, tensor<1x?x2x64xbf16>,
         tensor<1x?x2x64xf32>, tensor<1x?x2xbf16>, tensor<1x2x64x64xf32>)
        -> (tensor<1x?x2x64xbf16>, tensor<1x2x64x64xf32>)
  return %o, %s : tensor<1x?x2x64xbf16>, tensor<1x2x64x64xf32>
}

// -----

// f32 operands keep the state in shared memory and the f32 products.
// F32: func.func @kda_chunk_prep(%arg0: memref<?xf32> {kdk.arg = #kdk.tensor<"q">}
// F32: func.func @kda_chunk_recurrence(
// F32-SAME: kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<2, 2, sequences>
// Tile rows are padded by 16 bytes against bank conflicts; ops see views.
// F32: %[[STATE_ROWS:.*]] = kdk.alloc_tile : memref<64x36xf32, 3>
// F32-NEXT: %[[STATE:.*]] = memref.subview %[[STATE_ROWS]][0, 0] [64, 32] [1, 1] : memref<64x36xf32, 3> to memref<64x32xf32, strided<[36, 1]>, 3>
// F32: scf.for
// F32: kdk.mma %{{.*}}, %{{.*}} into %{{.*}} accumulate alpha = -1.000000e+00
// F32: kdk.scale_rows %[[STATE]]
// F32: kdk.mma %{{.*}}, %{{.*}} into %[[STATE]] transpose_lhs accumulate
// F32: kdk.store_tile %[[STATE]] into
func.func @kda_forward_f32(%q: tensor<1x?x2x64xf32>, %k: tensor<1x?x2x64xf32>,
    %v: tensor<1x?x2x64xf32>, %g: tensor<1x?x2x64xf32>, %beta: tensor<1x?x2xf32>,
    %s0: tensor<1x2x64x64xf32>) -> (tensor<1x?x2x64xf32>, tensor<1x2x64x64xf32>) {
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) initial_state(%s0)
      gate = channel update = delta qk_l2norm
      : (tensor<1x?x2x64xf32>, tensor<1x?x2x64xf32>, tensor<1x?x2x64xf32>,
         tensor<1x?x2x64xf32>, tensor<1x?x2xf32>, tensor<1x2x64x64xf32>)
        -> (tensor<1x?x2x64xf32>, tensor<1x2x64x64xf32>)
  return %o, %s : tensor<1x?x2x64xf32>, tensor<1x2x64x64xf32>
}
