// kda-chunk on kda.recurrence_grad: the prologue again, a kda.chunk_grad_loop
// whose forward region is the chunk body and whose backward region waits for
// kda-chunk-adjoint, then GVA's group sum and the prologue's adjoints.
// RUN: kda-opt %s -split-input-file --kda-chunk=chunk-size=16 | FileCheck %s

// CHECK-LABEL: func @grad_fused_gva
// CHECK-DAG: %[[Q:.*]] = kda.l2norm %arg0
// CHECK-DAG: %[[K:.*]] = kda.l2norm %arg1
// CHECK-DAG: %[[G:.*]] = kda.gate_activation lowerbound %arg3
// CHECK-DAG: %[[B:.*]] = kda.sigmoid %arg4
// CHECK: %[[L:.*]]:6 = kda.chunk_grad_loop q(%[[Q]]) k(%[[K]]) v(%arg2) g(%[[G]]) beta(%[[B]]) initial_state(%arg7) do(%arg8) dht(%arg9) chunk_size = 16 gate = channel
// CHECK-SAME: -> (tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<1x2x16x16xf32>) forward {
// CHECK: kda.cumsum
// CHECK: kda.ut_inverse
// CHECK: kda.yield
// CHECK-NEXT: } backward {
// CHECK-NEXT: }
// CHECK: %[[DQH:.*]] = kda.group_sum %[[L]]#0 : tensor<1x?x2x16xf32> -> tensor<1x?x1x16xf32>
// CHECK: %[[DQ:.*]] = kda.l2norm_grad %arg0, %[[DQH]]
// CHECK: %[[DKH:.*]] = kda.group_sum %[[L]]#1
// CHECK: %[[DK:.*]] = kda.l2norm_grad %arg1, %[[DKH]]
// CHECK: %[[DG:.*]]:3 = kda.gate_activation_grad lowerbound %arg3 A_log(%arg5) dt_bias(%arg6) grad(%[[L]]#3) lower_bound = -5.000000e+00
// CHECK: %[[DB:.*]] = kda.sigmoid_grad %arg4, %[[L]]#4
// CHECK: return %[[DQ]], %[[DK]], %[[L]]#2, %[[DG]]#0, %[[DB]], %[[DG]]#1, %[[DG]]#2, %[[L]]#5
func.func @grad_fused_gva(%q: tensor<1x?x1x16xbf16>, %k: tensor<1x?x1x16xbf16>,
    %v: tensor<1x?x2x16xbf16>, %g: tensor<1x?x2x16xf32>, %beta: tensor<1x?x2xbf16>,
    %a: tensor<2xf32>, %dt: tensor<32xf32>, %s0: tensor<1x2x16x16xf32>,
    %do: tensor<1x?x2x16xf32>, %dht: tensor<1x2x16x16xf32>)
    -> (tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x2x16xf32>,
        tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<2xf32>, tensor<32xf32>,
        tensor<1x2x16x16xf32>) {
  %dq, %dk, %dv, %dg, %db, %da, %ddt, %dh0 = kda.recurrence_grad q(%q) k(%k) v(%v) g(%g)
      beta(%beta) A_log(%a) dt_bias(%dt) initial_state(%s0) do(%do) dht(%dht)
      gate = channel update = delta activation = lowerbound lower_bound = -5.0
      qk_l2norm beta_sigmoid
      : (tensor<1x?x1x16xbf16>, tensor<1x?x1x16xbf16>, tensor<1x?x2x16xbf16>,
         tensor<1x?x2x16xf32>, tensor<1x?x2xbf16>, tensor<2xf32>, tensor<32xf32>,
         tensor<1x2x16x16xf32>, tensor<1x?x2x16xf32>, tensor<1x2x16x16xf32>)
        -> (tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x2x16xf32>,
            tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<2xf32>, tensor<32xf32>,
            tensor<1x2x16x16xf32>)
  return %dq, %dk, %dv, %dg, %db, %da, %ddt, %dh0 : tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>,
      tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<2xf32>,
      tensor<32xf32>, tensor<1x2x16x16xf32>
}

// -----

// No gate, no states, no prologue: the loop's gradients are the results.
// CHECK-LABEL: func @grad_additive_ungated
// CHECK-NOT: kda.l2norm
// CHECK: %[[L:.*]]:4 = kda.chunk_grad_loop q(%arg0) k(%arg1) v(%arg2) beta(%arg3) do(%arg4) chunk_size = 16 gate = none
// CHECK: kda.scale_rows
// CHECK-NOT: kda.group_sum
// CHECK-NOT: _grad
// CHECK: return %[[L]]#0, %[[L]]#1, %[[L]]#2, %[[L]]#3
func.func @grad_additive_ungated(%q: tensor<2x8x1x16xf32>, %k: tensor<2x8x1x16xf32>,
    %v: tensor<2x8x1x32xf32>, %beta: tensor<2x8x1xf32>, %do: tensor<2x8x1x32xf32>)
    -> (tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x32xf32>, tensor<2x8x1xf32>) {
  %dq, %dk, %dv, %db = kda.recurrence_grad q(%q) k(%k) v(%v) beta(%beta) do(%do)
      gate = none update = additive
      : (tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x32xf32>,
         tensor<2x8x1xf32>, tensor<2x8x1x32xf32>)
        -> (tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x32xf32>, tensor<2x8x1xf32>)
  return %dq, %dk, %dv, %db : tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>,
      tensor<2x8x1x32xf32>, tensor<2x8x1xf32>
}
