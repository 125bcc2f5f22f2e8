// kda-chunk-split cuts a forward chunk loop at the state: the ops that do
// not read it go to kda.chunk_map, which yields the named values that cross;
// the state recurrence goes to kda.chunk_scan, which reads them per chunk.
// RUN: kda-opt %s -split-input-file --kda-chunk-split | FileCheck %s
// A second run finds no chunk loop and changes nothing.
// RUN: kda-opt %s -split-input-file --kda-chunk-split --kda-chunk-split | FileCheck %s

// The delta rule: u and w of the state apply, qg (the output's scale folded
// in) and Aqk of the output, kg and glast of the state update.
// CHECK-LABEL: func.func @delta
// CHECK-SAME: (%[[Q:.*]]: tensor<1x?x2x32xbf16>, %[[K:.*]]: tensor<1x?x2x32xbf16>, %[[V:.*]]: tensor<1x?x2x32xbf16>, %[[G:.*]]: tensor<1x?x2x32xf32>, %[[B:.*]]: tensor<1x?x2xbf16>, %[[H0:.*]]: tensor<1x2x32x32xf32>)
// CHECK: %[[X:.*]]:6 = kda.chunk_map q(%[[Q]]) k(%[[K]]) v(%[[V]]) g(%[[G]]) beta(%[[B]]) chunk_size = 16 gate = channel names = ["u", "w", "qg", "aqk", "kg", "glast"]
// CHECK-SAME: -> (tensor<?x2x16x32xf32>, tensor<?x2x16x32xf32>, tensor<?x2x16x32xf32>, tensor<?x2x16x16xf32>, tensor<?x2x16x32xf32>, tensor<?x2x32xf32>)
// CHECK-NEXT: ^bb0(%[[CQ:.*]]: tensor<16x32xf32>, %[[CK:.*]]: tensor<16x32xf32>, %{{.*}}: tensor<16x32xf32>, %{{.*}}: tensor<16x32xf32>, %{{.*}}: tensor<16xf32>):
// CHECK: %[[GC:.*]] = kda.cumsum
// CHECK: %[[W:.*]], %[[U:.*]] = kda.wy
// CHECK: %[[AQK:.*]] = kda.decayed_gram %[[CQ]], %[[CK]], %[[GC]] mask = inclusive
// CHECK-NOT: kda.state_apply
// CHECK: %[[QG:.*]] = kda.decay_rows %[[CQ]], %[[GC]] scale = 1.250000e-01 : tensor<16x32xf32>
// CHECK: %[[KG:.*]] = kda.decay_rows %[[CK]], %[[GC]] to_last : tensor<16x32xf32>
// CHECK: %[[GL:.*]] = kda.last_row_exp %[[GC]] : tensor<16x32xf32> -> tensor<32xf32>
// CHECK: kda.map_yield %[[U]], %[[W]], %[[QG]], %[[AQK]], %[[KG]], %[[GL]]
// CHECK: %[[O:.*]], %[[HT:.*]] = kda.chunk_scan values(%[[X]]#0, %[[X]]#1, %[[X]]#2, %[[X]]#3, %[[X]]#4, %[[X]]#5) like(%[[V]]) initial_state(%[[H0]]) chunk_size = 16
// CHECK-NEXT: ^bb0(%[[SU:.*]]: tensor<16x32xf32>, %[[SW:.*]]: tensor<16x32xf32>, %[[SQG:.*]]: tensor<16x32xf32>, %[[SAQK:.*]]: tensor<16x16xf32>, %[[SKG:.*]]: tensor<16x32xf32>, %[[SGL:.*]]: tensor<32xf32>, %[[S:.*]]: tensor<32x32xf32>):
// CHECK-NEXT: %[[VN:.*]] = kda.state_apply %[[SU]], %[[SW]], %[[S]]
// CHECK-NEXT: %[[OC:.*]] = kda.decayed_output %[[SQG]], %[[S]], %[[SAQK]], %[[VN]]
// CHECK-NEXT: %[[S1:.*]] = kda.decayed_state_update %[[S]], %[[SKG]], %[[SGL]], %[[VN]]
// CHECK-NEXT: kda.yield %[[OC]], %[[S1]]
// CHECK: return %[[O]], %[[HT]]
func.func @delta(%q: tensor<1x?x2x32xbf16>, %k: tensor<1x?x2x32xbf16>, %v: tensor<1x?x2x32xbf16>,
                 %g: tensor<1x?x2x32xf32>, %b: tensor<1x?x2xbf16>, %h0: tensor<1x2x32x32xf32>)
    -> (tensor<1x?x2x32xbf16>, tensor<1x2x32x32xf32>) {
  %o, %ht = kda.chunk_loop q(%q) k(%k) v(%v) g(%g) beta(%b) initial_state(%h0) chunk_size = 16 gate = channel
      : (tensor<1x?x2x32xbf16>, tensor<1x?x2x32xbf16>, tensor<1x?x2x32xbf16>, tensor<1x?x2x32xf32>, tensor<1x?x2xbf16>, tensor<1x2x32x32xf32>)
        -> (tensor<1x?x2x32xbf16>, tensor<1x2x32x32xf32>) {
  ^bb0(%cq: tensor<16x32xf32>, %ck: tensor<16x32xf32>, %cv: tensor<16x32xf32>, %cg: tensor<16x32xf32>, %cb: tensor<16xf32>, %s: tensor<32x32xf32>):
    %gc = kda.cumsum %cg : tensor<16x32xf32>
    %a = kda.decayed_gram %ck, %ck, %gc row_scale(%cb : tensor<16xf32>) mask = strict : tensor<16x32xf32> -> tensor<16x16xf32>
    %m = kda.ut_inverse %a : tensor<16x16xf32>
    %w, %u = kda.wy %m, %ck, %cv, %gc, %cb : tensor<16x16xf32>, tensor<16x32xf32>, tensor<16x32xf32>, tensor<16xf32>
    %vn = kda.state_apply %u, %w, %s : tensor<16x32xf32>, tensor<16x32xf32>, tensor<32x32xf32>
    %aqk = kda.decayed_gram %cq, %ck, %gc mask = inclusive scale = 1.250000e-01 : tensor<16x32xf32> -> tensor<16x16xf32>
    %oc = kda.output %cq, %gc, %s, %aqk, %vn scale = 1.250000e-01 : tensor<16x32xf32>, tensor<32x32xf32>, tensor<16x16xf32> -> tensor<16x32xf32>
    %s1 = kda.state_update %s, %ck, %gc, %vn : tensor<32x32xf32>, tensor<16x32xf32>, tensor<16x32xf32>
    kda.yield %oc, %s1 : tensor<16x32xf32>, tensor<32x32xf32>
  }
  return %o, %ht : tensor<1x?x2x32xbf16>, tensor<1x2x32x32xf32>
}

// -----

// The additive rule: v' = beta v does not read the state, so it crosses as
// vnew (once, for both readers) and the scan has no state apply.
// CHECK-LABEL: func.func @additive
// CHECK: kda.chunk_map {{.*}} gate = none names = ["qg", "aqk", "vnew", "kg", "glast"]
// CHECK: %[[VB:.*]] = kda.scale_rows
// CHECK: kda.map_yield %{{.*}}, %{{.*}}, %[[VB]], %{{.*}}, %{{.*}} :
// CHECK: %[[O:.*]] = kda.chunk_scan values({{.*}}) like(%{{.*}}) chunk_size = 16 :
// CHECK-NEXT: ^bb0(%[[QG:.*]]: tensor<16x32xf32>, %[[AQK:.*]]: tensor<16x16xf32>, %[[VN:.*]]: tensor<16x32xf32>, %[[KG:.*]]: tensor<16x32xf32>, %[[GL:.*]]: tensor<32xf32>, %[[S:.*]]: tensor<32x32xf32>):
// CHECK-NEXT: kda.decayed_output %[[QG]], %[[S]], %[[AQK]], %[[VN]]
// CHECK-NEXT: kda.decayed_state_update %[[S]], %[[KG]], %[[GL]], %[[VN]]
// CHECK-NOT: kda.state_apply
func.func @additive(%q: tensor<1x64x2x32xf32>, %v: tensor<1x64x2x32xf32>, %b: tensor<1x64x2xf32>)
    -> tensor<1x64x2x32xf32> {
  %o = kda.chunk_loop q(%q) k(%q) v(%v) beta(%b) chunk_size = 16 gate = none
      : (tensor<1x64x2x32xf32>, tensor<1x64x2x32xf32>, tensor<1x64x2x32xf32>, tensor<1x64x2xf32>)
        -> tensor<1x64x2x32xf32> {
  ^bb0(%cq: tensor<16x32xf32>, %ck: tensor<16x32xf32>, %cv: tensor<16x32xf32>, %cg: tensor<16x32xf32>, %cb: tensor<16xf32>, %s: tensor<32x32xf32>):
    %vb = kda.scale_rows %cv, %cb : tensor<16x32xf32>, tensor<16xf32>
    %aqk = kda.decayed_gram %cq, %ck, %cg mask = inclusive scale = 1.250000e-01 : tensor<16x32xf32> -> tensor<16x16xf32>
    %oc = kda.output %cq, %cg, %s, %aqk, %vb scale = 1.250000e-01 : tensor<16x32xf32>, tensor<32x32xf32>, tensor<16x16xf32> -> tensor<16x32xf32>
    %s1 = kda.state_update %s, %ck, %cg, %vb : tensor<32x32xf32>, tensor<16x32xf32>, tensor<16x32xf32>
    kda.yield %oc, %s1 : tensor<16x32xf32>, tensor<32x32xf32>
  }
  return %o : tensor<1x64x2x32xf32>
}
