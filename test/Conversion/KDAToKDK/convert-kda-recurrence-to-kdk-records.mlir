// convert-kda-recurrence-to-kdk with token_records: the call's tokens run as
// one chunk on a shared state that is only read (no state store); the first
// V tile writes each token's key and per-token log-decay into the records
// before the gate becomes its running sum, and every tile writes its columns
// of v'. A bf16 and an f32 state alike go through shared memory, and
// state-in=registers is refused.
// RUN: kda-opt %s -split-input-file --convert-kda-recurrence-to-kdk --canonicalize | FileCheck %s
// RUN: not kda-opt %s -split-input-file --convert-kda-recurrence-to-kdk="state-in=registers" 2>&1 | FileCheck %s --check-prefix=REGS

// CHECK-LABEL: func.func @kda_recurrent(
// CHECK-SAME: {kdk.arg = #kdk.tensor<"state_pool">}
// CHECK-SAME: {kdk.arg = #kdk.tensor<"o">}, %[[REC:[^:]*]]: memref<?xf32> {kdk.arg = #kdk.tensor<"token_records">}
// CHECK: kdk.load_tile %{{.*}} into %[[S:[^ ]*]] async
// CHECK: kdk.gate_activation lowerbound %[[G:[^ ]*]] head(%{{.*}}) rows(%c3)
// CHECK-NOT: cumulative
// CHECK: kdk.barrier
// CHECK: scf.if
// CHECK: kdk.store_tile %[[K:[^ ]*]] into %[[REC]][%{{.*}}] rows(%c3) row_stride(%c256)
// CHECK: kdk.store_tile %[[G]] into %[[REC]][%{{.*}}] rows(%c3) row_stride(%c256)
// CHECK: kdk.barrier
// CHECK-NEXT: kdk.cumsum_rows %[[G]]
// CHECK-NEXT: kdk.barrier
// CHECK: kdk.tri_inverse
// CHECK: kdk.mma %{{.*}}, %{{.*}} into %[[VNEW:[^ ]*]] :
// CHECK-NEXT: kdk.barrier
// CHECK: kdk.store_tile %[[VNEW]] into %[[REC]][%{{.*}}] rows(%c3) row_stride(%c256)
// CHECK-NOT: kdk.chunk_state_store
// CHECK: kdk.store_tile %{{.*}} into %arg{{[0-9]+}}[%{{.*}}] rows(%c3) row_stride(%c128)
// CHECK-NOT: kdk.chunk_state_store
// CHECK: return
// REGS: error: convert-kda-recurrence-to-kdk: token records come from the chunk form, on a shared state: state-in=registers does not apply
func.func @kda_forward(%q: tensor<?x3x2x32xbf16>, %v: tensor<?x3x2x64xbf16>,
    %g: tensor<?x3x2x32xf32>, %beta: tensor<?x3x2xbf16>,
    %pool: tensor<?x2x32x64xbf16>, %slots: tensor<?xi32>)
    -> (tensor<?x3x2x64xbf16>, tensor<?x3x2x128xf32>) {
  %o, %r = kda.recurrence q(%q) k(%q) v(%v) g(%g) beta(%beta) initial_state(%pool)
      state_indices(%slots) gate = channel update = delta activation = lowerbound
      lower_bound = -5.0 qk_l2norm beta_sigmoid token_records
      : (tensor<?x3x2x32xbf16>, tensor<?x3x2x32xbf16>, tensor<?x3x2x64xbf16>,
         tensor<?x3x2x32xf32>, tensor<?x3x2xbf16>, tensor<?x2x32x64xbf16>,
         tensor<?xi32>) -> (tensor<?x3x2x64xbf16>, tensor<?x3x2x128xf32>)
  return %o, %r : tensor<?x3x2x64xbf16>, tensor<?x3x2x128xf32>
}
