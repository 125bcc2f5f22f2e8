// kda-chunk-grad-split: the backward chunk loop (as kda-chunk-adjoint leaves
// it) becomes a forward scan of the states, a reverse scan of their
// cotangents and a map over the chunks; each body is sliced to what it
// yields.
// RUN: kda-opt %s -split-input-file --kda-chunk-grad-split | FileCheck %s
// RUN: kda-opt %s -split-input-file --kda-chunk-grad-split | kda-opt -split-input-file | FileCheck %s
// RUN: kda-opt %s -split-input-file --kda-chunk-grad-split --kda-chunk-grad-split | FileCheck %s

// CHECK-LABEL: func @additive
// CHECK: %[[S:.*]] = kda.chunk_states q(%arg0) k(%arg1) v(%arg2) beta(%arg3) chunk_size = 16 gate = none : (tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x32xf32>, tensor<2x8x1xf32>) -> tensor<?x1x16x32xf32> {
// CHECK-NOT: kda.output
// CHECK: kda.state_update
// CHECK: kda.yield %{{.*}}, %{{.*}}
// CHECK: %[[DS:.*]] = kda.chunk_state_grads q(%arg0) k(%arg1) v(%arg2) beta(%arg3) states(%[[S]]) do(%arg4) chunk_size = 16 gate = none : ({{.*}}) -> tensor<?x1x16x32xf32> {
// CHECK-NOT: kda.scale_rows_grad
// CHECK: kda.grad_yield
// CHECK: %[[G:.*]]:4 = kda.chunk_grad_map q(%arg0) k(%arg1) v(%arg2) beta(%arg3) states(%[[S]]) next_state_grads(%[[DS]]) do(%arg4) chunk_size = 16 gate = none
// CHECK: kda.scale_rows_grad
// CHECK: %[[Z:.*]] = kda.zero : tensor<16x32xf32>
// CHECK-NEXT: kda.grad_yield %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[Z]] :
// CHECK: return %[[G]]#0, %[[G]]#1, %[[G]]#2, %[[G]]#3
func.func @additive(%arg0: tensor<2x8x1x16xf32>, %arg1: tensor<2x8x1x16xf32>, %arg2: tensor<2x8x1x32xf32>, %arg3: tensor<2x8x1xf32>, %arg4: tensor<2x8x1x32xf32>) -> (tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x32xf32>, tensor<2x8x1xf32>) {
  %0:4 = kda.chunk_grad_loop q(%arg0) k(%arg1) v(%arg2) beta(%arg3) do(%arg4) chunk_size = 16 gate = none : (tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x32xf32>, tensor<2x8x1xf32>, tensor<2x8x1x32xf32>) -> (tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x32xf32>, tensor<2x8x1xf32>) forward {
  ^bb0(%arg5: tensor<16x16xf32>, %arg6: tensor<16x16xf32>, %arg7: tensor<16x32xf32>, %arg8: tensor<16x16xf32>, %arg9: tensor<16xf32>, %arg10: tensor<16x32xf32>):
    %1 = kda.cumsum %arg8 : tensor<16x16xf32>
    %2 = kda.scale_rows %arg7, %arg9 : tensor<16x32xf32>, tensor<16xf32>
    %3 = kda.decayed_gram %arg5, %arg6, %1 mask = inclusive scale = 2.500000e-01 : tensor<16x16xf32> -> tensor<16x16xf32>
    %4 = kda.output %arg5, %1, %arg10, %3, %2 scale = 2.500000e-01 : tensor<16x16xf32>, tensor<16x32xf32>, tensor<16x16xf32> -> tensor<16x32xf32>
    %5 = kda.state_update %arg10, %arg6, %1, %2 : tensor<16x32xf32>, tensor<16x16xf32>, tensor<16x32xf32>
    kda.yield %4, %5 : tensor<16x32xf32>, tensor<16x32xf32>
  } backward {
  ^bb0(%arg5: tensor<16x16xf32>, %arg6: tensor<16x16xf32>, %arg7: tensor<16x32xf32>, %arg8: tensor<16x16xf32>, %arg9: tensor<16xf32>, %arg10: tensor<16x32xf32>, %arg11: tensor<16x32xf32>, %arg12: tensor<16x32xf32>):
    %1 = kda.cumsum %arg8 : tensor<16x16xf32>
    %2 = kda.scale_rows %arg7, %arg9 : tensor<16x32xf32>, tensor<16xf32>
    %3 = kda.decayed_gram %arg5, %arg6, %1 mask = inclusive scale = 2.500000e-01 : tensor<16x16xf32> -> tensor<16x16xf32>
    %dstate, %dk, %dgc, %dvalues = kda.state_update_grad %arg10, %arg6, %1, %2, %arg12 : (tensor<16x32xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x32xf32>, tensor<16x32xf32>) -> (tensor<16x32xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x32xf32>)
    %dq, %dgc_0, %dstate_1, %dAqk, %dvalues_2 = kda.output_grad %arg5, %1, %arg10, %3, %2, %arg11 scale = 2.500000e-01 : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x32xf32>, tensor<16x16xf32>, tensor<16x32xf32>, tensor<16x32xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x32xf32>, tensor<16x16xf32>, tensor<16x32xf32>)
    %4 = kda.add %dgc, %dgc_0 : tensor<16x16xf32>
    %5 = kda.add %dstate, %dstate_1 : tensor<16x32xf32>
    %6 = kda.add %dvalues, %dvalues_2 : tensor<16x32xf32>
    %7:3 = kda.decayed_gram_grad %dAqk, %arg5, %arg6, %1 mask = inclusive scale = 2.500000e-01 : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
    %8 = kda.add %dq, %7#0 : tensor<16x16xf32>
    %9 = kda.add %dk, %7#1 : tensor<16x16xf32>
    %10 = kda.add %4, %7#2 : tensor<16x16xf32>
    %dinput, %drow_scale = kda.scale_rows_grad %arg7, %arg9, %6 : (tensor<16x32xf32>, tensor<16xf32>, tensor<16x32xf32>) -> (tensor<16x32xf32>, tensor<16xf32>)
    %11 = kda.reverse_cumsum %10 : tensor<16x16xf32>
    kda.grad_yield %8, %9, %dinput, %11, %drow_scale, %5 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x32xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16x32xf32>
  }
  return %0#0, %0#1, %0#2, %0#3 : tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x32xf32>, tensor<2x8x1xf32>
}
