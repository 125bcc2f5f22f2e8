// convert-kda-recurrence-to-kdk: the decode kernel walks tokens with its
// state slice in a register fragment: decay, delta write, output, one state
// load and store; with a pool, slots come from state_indices.
// RUN: kda-opt %s -split-input-file --convert-kda-recurrence-to-kdk="block-threads=128 v-tile=32" --canonicalize | FileCheck %s
// RUN: not kda-opt %s -split-input-file --convert-kda-recurrence-to-kdk="v-tile=48" 2>&1 | FileCheck %s --check-prefix=BADTILE
// RUN: not kda-opt %s -split-input-file --convert-kda-recurrence-to-kdk="block-threads=16 v-tile=32" 2>&1 | FileCheck %s --check-prefix=BADTHREADS
// BADTILE: convert-kda-recurrence-to-kdk: v-tile 48 does not divide V = 64
// BADTHREADS: convert-kda-recurrence-to-kdk: no block of at most 16 threads can hold a 64x32 state tile in registers

// CHECK: module attributes {kdk.chunk_size = 1 : i64}
// CHECK-LABEL: func.func @kda_recurrent(
// CHECK-SAME: {kdk.param = "q"}
// CHECK-SAME: {kdk.param = "initial_state"}
// CHECK-SAME: {kdk.param = "final_state"}
// CHECK-SAME: kdk.grid = ["2", "4", "sequences"]
// CHECK: kdk.sequence_range %{{.*}} T(%{{.*}}) chunk_size = 1
// CHECK: %[[S:.*]] = kdk.alloc_tile : memref<64x32xf32, 5>
// CHECK: kdk.load_tile %{{.*}} into %[[S]]
// CHECK: scf.for
// CHECK: kdk.gate_activation softplus
// CHECK: kdk.last_row_exp
// CHECK: kdk.scale_rows %[[S]]
// CHECK: kdk.mma %[[K:.*]], %[[S]] into %[[KS:.*]] :
// CHECK: kdk.sub %[[V:.*]], %[[KS]] into %[[V]]
// CHECK: kdk.mma %[[K]], %[[V]] into %[[S]] transpose_lhs accumulate
// CHECK-NEXT: kdk.mma %{{.*}}, %[[S]] into %[[O:.*]] alpha = 1.250000e-01
// CHECK: kdk.store_tile %[[O]] into
// CHECK: }
// CHECK: kdk.store_tile %[[S]] into
func.func @kda_forward(%q: tensor<?x?x2x64xbf16>, %k: tensor<?x?x2x64xbf16>,
    %v: tensor<?x?x4x64xbf16>, %g: tensor<?x?x4x64xf32>, %beta: tensor<?x?x4xbf16>,
    %a: tensor<4xf32>, %s0: tensor<?x4x64x64xf32>)
    -> (tensor<?x?x4x64xbf16>, tensor<?x4x64x64xf32>) {
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) A_log(%a) initial_state(%s0)
      gate = channel update = delta activation = softplus
      : (tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x4x64xbf16>,
         tensor<?x?x4x64xf32>, tensor<?x?x4xbf16>, tensor<4xf32>, tensor<?x4x64x64xf32>)
        -> (tensor<?x?x4x64xbf16>, tensor<?x4x64x64xf32>)
  return %o, %s : tensor<?x?x4x64xbf16>, tensor<?x4x64x64xf32>
}

// -----

// A per-token bf16 pool with accepted counts: the start slot is
// state_indices[n, num_accepted[n] - 1], a negative one skips the block, and
// every token's state goes to state_indices[n, t].
// CHECK-LABEL: func.func @kda_recurrent(
// CHECK-SAME: {kdk.param = "state_pool"}
// CHECK-SAME: {kdk.param = "state_indices"}
// CHECK-SAME: {kdk.param = "num_accepted"}
// CHECK-SAME: {kdk.size = "S"}
// CHECK: %[[ACC:.*]] = kdk.load_index %{{.*}}[%{{.*}}] : memref<?xi32>
// CHECK: %[[START:.*]] = kdk.load_index %{{.*}}[%{{.*}}] : memref<?xi32>
// CHECK: %[[SLOT:.*]] = arith.select %{{.*}}, %[[START]], %c-1
// CHECK: %[[ACTIVE:.*]] = arith.cmpi sge, %[[SLOT]], %c0
// CHECK: scf.if %[[ACTIVE]] {
// CHECK: %[[S:.*]] = kdk.alloc_tile : memref<64x32xf32, 5>
// CHECK: kdk.load_tile %{{.*}} into %[[S]] : memref<?xbf16>, memref<64x32xf32, 5>
// CHECK: scf.for
// CHECK: %[[TOKSLOT:.*]] = kdk.load_index
// CHECK: scf.if
// CHECK-NEXT: arith.muli %[[TOKSLOT]]
// CHECK: kdk.store_tile %[[S]] into %{{.*}} : memref<64x32xf32, 5>, memref<?xbf16>
func.func @kda_forward(%q: tensor<?x?x2x64xbf16>, %k: tensor<?x?x2x64xbf16>,
    %v: tensor<?x?x4x64xbf16>, %g: tensor<?x?x4x64xf32>, %beta: tensor<?x?x4xbf16>,
    %pool: tensor<?x4x64x64xbf16>, %slots: tensor<?x?xi32>, %accepted: tensor<?xi32>)
    -> (tensor<?x?x4x64xbf16>, tensor<?x4x64x64xbf16>) {
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) initial_state(%pool)
      state_indices(%slots) num_accepted(%accepted)
      gate = channel update = delta
      : (tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x4x64xbf16>,
         tensor<?x?x4x64xf32>, tensor<?x?x4xbf16>, tensor<?x4x64x64xbf16>,
         tensor<?x?xi32>, tensor<?xi32>)
        -> (tensor<?x?x4x64xbf16>, tensor<?x4x64x64xbf16>)
  return %o, %s : tensor<?x?x4x64xbf16>, tensor<?x4x64x64xbf16>
}
