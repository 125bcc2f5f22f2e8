// kda-grad-decompose: the compound ops in the backward's chunk bodies become
// tile primitives; what no result reads folds away; forward chunk loops are
// left alone.
// RUN: kda-opt %s -split-input-file --kda-grad-decompose | FileCheck %s
// RUN: kda-opt %s -split-input-file --kda-grad-decompose | kda-opt -split-input-file | FileCheck %s
// RUN: kda-opt %s -split-input-file --kda-grad-decompose --kda-grad-decompose | FileCheck %s

// The backward of a default spec (K = V = 16, T = 8), as the expanded stage
// leaves it.
// CHECK-LABEL: func @kda_backward
// CHECK: kda.chunk_states
// CHECK-NOT: kda.wy
// CHECK-NOT: kda.state_apply
// CHECK: kda.last_row_exp
// CHECK: kda.matmul %{{.*}}, %{{.*}} transpose_lhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
// CHECK: kda.yield
// The state scan keeps only what reaches dS: Diag(exp(gc_last)) dS',
// scale q^T dO and -w^T dv'.
// CHECK: kda.chunk_state_grads
// CHECK-NOT: kda.state_update_grad
// CHECK-NOT: kda.row_dot
// CHECK: kda.matmul %{{.*}}, %arg12 transpose_lhs scale = 2.500000e-01
// CHECK: kda.matmul %{{.*}}, %{{.*}} transpose_lhs scale = -1.000000e+00
// CHECK: kda.grad_yield
// The map keeps every input gradient and no state cotangent.
// CHECK: kda.chunk_grad_map
// CHECK-NOT: _grad %
// CHECK: kda.row_dot %arg11, %arg13 : tensor<16x16xf32> -> tensor<16xf32>
// CHECK: kda.column_sum
// CHECK: kda.add_to_last_row
// CHECK: kda.decayed_gram_grad
// CHECK: kda.matmul %{{.*}}, %arg11 transpose_rhs scale = -1.000000e+00
// CHECK: kda.tril %{{.*}} mask = strict scale = -1.000000e+00 : tensor<16x16xf32>
// CHECK: kda.reverse_cumsum
// CHECK: kda.grad_yield
module {
  func.func @kda_backward(%arg0: tensor<1x8x1x16xbf16>, %arg1: tensor<1x8x1x16xbf16>, %arg2: tensor<1x8x1x16xbf16>, %arg3: tensor<1x8x1x16xf32>, %arg4: tensor<1x8x1xbf16>, %arg5: tensor<1x8x1x16xf32>) -> (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>) {
    %0 = kda.chunk_states q(%arg0) k(%arg1) v(%arg2) g(%arg3) beta(%arg4) chunk_size = 16 gate = channel : (tensor<1x8x1x16xbf16>, tensor<1x8x1x16xbf16>, tensor<1x8x1x16xbf16>, tensor<1x8x1x16xf32>, tensor<1x8x1xbf16>) -> tensor<?x1x16x16xf32> {
    ^bb0(%arg6: tensor<16x16xf32>, %arg7: tensor<16x16xf32>, %arg8: tensor<16x16xf32>, %arg9: tensor<16x16xf32>, %arg10: tensor<16xf32>, %arg11: tensor<16x16xf32>):
      %2 = kda.cumsum %arg9 : tensor<16x16xf32>
      %3 = kda.decayed_gram %arg7, %arg7, %2 row_scale(%arg10 : tensor<16xf32>) mask = strict : tensor<16x16xf32> -> tensor<16x16xf32>
      %4 = kda.forward_substitution %3 : tensor<16x16xf32>
      %w, %u = kda.wy %4, %arg7, %arg8, %2, %arg10 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>
      %5 = kda.state_apply %u, %w, %arg11 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
      %6 = kda.state_update %arg11, %arg7, %2, %5 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
      %7 = kda.zero : tensor<16x16xf32>
      kda.yield %7, %6 : tensor<16x16xf32>, tensor<16x16xf32>
    }
    %next_state_grads = kda.chunk_state_grads q(%arg0) k(%arg1) v(%arg2) g(%arg3) beta(%arg4) states(%0) do(%arg5) chunk_size = 16 gate = channel : (tensor<1x8x1x16xbf16>, tensor<1x8x1x16xbf16>, tensor<1x8x1x16xbf16>, tensor<1x8x1x16xf32>, tensor<1x8x1xbf16>, tensor<?x1x16x16xf32>, tensor<1x8x1x16xf32>) -> tensor<?x1x16x16xf32> {
    ^bb0(%arg6: tensor<16x16xf32>, %arg7: tensor<16x16xf32>, %arg8: tensor<16x16xf32>, %arg9: tensor<16x16xf32>, %arg10: tensor<16xf32>, %arg11: tensor<16x16xf32>, %arg12: tensor<16x16xf32>, %arg13: tensor<16x16xf32>):
      %2 = kda.cumsum %arg9 : tensor<16x16xf32>
      %3 = kda.decayed_gram %arg7, %arg7, %2 row_scale(%arg10 : tensor<16xf32>) mask = strict : tensor<16x16xf32> -> tensor<16x16xf32>
      %4 = kda.forward_substitution %3 : tensor<16x16xf32>
      %w, %u = kda.wy %4, %arg7, %arg8, %2, %arg10 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>
      %5 = kda.state_apply %u, %w, %arg11 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
      %6 = kda.decayed_gram %arg6, %arg7, %2 mask = inclusive scale = 2.500000e-01 : tensor<16x16xf32> -> tensor<16x16xf32>
      %dstate, %dk, %dgc, %dvalues = kda.state_update_grad %arg11, %arg7, %2, %5, %arg13 : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
      %dq, %dgc_0, %dstate_1, %dAqk, %dvalues_2 = kda.output_grad %arg6, %2, %arg11, %6, %5, %arg12 scale = 2.500000e-01 : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
      %7 = kda.add %dstate, %dstate_1 : tensor<16x16xf32>
      %8 = kda.add %dvalues, %dvalues_2 : tensor<16x16xf32>
      %du, %dw, %dstate_3 = kda.state_apply_grad %w, %arg11, %8 : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
      %9 = kda.add %7, %dstate_3 : tensor<16x16xf32>
      %10 = kda.zero : tensor<16x16xf32>
      %11 = kda.zero : tensor<16xf32>
      kda.grad_yield %10, %10, %10, %10, %11, %9 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16x16xf32>
    }
    %1:5 = kda.chunk_grad_map q(%arg0) k(%arg1) v(%arg2) g(%arg3) beta(%arg4) states(%0) next_state_grads(%next_state_grads) do(%arg5) chunk_size = 16 gate = channel : (tensor<1x8x1x16xbf16>, tensor<1x8x1x16xbf16>, tensor<1x8x1x16xbf16>, tensor<1x8x1x16xf32>, tensor<1x8x1xbf16>, tensor<?x1x16x16xf32>, tensor<?x1x16x16xf32>, tensor<1x8x1x16xf32>) -> (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>) {
    ^bb0(%arg6: tensor<16x16xf32>, %arg7: tensor<16x16xf32>, %arg8: tensor<16x16xf32>, %arg9: tensor<16x16xf32>, %arg10: tensor<16xf32>, %arg11: tensor<16x16xf32>, %arg12: tensor<16x16xf32>, %arg13: tensor<16x16xf32>):
      %2 = kda.cumsum %arg9 : tensor<16x16xf32>
      %3 = kda.decayed_gram %arg7, %arg7, %2 row_scale(%arg10 : tensor<16xf32>) mask = strict : tensor<16x16xf32> -> tensor<16x16xf32>
      %4 = kda.forward_substitution %3 : tensor<16x16xf32>
      %w, %u = kda.wy %4, %arg7, %arg8, %2, %arg10 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>
      %5 = kda.state_apply %u, %w, %arg11 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
      %6 = kda.decayed_gram %arg6, %arg7, %2 mask = inclusive scale = 2.500000e-01 : tensor<16x16xf32> -> tensor<16x16xf32>
      %dstate, %dk, %dgc, %dvalues = kda.state_update_grad %arg11, %arg7, %2, %5, %arg13 : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
      %dq, %dgc_0, %dstate_1, %dAqk, %dvalues_2 = kda.output_grad %arg6, %2, %arg11, %6, %5, %arg12 scale = 2.500000e-01 : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
      %7 = kda.add %dgc, %dgc_0 : tensor<16x16xf32>
      %8 = kda.add %dvalues, %dvalues_2 : tensor<16x16xf32>
      %9:3 = kda.decayed_gram_grad %dAqk, %arg6, %arg7, %2 mask = inclusive scale = 2.500000e-01 : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
      %10 = kda.add %dq, %9#0 : tensor<16x16xf32>
      %11 = kda.add %dk, %9#1 : tensor<16x16xf32>
      %12 = kda.add %7, %9#2 : tensor<16x16xf32>
      %du, %dw, %dstate_3 = kda.state_apply_grad %w, %arg11, %8 : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
      %dM, %dk_4, %dv, %dgc_5, %dbeta = kda.wy_grad %4, %arg7, %arg8, %2, %arg10, %dw, %du : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>)
      %13 = kda.add %11, %dk_4 : tensor<16x16xf32>
      %14 = kda.add %12, %dgc_5 : tensor<16x16xf32>
      %15 = kda.ut_inverse_grad %4, %dM : tensor<16x16xf32>
      %16:4 = kda.decayed_gram_grad %15, %arg7, %arg7, %2 row_scale(%arg10) mask = strict : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>)
      %17 = kda.add %13, %16#0 : tensor<16x16xf32>
      %18 = kda.add %17, %16#1 : tensor<16x16xf32>
      %19 = kda.add %14, %16#2 : tensor<16x16xf32>
      %20 = kda.add %dbeta, %16#3 : tensor<16xf32>
      %21 = kda.reverse_cumsum %19 : tensor<16x16xf32>
      %22 = kda.zero : tensor<16x16xf32>
      kda.grad_yield %10, %18, %dv, %21, %20, %22 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16x16xf32>
    }
    return %1#0, %1#1, %1#2, %1#3, %1#4 : tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>
  }
}

// -----

// A forward chunk loop keeps its compound ops.
// CHECK-LABEL: func @forward
// CHECK: kda.wy
// CHECK: kda.state_apply
// CHECK: kda.output
// CHECK: kda.state_update
module {
  func.func @forward(%arg0: tensor<1x8x1x16xbf16>, %arg1: tensor<1x8x1x16xbf16>, %arg2: tensor<1x8x1x16xbf16>, %arg3: tensor<1x8x1x16xf32>, %arg4: tensor<1x8x1xbf16>) -> tensor<1x8x1x16xbf16> {
    %o = kda.chunk_loop q(%arg0) k(%arg1) v(%arg2) g(%arg3) beta(%arg4) chunk_size = 16 gate = channel : (tensor<1x8x1x16xbf16>, tensor<1x8x1x16xbf16>, tensor<1x8x1x16xbf16>, tensor<1x8x1x16xf32>, tensor<1x8x1xbf16>) -> tensor<1x8x1x16xbf16> {
    ^bb0(%arg5: tensor<16x16xf32>, %arg6: tensor<16x16xf32>, %arg7: tensor<16x16xf32>, %arg8: tensor<16x16xf32>, %arg9: tensor<16xf32>, %arg10: tensor<16x16xf32>):
      %0 = kda.cumsum %arg8 : tensor<16x16xf32>
      %1 = kda.decayed_gram %arg6, %arg6, %0 row_scale(%arg9 : tensor<16xf32>) mask = strict : tensor<16x16xf32> -> tensor<16x16xf32>
      %2 = kda.ut_inverse %1 : tensor<16x16xf32>
      %w, %u = kda.wy %2, %arg6, %arg7, %0, %arg9 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>
      %3 = kda.state_apply %u, %w, %arg10 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
      %4 = kda.decayed_gram %arg5, %arg6, %0 mask = inclusive scale = 2.500000e-01 : tensor<16x16xf32> -> tensor<16x16xf32>
      %5 = kda.output %arg5, %0, %arg10, %4, %3 scale = 2.500000e-01 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %6 = kda.state_update %arg10, %arg6, %0, %3 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
      kda.yield %5, %6 : tensor<16x16xf32>, tensor<16x16xf32>
    }
    return %o : tensor<1x8x1x16xbf16>
  }
}
