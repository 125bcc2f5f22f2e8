// convert-kda-commit-to-kdk: one block per (V tile, value head, sequence)
// copies its slot's slice into shared memory by cp.async, loads the first
// min(num_accepted, T) records (rows past them zero-filled), and writes the
// prefix's state straight back with kdk.chunk_state_store; a negative slot
// or count skips the block.
// RUN: kda-opt %s -split-input-file --convert-kda-commit-to-kdk --canonicalize | FileCheck %s
// RUN: kda-opt %s -split-input-file --convert-kda-commit-to-kdk="v-tile=32" --canonicalize | FileCheck %s --check-prefix=VTILE
// RUN: not kda-opt %s -split-input-file --convert-kda-commit-to-kdk="v-tile=48" 2>&1 | FileCheck %s --check-prefix=BADTILE

// CHECK-LABEL: func.func @kda_commit(
// CHECK-SAME: {kdk.arg = #kdk.tensor<"state_pool">}
// CHECK-SAME: {kdk.arg = #kdk.tensor<"token_records">}
// CHECK-SAME: kdk.grid = #kdk.grid<1, 2, sequences>
// CHECK: %[[SLOT:.*]] = kdk.load_index %arg1
// CHECK: %[[COUNT:.*]] = kdk.load_index %arg2
// CHECK: %[[KEPT:.*]] = arith.minsi %[[COUNT]], %c3
// CHECK: scf.if
// CHECK: kdk.load_tile %arg0[%[[OFF:.*]]] rows(%c32) row_stride(%c64) col_stride = 1 into %[[S:[^ ]*]] async
// CHECK: kdk.load_tile %arg3[%{{.*}}] rows(%[[KEPT]]) row_stride(%c256) col_stride = 1 into %[[K:[^ ]*]] :
// CHECK: kdk.load_tile %arg3[%{{.*}}] rows(%[[KEPT]]) row_stride(%c256) col_stride = 1 into %[[G:[^ ]*]] :
// CHECK: kdk.load_tile %arg3[%{{.*}}] rows(%[[KEPT]]) row_stride(%c256) col_stride = 1 into %[[V:[^ ]*]] :
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.cumsum_rows %[[G]]
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.decay_rows %[[K]], %[[G]] into %[[KE:[^ ]*]] to_last
// CHECK-NEXT: kdk.last_row_exp %[[G]] into %[[D:[^ ]*]] :
// CHECK-NEXT: kdk.wait_async
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.chunk_state_store %[[S]], %[[D]], %[[KE]], %[[V]] to %arg0[%[[OFF]]] row_stride(%c64)
// VTILE-LABEL: func.func @kda_commit(
// VTILE-SAME: kdk.grid = #kdk.grid<2, 2, sequences>
// VTILE: memref<32x40xbf16, 3>
// BADTILE: error: convert-kda-commit-to-kdk: v-tile 48 does not divide V = 64
func.func @kda_commit(%pool: tensor<?x2x32x64xbf16>, %slots: tensor<4xi32>,
    %accepted: tensor<4xi32>, %records: tensor<4x3x2x128xf32>)
    -> tensor<?x2x32x64xbf16> {
  %0 = kda.commit_records pool(%pool) state_indices(%slots)
      num_accepted(%accepted) records(%records)
      : (tensor<?x2x32x64xbf16>, tensor<4xi32>, tensor<4xi32>,
         tensor<4x3x2x128xf32>) -> tensor<?x2x32x64xbf16>
  return %0 : tensor<?x2x32x64xbf16>
}
