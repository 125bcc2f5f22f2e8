// convert-kda-recurrence-to-kdk: the decode kernel walks tokens with its
// state slice in a register fragment (whole columns per warp, 16-byte runs):
// one kdk.delta_step per token (a product pass, v' and o, the decayed
// update pass), one state load and store; with a pool, slots come from state_indices.
// RUN: kda-opt %s -split-input-file --convert-kda-recurrence-to-kdk --canonicalize | FileCheck %s
// RUN: kda-opt %s -split-input-file --convert-kda-recurrence-to-kdk="v-tile=32" | FileCheck %s --check-prefix=VTILE
// RUN: not kda-opt %s -split-input-file --convert-kda-recurrence-to-kdk="v-tile=48" 2>&1 | FileCheck %s --check-prefix=BADTILE
// RUN: not kda-opt %s -split-input-file --convert-kda-recurrence-to-kdk="block-threads=16" 2>&1 | FileCheck %s --check-prefix=BADTHREADS
// RUN: kda-opt %s -split-input-file --convert-kda-recurrence-to-kdk="state-in=registers" | FileCheck %s --check-prefix=REGS
// RUN: kda-opt %s -split-input-file --convert-kda-recurrence-to-kdk="state-in=shared" --canonicalize | FileCheck %s --check-prefix=SHARED
// RUN: not kda-opt %s -split-input-file --convert-kda-recurrence-to-kdk="state-in=stack" 2>&1 | FileCheck %s --check-prefix=BADSTATEIN
// BADSTATEIN: convert-kda-recurrence-to-kdk: unknown state-in 'stack' (registers | shared | auto)
// BADTILE: convert-kda-recurrence-to-kdk: v-tile 48 does not divide V = 64
// BADTHREADS: error: convert-kda-recurrence-to-kdk: block-threads must be a multiple of 32 in [32, 1024], got 16
// VTILE: kdk.grid = #kdk.grid<2, 4, sequences>
// VTILE: kdk.alloc_tile : memref<64x32xf32, #kdk.fragment<1, 4, 8>>

// One warp owns all 64 columns (64 elements per thread), 16-byte runs of
// four f32 along V, eight lanes per row.
// CHECK: module attributes {kdk.chunk_size = 1 : i64}
// CHECK-LABEL: func.func @kda_recurrent(
// CHECK-SAME: {kdk.arg = #kdk.tensor<"q">}
// CHECK-SAME: {kdk.arg = #kdk.tensor<"initial_state">}
// CHECK-SAME: {kdk.arg = #kdk.tensor<"final_state">}
// CHECK-SAME: kdk.block_threads = 32
// CHECK-SAME: kdk.grid = #kdk.grid<1, 4, sequences>
// CHECK: kdk.sequence_range %{{.*}} T(%{{.*}}) chunk_size = 1
// CHECK: %[[S:.*]] = kdk.alloc_tile : memref<64x64xf32, #kdk.fragment<1, 4, 8>>
// CHECK: kdk.load_tile %{{.*}} into %[[S]]
// Several tokens per call go in groups of eight: one set of loads (rows
// eight heads apart, the last group partial), one prologue and one
// kdk.exp of the gate rows behind a barrier each, then the group's steps
// back to back with no barrier between them, and one output store.
// CHECK: scf.for %[[G:.*]] = %c0 to %{{.*}} step %c8 {
// CHECK: %[[N:.*]] = arith.minui %{{.*}}, %c8 : index
// CHECK: kdk.load_tile %{{.*}} rows(%[[N]]) row_stride(%c128) col_stride = 1 into %{{.*}} : memref<?xbf16>, memref<8x64xf32, strided<[68, 1]>, 3>
// CHECK: kdk.load_tile %{{.*}} rows(%[[N]]) row_stride(%c4) col_stride = 0 into %{{.*}} : memref<?xbf16>, memref<8xf32, 3>
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.gate_activation softplus %[[GATE:[^ ]*]] head(%{{.*}}) rows(%[[N]])
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.exp %[[GATE]] into %[[GATE]]
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: scf.for %[[T:.*]] = %c0 to %[[N]] step %c1 {
// CHECK-NEXT: kdk.delta_step %[[S]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} token(%[[T]]) decay(%[[GATE]] : memref<8x64xf32, strided<[68, 1]>, 3>) into %[[O:[^ ]*]] scale = 1.250000e-01 :
// CHECK-NEXT: }
// CHECK-NEXT: kdk.barrier
// CHECK: kdk.store_tile %[[O]] into %{{.*}} rows(%[[N]]) row_stride(%c256) col_stride = 1
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: }
// CHECK: kdk.store_tile %[[S]] into
// With state-in=shared the f32 slice streams through an f32 shared tile of
// the same type (so cp.async), 16 columns per warp: the last barrier
// before the step also waits for the copy.
// SHARED-LABEL: func.func @kda_recurrent(
// SHARED-SAME: kdk.block_threads = 128
// SHARED: %[[S:.*]] = kdk.alloc_tile : memref<64x64xf32, 3>
// SHARED: kdk.load_tile %{{.*}} into %[[S]] async : memref<?xf32>, memref<64x64xf32, 3>
// SHARED: scf.for
// SHARED: kdk.exp
// SHARED-NEXT: kdk.wait_async
// SHARED-NEXT: kdk.barrier
// SHARED-NEXT: scf.for
// SHARED-NEXT: kdk.delta_step %[[S]],
// SHARED: }
// SHARED: kdk.store_tile %[[S]] into %{{.*}} : memref<64x64xf32, 3>, memref<?xf32>
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

// A per-token bf16 pool with accepted counts (T is not statically 1, so
// the fragment is f32 and rounds only at the stores): the start slot is
// state_indices[n, num_accepted[n] - 1], a negative one skips the block, and
// every token's state goes to state_indices[n, t].
// CHECK-LABEL: func.func @kda_recurrent(
// CHECK-SAME: {kdk.arg = #kdk.tensor<"state_pool">}
// CHECK-SAME: {kdk.arg = #kdk.tensor<"state_indices">}
// CHECK-SAME: {kdk.arg = #kdk.tensor<"num_accepted">}
// CHECK-SAME: {kdk.arg = #kdk.size<"S">}
// CHECK: %[[ACC:.*]] = kdk.load_index %{{.*}}[%{{.*}}] : memref<?xi32>
// CHECK: %[[START:.*]] = kdk.load_index %{{.*}}[%{{.*}}] : memref<?xi32>
// CHECK: %[[SLOT:.*]] = arith.select %{{.*}}, %[[START]], %c-1
// CHECK: %[[ACTIVE:.*]] = arith.cmpi sge, %[[SLOT]], %c0
// CHECK: scf.if %[[ACTIVE]] {
// CHECK: %[[S:.*]] = kdk.alloc_tile : memref<64x64xf32, #kdk.fragment<1, 8, 8>>
// CHECK: kdk.load_tile %{{.*}} into %[[S]] : memref<?xbf16>, memref<64x64xf32, #kdk.fragment<1, 8, 8>>
// CHECK: scf.for
// CHECK: %[[TOKSLOT:.*]] = kdk.load_index
// CHECK: scf.if
// CHECK-NEXT: arith.muli %[[TOKSLOT]]
// CHECK: kdk.store_tile %[[S]] into %{{.*}} : memref<64x64xf32, #kdk.fragment<1, 8, 8>>, memref<?xbf16>
// In shared memory the several tokens' state is an f32 tile too, loaded
// with conversion (cp.async cannot convert), so nothing waits.
// SHARED-LABEL: func.func @kda_recurrent(
// SHARED: %[[S:.*]] = kdk.alloc_tile : memref<64x64xf32, 3>
// SHARED: kdk.load_tile %{{.*}} into %[[S]] : memref<?xbf16>, memref<64x64xf32, 3>
// SHARED-NOT: kdk.wait_async
// SHARED: kdk.delta_step %[[S]],
// Its token states leave a tile that every warp writes: each store has a
// barrier on both sides, inside the group's step loop.
// SHARED-SAME: token(
// SHARED-NEXT: kdk.barrier
// SHARED: scf.if
// SHARED: kdk.store_tile %[[S]] into %{{.*}} : memref<64x64xf32, 3>, memref<?xbf16>
// SHARED-NEXT: }
// SHARED-NEXT: kdk.barrier
// SHARED-NEXT: }
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

// -----

// A bf16 state with one token per call stays packed (two elements per
// register), so 128 columns spread over four warps; without a gate the
// step has no decay. The vk layout runs along K.
// CHECK-LABEL: func.func @kda_recurrent(
// CHECK-SAME: kdk.block_threads = 128
// CHECK-SAME: kdk.grid = #kdk.grid<1, 4, sequences>
// CHECK: %[[S:.*]] = kdk.alloc_tile : memref<128x128xbf16, #kdk.fragment<0, 8, 8>>
// CHECK-NOT: kdk.last_row_exp
// CHECK: kdk.delta_step %[[S]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} into %{{[^ ]*}} scale = {{.*}} : memref<128x128xbf16, #kdk.fragment<0, 8, 8>>
// CHECK: kdk.store_tile %[[S]] into %{{.*}} : memref<128x128xbf16, #kdk.fragment<0, 8, 8>>, memref<?xbf16>
func.func @kda_forward(%q: tensor<?x1x2x128xbf16>, %k: tensor<?x1x2x128xbf16>,
    %v: tensor<?x1x4x128xbf16>, %beta: tensor<?x1x4xbf16>,
    %s0: tensor<?x4x128x128xbf16>)
    -> (tensor<?x1x4x128xbf16>, tensor<?x4x128x128xbf16>) {
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) beta(%beta) initial_state(%s0)
      gate = none update = delta layout = vk
      : (tensor<?x1x2x128xbf16>, tensor<?x1x2x128xbf16>, tensor<?x1x4x128xbf16>,
         tensor<?x1x4xbf16>, tensor<?x4x128x128xbf16>)
        -> (tensor<?x1x4x128xbf16>, tensor<?x4x128x128xbf16>)
  return %o, %s : tensor<?x1x4x128xbf16>, tensor<?x4x128x128xbf16>
}

// -----

// A one-token bf16 kv state streams through a bf16 shared tile by default:
// cp.async in first, waited for at the barrier before the step (no
// prologue math here, so the loads' barrier); the step's update pass
// writes the new state to final_state itself. One token: no token loop.
// CHECK-LABEL: func.func @kda_recurrent(
// CHECK-SAME: kdk.block_threads = 128
// CHECK: %[[S:.*]] = kdk.alloc_tile : memref<128x128xbf16, 3>
// CHECK: kdk.load_tile %{{[a-z0-9]+}}[%[[OFF:[a-z0-9_]+]]] rows(%c128) row_stride(%c128) col_stride = 1 into %[[S]] async : memref<?xbf16>, memref<128x128xbf16, 3>
// CHECK-NOT: scf.for
// CHECK: kdk.wait_async
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.delta_step %[[S]], {{.*}} into %{{[^ ]*}} store_to %{{[a-z0-9]+}}[%[[OFF]]] row_stride(%c128) : memref<?xbf16> scale
// CHECK-NEXT: kdk.barrier
// CHECK-NOT: kdk.store_tile %[[S]]
// CHECK: kdk.store_tile %{{.*}} into %{{.*}} rows(%c1)
// CHECK-NOT: kdk.store_tile %[[S]]
// CHECK: return
// In registers it stays packed in runs of two (one register each, 16
// lanes per 64-byte row segment).
// REGS-LABEL: func.func @kda_recurrent(
// REGS: kdk.alloc_tile : memref<128x128xbf16, #kdk.fragment<1, 2, 16>>
func.func @kda_forward(%q: tensor<?x1x2x128xbf16>, %k: tensor<?x1x2x128xbf16>,
    %v: tensor<?x1x4x128xbf16>, %beta: tensor<?x1x4xbf16>,
    %s0: tensor<?x4x128x128xbf16>)
    -> (tensor<?x1x4x128xbf16>, tensor<?x4x128x128xbf16>) {
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) beta(%beta) initial_state(%s0)
      gate = none update = delta
      : (tensor<?x1x2x128xbf16>, tensor<?x1x2x128xbf16>, tensor<?x1x4x128xbf16>,
         tensor<?x1x4xbf16>, tensor<?x4x128x128xbf16>)
        -> (tensor<?x1x4x128xbf16>, tensor<?x4x128x128xbf16>)
  return %o, %s : tensor<?x1x4x128xbf16>, tensor<?x4x128x128xbf16>
}

// -----

// A static T of four tokens on a bf16 kv state runs as one chunk on a
// read-only bf16 shared tile (padded for ldmatrix): the decayed keys and
// the scaled decayed queries are rows 0 and 8 of one 16-row factor tile, a
// single tensor-core product over the state gives K S and Q S, the keys'
// gram goes through the unit-triangular inverse, and the new state leaves
// in one pass (kdk.chunk_state_store) from the tile as loaded.
// CHECK-LABEL: func.func @kda_recurrent(
// CHECK: %[[F:.*]] = kdk.alloc_tile : memref<16x136xbf16, 3>
// CHECK: %[[S:.*]] = kdk.alloc_tile : memref<128x136xbf16, 3>
// CHECK: kdk.load_tile %{{.*}} into %[[SV:[^ ]*]] async : memref<?xbf16>, memref<128x128xbf16, strided<[136, 1]>, 3>
// CHECK: kdk.fill
// CHECK-NOT: scf.for
// CHECK: kdk.gate_activation lowerbound %[[G:[^ ]*]] head(%{{.*}}) rows(%c4) {{.*}} cumulative
// CHECK: kdk.decay_rows %[[K:[^,]*]], %[[G]] into %{{.*}} : memref<4x128xf32, strided<[132, 1]>, 3>, memref<4x128xf32, strided<[132, 1]>, 3>, memref<4x128xbf16, strided<[136, 1]>, 3>
// CHECK: kdk.decay_rows %[[Q:[^,]*]], %[[G]] into %{{.*}} scale = 0.088388347648318433
// CHECK: kdk.decayed_gram %[[K]], %[[K]], %[[G]] row_scale(%{{.*}}) into %[[AKK:[^ ]*]] mask = strict
// CHECK: kdk.decayed_gram %[[Q]], %[[K]], %[[G]] into %[[AQK:[^ ]*]] mask = inclusive
// CHECK: kdk.wait_async
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.mma %{{.*}}, %[[SV]] into %{{.*}} : memref<16x128xbf16, strided<[136, 1]>, 3>, memref<128x128xbf16, strided<[136, 1]>, 3>, memref<16x128xf32, strided<[132, 1]>, 3>
// CHECK-NEXT: kdk.tri_inverse %[[AKK]] into %[[INV:[^ ]*]] :
// CHECK-NEXT: kdk.decay_rows %[[K]], %[[G]] into %[[Q]] to_last
// CHECK-NEXT: kdk.last_row_exp %[[G]] into %[[GT:[^ ]*]] :
// CHECK: kdk.sub
// CHECK: kdk.scale_rows
// CHECK: kdk.mma %[[INV]], %{{.*}} into %[[VNEW:[^ ]*]] :
// CHECK: kdk.mma %[[AQK]], %[[VNEW]] into %[[O:[^ ]*]] accumulate
// CHECK-NEXT: kdk.chunk_state_store %[[SV]], %[[GT]], %[[Q]], %[[VNEW]] to %{{.*}}[%{{.*}}] row_stride(%c128)
// CHECK-NEXT: kdk.barrier
// CHECK: kdk.store_tile %[[O]] into %{{.*}} rows(%c4)
func.func @kda_forward(%q: tensor<?x4x2x128xbf16>, %k: tensor<?x4x2x128xbf16>,
    %v: tensor<?x4x4x128xbf16>, %g: tensor<?x4x4x128xbf16>, %beta: tensor<?x4x4xbf16>,
    %a: tensor<4xf32>, %dt: tensor<512xf32>, %s0: tensor<?x4x128x128xbf16>)
    -> (tensor<?x4x4x128xbf16>, tensor<?x4x128x128xbf16>) {
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) A_log(%a) dt_bias(%dt) initial_state(%s0)
      gate = channel update = delta activation = lowerbound lower_bound = -5.0 qk_l2norm beta_sigmoid
      : (tensor<?x4x2x128xbf16>, tensor<?x4x2x128xbf16>, tensor<?x4x4x128xbf16>,
         tensor<?x4x4x128xbf16>, tensor<?x4x4xbf16>, tensor<4xf32>, tensor<512xf32>, tensor<?x4x128x128xbf16>)
        -> (tensor<?x4x4x128xbf16>, tensor<?x4x128x128xbf16>)
  return %o, %s : tensor<?x4x4x128xbf16>, tensor<?x4x128x128xbf16>
}
