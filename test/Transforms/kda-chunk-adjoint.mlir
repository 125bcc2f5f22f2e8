// kda-chunk-adjoint: the backward body, derived from the forward body (the
// IR kda-chunk leaves): the forward ops recomputed, then each op's adjoint in
// reverse order, cotangents of shared values summed with kda.add.
// RUN: kda-opt %s -split-input-file --kda-chunk-adjoint | FileCheck %s
// RUN: kda-opt %s -split-input-file --kda-chunk-adjoint --kda-chunk-adjoint | FileCheck %s
// RUN: kda-opt %s -split-input-file --kda-chunk-adjoint | kda-opt -split-input-file | FileCheck %s
// RUN: kda-opt %s -split-input-file --kda-chunk-adjoint --kda-ut-expand | FileCheck %s --check-prefix=EXPANDED
// RUN: not kda-opt %s -split-input-file --kda-ut-expand --kda-chunk-adjoint 2>&1 | FileCheck %s --check-prefix=ORDER

// CHECK-LABEL: func @delta
// CHECK: } backward {
// CHECK-NEXT: ^bb0(%[[Q:[^:]*]]: tensor<16x16xf32>, %[[K:[^:]*]]: tensor<16x16xf32>, %[[V:[^:]*]]: tensor<16x16xf32>, %[[G:[^:]*]]: tensor<16x16xf32>, %[[B:[^:]*]]: tensor<16xf32>, %[[S:[^:]*]]: tensor<16x16xf32>, %[[DO:[^:]*]]: tensor<16x16xf32>, %[[DS:[^:]*]]: tensor<16x16xf32>):
// CHECK-NEXT: %[[GC:.*]] = kda.cumsum %[[G]]
// CHECK-NEXT: %[[AKK:.*]] = kda.decayed_gram %[[K]], %[[K]], %[[GC]] row_scale(%[[B]] : tensor<16xf32>) mask = strict
// CHECK-NEXT: %[[M:.*]] = kda.ut_inverse %[[AKK]]
// CHECK-NEXT: %[[W:.*]], %[[U:.*]] = kda.wy %[[M]]
// CHECK-NEXT: %[[VN:.*]] = kda.state_apply %[[U]], %[[W]], %[[S]]
// CHECK-NEXT: %[[AQK:.*]] = kda.decayed_gram %[[Q]], %[[K]], %[[GC]] mask = inclusive
// CHECK-NEXT: %[[DS0:[^,]*]], %[[DK0:[^,]*]], %[[DGC0:[^,]*]], %[[DVN0:[^ ]*]] = kda.state_update_grad %[[S]], %[[K]], %[[GC]], %[[VN]], %[[DS]]
// CHECK-NEXT: %[[DQ0:[^,]*]], %[[DGC1:[^,]*]], %[[DS1:[^,]*]], %[[DAQK:[^,]*]], %[[DVN1:[^ ]*]] = kda.output_grad %[[Q]], %[[GC]], %[[S]], %[[AQK]], %[[VN]], %[[DO]] scale = 2.500000e-01
// CHECK: %[[DVN:.*]] = kda.add %[[DVN0]], %[[DVN1]]
// CHECK: kda.decayed_gram_grad %[[DAQK]], %[[Q]], %[[K]], %[[GC]] mask = inclusive scale = 2.500000e-01
// CHECK: %[[DU:[^,]*]], %[[DW:[^,]*]], %{{.*}} = kda.state_apply_grad %[[W]], %[[S]], %[[DVN]]
// CHECK: %[[DM:[^,]*]], {{.*}} = kda.wy_grad %[[M]], %[[K]], %[[V]], %[[GC]], %[[B]], %[[DW]], %[[DU]]
// CHECK: %[[DA:.*]] = kda.ut_inverse_grad %[[M]], %[[DM]]
// CHECK: kda.decayed_gram_grad %[[DA]], %[[K]], %[[K]], %[[GC]] row_scale(%[[B]]) mask = strict
// CHECK: %[[DG:.*]] = kda.reverse_cumsum
// CHECK-NEXT: kda.grad_yield %{{.*}}, %{{.*}}, %{{.*}}, %[[DG]], %{{.*}}, %{{.*}} :
// EXPANDED-LABEL: func @delta
// EXPANDED: forward {
// EXPANDED-NOT: kda.ut_inverse %
// EXPANDED: backward {
// EXPANDED-NOT: kda.ut_inverse %
// EXPANDED: kda.ut_inverse_grad
// ORDER: error: 'kda.forward_substitution' op has no adjoint rule in kda-chunk-adjoint (run it on the chunk body as kda-chunk builds it, before kda-ut-expand)

func.func @delta(%arg0: tensor<1x?x1x16xbf16>, %arg1: tensor<1x?x1x16xbf16>, %arg2: tensor<1x?x2x16xbf16>, %arg3: tensor<1x?x2x16xf32>, %arg4: tensor<1x?x2xbf16>, %arg5: tensor<2xf32>, %arg6: tensor<32xf32>, %arg7: tensor<1x2x16x16xf32>, %arg8: tensor<1x?x2x16xf32>, %arg9: tensor<1x2x16x16xf32>) -> (tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<2xf32>, tensor<32xf32>, tensor<1x2x16x16xf32>) {
  %0 = kda.l2norm %arg0 : tensor<1x?x1x16xbf16> -> tensor<1x?x1x16xf32>
  %1 = kda.l2norm %arg1 : tensor<1x?x1x16xbf16> -> tensor<1x?x1x16xf32>
  %2 = kda.gate_activation lowerbound %arg3 A_log(%arg5 : tensor<2xf32>) dt_bias(%arg6 : tensor<32xf32>) lower_bound = -5.000000e+00 : tensor<1x?x2x16xf32> -> tensor<1x?x2x16xf32>
  %3 = kda.sigmoid %arg4 : tensor<1x?x2xbf16> -> tensor<1x?x2xf32>
  %4:6 = kda.chunk_grad_loop q(%0) k(%1) v(%arg2) g(%2) beta(%3) initial_state(%arg7) do(%arg8) dht(%arg9) chunk_size = 16 gate = channel : (tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x2x16xbf16>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<1x2x16x16xf32>, tensor<1x?x2x16xf32>, tensor<1x2x16x16xf32>) -> (tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<1x2x16x16xf32>) forward {
  ^bb0(%arg10: tensor<16x16xf32>, %arg11: tensor<16x16xf32>, %arg12: tensor<16x16xf32>, %arg13: tensor<16x16xf32>, %arg14: tensor<16xf32>, %arg15: tensor<16x16xf32>):
    %11 = kda.cumsum %arg13 : tensor<16x16xf32>
    %12 = kda.decayed_gram %arg11, %arg11, %11 row_scale(%arg14 : tensor<16xf32>) mask = strict : tensor<16x16xf32> -> tensor<16x16xf32>
    %13 = kda.ut_inverse %12 : tensor<16x16xf32>
    %w, %u = kda.wy %13, %arg11, %arg12, %11, %arg14 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>
    %14 = kda.state_apply %u, %w, %arg15 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
    %15 = kda.decayed_gram %arg10, %arg11, %11 mask = inclusive scale = 2.500000e-01 : tensor<16x16xf32> -> tensor<16x16xf32>
    %16 = kda.output %arg10, %11, %arg15, %15, %14 scale = 2.500000e-01 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
    %17 = kda.state_update %arg15, %arg11, %11, %14 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
    kda.yield %16, %17 : tensor<16x16xf32>, tensor<16x16xf32>
  } backward {
  }
  %5 = kda.group_sum %4#0 : tensor<1x?x2x16xf32> -> tensor<1x?x1x16xf32>
  %6 = kda.l2norm_grad %arg0, %5 : (tensor<1x?x1x16xbf16>, tensor<1x?x1x16xf32>) -> tensor<1x?x1x16xf32>
  %7 = kda.group_sum %4#1 : tensor<1x?x2x16xf32> -> tensor<1x?x1x16xf32>
  %8 = kda.l2norm_grad %arg1, %7 : (tensor<1x?x1x16xbf16>, tensor<1x?x1x16xf32>) -> tensor<1x?x1x16xf32>
  %9:3 = kda.gate_activation_grad lowerbound %arg3 A_log(%arg5) dt_bias(%arg6) grad(%4#3) lower_bound = -5.000000e+00 : (tensor<1x?x2x16xf32>, tensor<2xf32>, tensor<32xf32>, tensor<1x?x2x16xf32>) -> (tensor<1x?x2x16xf32>, tensor<2xf32>, tensor<32xf32>)
  %10 = kda.sigmoid_grad %arg4, %4#4 : (tensor<1x?x2xbf16>, tensor<1x?x2xf32>) -> tensor<1x?x2xf32>
  return %6, %8, %4#2, %9#0, %10, %9#1, %9#2, %4#5 : tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<2xf32>, tensor<32xf32>, tensor<1x2x16x16xf32>
}


// -----

// The additive rule: scale_rows' adjoint gives dv and dbeta.
// CHECK-LABEL: func @additive
// CHECK: backward {
// CHECK: kda.scale_rows_grad %{{[^,]*}}, %{{[^,]*}}, %{{.*}} : (tensor<16x32xf32>, tensor<16xf32>, tensor<16x32xf32>) -> (tensor<16x32xf32>, tensor<16xf32>)
// CHECK-NOT: kda.wy_grad
// CHECK: kda.grad_yield

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
  }
  return %0#0, %0#1, %0#2, %0#3 : tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x32xf32>, tensor<2x8x1xf32>
}

