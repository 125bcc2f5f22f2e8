// convert-kda-recurrence-to-kdk: the decode kernel walks tokens with the
// state slice on chip: decay, delta write, output, one state load and store.
// RUN: kda-opt %s --convert-kda-recurrence-to-kdk="block-threads=128 v-tile=32" --canonicalize | FileCheck %s
// RUN: not kda-opt %s --convert-kda-recurrence-to-kdk="v-tile=48" 2>&1 | FileCheck %s --check-prefix=BADTILE
// BADTILE: convert-kda-recurrence-to-kdk: v-tile 48 does not divide V = 64

// CHECK: module attributes {kdk.chunk_size = 1 : i64}
// CHECK-LABEL: func.func @kda_recurrent(
// CHECK-SAME: {kdk.param = "q"}
// CHECK-SAME: {kdk.param = "initial_state"}
// CHECK-SAME: {kdk.param = "final_state"}
// CHECK-SAME: kdk.grid = ["2", "4", "sequences"]
// CHECK: %[[S:.*]] = memref.subview %{{.*}}[0, 0] [64, 32] [1, 1] : memref<64x36xf32, 3>
// CHECK: kdk.sequence_range %{{.*}} T(%{{.*}}) chunk_size = 1
// CHECK: kdk.load_tile %{{.*}} into %[[S]]
// CHECK: scf.for
// CHECK: kdk.gate_activation softplus
// CHECK: kdk.last_row_exp
// CHECK: kdk.scale_rows %[[S]]
// CHECK: kdk.mma %[[K:.*]], %[[S]] into %[[KS:.*]] :
// CHECK: kdk.sub %[[V:.*]], %[[KS]] into %[[V]]
// CHECK: kdk.mma %[[K]], %[[V]] into %[[S]] transpose_lhs accumulate
// CHECK: kdk.mma %{{.*}}, %[[S]] into %[[O:.*]] alpha = 1.250000e-01
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
