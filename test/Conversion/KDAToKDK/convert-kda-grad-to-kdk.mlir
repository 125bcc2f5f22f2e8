// convert-kda-grad-to-kdk: the split, decomposed backward (K = V = 16, f32,
// initial and final state) becomes three kernels whose bodies are one kdk op
// per primitive, with the states exchanged through two workspaces.
// RUN: kda-opt %s --convert-kda-grad-to-kdk | FileCheck %s
// RUN: kda-opt %s --convert-kda-grad-to-kdk --kdk-allocate-shared-memory | kdac-translate --kdk-to-cuda | FileCheck %s --check-prefix=CUDA
// scan-blocks-per-sm bounds the scans (kdk.min_blocks_per_sm, printed as
// __launch_bounds__' second argument), not the map.
// RUN: kda-opt %s --convert-kda-grad-to-kdk="scan-blocks-per-sm=2" --kdk-allocate-shared-memory | kdac-translate --kdk-to-cuda | FileCheck %s --check-prefix=BOUND
// RUN: not kda-opt %s --convert-kda-grad-to-kdk="scan-blocks-per-sm=9" 2>&1 | FileCheck %s --check-prefix=TOO-MANY

// CHECK-LABEL: func.func @kda_bwd_states
// CHECK-SAME: #kdk.workspace<"states"
// CHECK-SAME: kdk.grid = #kdk.grid<1, 2, sequences>
// CHECK: kdk.sequence_range
// CHECK: scf.for
// CHECK: kdk.store_tile {{.*}} : memref<16x16xf32, {{.*}}>, memref<?xf32>
// CHECK: kdk.tri_inverse
// CHECK: kdk.mma {{.*}} transpose_lhs
// CHECK-LABEL: func.func @kda_bwd_state_grads
// CHECK-SAME: kdk.arg = #kdk.tensor<"do">
// CHECK-SAME: kdk.arg = #kdk.tensor<"dht">
// CHECK-SAME: #kdk.workspace<"next_state_grads"
// CHECK-SAME: kdk.arg = #kdk.tensor<"dh0">
// CHECK: arith.subi
// The state's cotangent update: products accumulate into one K x V tile.
// CHECK: kdk.mma {{.*}} transpose_lhs accumulate alpha = -1.000000e+00
// CHECK-LABEL: func.func @kda_bwd_map
// CHECK-SAME: kdk.arg = #kdk.tensor<"dq">
// CHECK-SAME: kdk.arg = #kdk.tensor<"dbeta">
// CHECK-SAME: kdk.grid = #kdk.grid<chunk_slots, 2, 1>
// CHECK: kdk.locate_chunk
// (Ops run in the order that keeps the fewest tiles alive.)
// CHECK-DAG: kdk.row_dot
// CHECK-DAG: kdk.column_sum
// CHECK-DAG: kdk.add_to_last_row
// CHECK-DAG: kdk.decayed_gram_grad
// CHECK-DAG: kdk.mma {{.*}} transpose_rhs
// CHECK-DAG: kdk.tril {{.*}} mask = strict scale = -1.000000e+00
// CHECK-DAG: kdk.cumsum_rows {{.*}} reverse
// CHECK: kdk.store_tile
// CHECK-NOT: func.func @kda_backward

// CUDA: #include "kdac/kdac_grad.cuh"
// CUDA: kda_bwd_state_grads({{.*}}const float *__restrict__ do_,
// CUDA: kdac::decayedGramGrad<NT, 16, 16, true>(
module attributes {kdk.target = #kdk.target<"sm_90a", shared_memory = 232448, registers = 255>} {
  func.func @kda_backward(%arg0: tensor<1x?x2x16xf32>, %arg1: tensor<1x?x2x16xf32>, %arg2: tensor<1x?x2x16xf32>, %arg3: tensor<1x?x2x16xf32>, %arg4: tensor<1x?x2xf32>, %arg5: tensor<1x2x16x16xf32>, %arg6: tensor<1x?x2x16xf32>, %arg7: tensor<1x2x16x16xf32>) -> (tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<1x2x16x16xf32>) {
    %0 = kda.chunk_states q(%arg0) k(%arg1) v(%arg2) g(%arg3) beta(%arg4) initial_state(%arg5) chunk_size = 16 gate = channel : (tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<1x2x16x16xf32>) -> tensor<?x2x16x16xf32> {
    ^bb0(%arg8: tensor<16x16xf32>, %arg9: tensor<16x16xf32>, %arg10: tensor<16x16xf32>, %arg11: tensor<16x16xf32>, %arg12: tensor<16xf32>, %arg13: tensor<16x16xf32>):
      %2 = kda.cumsum %arg11 : tensor<16x16xf32>
      %3 = kda.decayed_gram %arg9, %arg9, %2 row_scale(%arg12 : tensor<16xf32>) mask = strict : tensor<16x16xf32> -> tensor<16x16xf32>
      %4 = kda.forward_substitution %3 : tensor<16x16xf32>
      %5 = kda.decay_rows %arg9, %2 : tensor<16x16xf32>
      %6 = kda.scale_rows %5, %arg12 : tensor<16x16xf32>, tensor<16xf32>
      %7 = kda.scale_rows %arg10, %arg12 : tensor<16x16xf32>, tensor<16xf32>
      %8 = kda.matmul %4, %6 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %9 = kda.matmul %4, %7 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %10 = kda.matmul %8, %arg13 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %11 = kda.sub %9, %10 : tensor<16x16xf32>
      %12 = kda.last_row_exp %2 : tensor<16x16xf32> -> tensor<16xf32>
      %13 = kda.scale_rows %arg13, %12 : tensor<16x16xf32>, tensor<16xf32>
      %14 = kda.decay_rows %arg9, %2 to_last : tensor<16x16xf32>
      %15 = kda.matmul %14, %11 transpose_lhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %16 = kda.add %13, %15 : tensor<16x16xf32>
      %17 = kda.zero : tensor<16x16xf32>
      kda.yield %17, %16 : tensor<16x16xf32>, tensor<16x16xf32>
    }
    %next_state_grads, %dh0 = kda.chunk_state_grads q(%arg0) k(%arg1) v(%arg2) g(%arg3) beta(%arg4) states(%0) do(%arg6) dht(%arg7) chunk_size = 16 gate = channel : (tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<?x2x16x16xf32>, tensor<1x?x2x16xf32>, tensor<1x2x16x16xf32>) -> (tensor<?x2x16x16xf32>, tensor<1x2x16x16xf32>) {
    ^bb0(%arg8: tensor<16x16xf32>, %arg9: tensor<16x16xf32>, %arg10: tensor<16x16xf32>, %arg11: tensor<16x16xf32>, %arg12: tensor<16xf32>, %arg13: tensor<16x16xf32>, %arg14: tensor<16x16xf32>, %arg15: tensor<16x16xf32>):
      %2 = kda.cumsum %arg11 : tensor<16x16xf32>
      %3 = kda.decayed_gram %arg9, %arg9, %2 row_scale(%arg12 : tensor<16xf32>) mask = strict : tensor<16x16xf32> -> tensor<16x16xf32>
      %4 = kda.forward_substitution %3 : tensor<16x16xf32>
      %5 = kda.decay_rows %arg9, %2 : tensor<16x16xf32>
      %6 = kda.scale_rows %5, %arg12 : tensor<16x16xf32>, tensor<16xf32>
      %7 = kda.matmul %4, %6 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %8 = kda.decayed_gram %arg8, %arg9, %2 mask = inclusive scale = 2.500000e-01 : tensor<16x16xf32> -> tensor<16x16xf32>
      %9 = kda.last_row_exp %2 : tensor<16x16xf32> -> tensor<16xf32>
      %10 = kda.decay_rows %arg9, %2 to_last : tensor<16x16xf32>
      %11 = kda.scale_rows %arg15, %9 : tensor<16x16xf32>, tensor<16xf32>
      %12 = kda.matmul %10, %arg15 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %13 = kda.decay_rows %arg8, %2 : tensor<16x16xf32>
      %14 = kda.matmul %13, %arg14 transpose_lhs scale = 2.500000e-01 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %15 = kda.matmul %8, %arg14 transpose_lhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %16 = kda.add %11, %14 : tensor<16x16xf32>
      %17 = kda.add %12, %15 : tensor<16x16xf32>
      %18 = kda.matmul %7, %17 transpose_lhs scale = -1.000000e+00 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %19 = kda.add %16, %18 : tensor<16x16xf32>
      %20 = kda.zero : tensor<16x16xf32>
      %21 = kda.zero : tensor<16xf32>
      kda.grad_yield %20, %20, %20, %20, %21, %19 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16x16xf32>
    }
    %1:5 = kda.chunk_grad_map q(%arg0) k(%arg1) v(%arg2) g(%arg3) beta(%arg4) states(%0) next_state_grads(%next_state_grads) do(%arg6) chunk_size = 16 gate = channel : (tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<?x2x16x16xf32>, tensor<?x2x16x16xf32>, tensor<1x?x2x16xf32>) -> (tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>) {
    ^bb0(%arg8: tensor<16x16xf32>, %arg9: tensor<16x16xf32>, %arg10: tensor<16x16xf32>, %arg11: tensor<16x16xf32>, %arg12: tensor<16xf32>, %arg13: tensor<16x16xf32>, %arg14: tensor<16x16xf32>, %arg15: tensor<16x16xf32>):
      %2 = kda.cumsum %arg11 : tensor<16x16xf32>
      %3 = kda.decayed_gram %arg9, %arg9, %2 row_scale(%arg12 : tensor<16xf32>) mask = strict : tensor<16x16xf32> -> tensor<16x16xf32>
      %4 = kda.forward_substitution %3 : tensor<16x16xf32>
      %5 = kda.decay_rows %arg9, %2 : tensor<16x16xf32>
      %6 = kda.scale_rows %5, %arg12 : tensor<16x16xf32>, tensor<16xf32>
      %7 = kda.scale_rows %arg10, %arg12 : tensor<16x16xf32>, tensor<16xf32>
      %8 = kda.matmul %4, %6 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %9 = kda.matmul %4, %7 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %10 = kda.matmul %8, %arg13 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %11 = kda.sub %9, %10 : tensor<16x16xf32>
      %12 = kda.decayed_gram %arg8, %arg9, %2 mask = inclusive scale = 2.500000e-01 : tensor<16x16xf32> -> tensor<16x16xf32>
      %13 = kda.last_row_exp %2 : tensor<16x16xf32> -> tensor<16xf32>
      %14 = kda.decay_rows %arg9, %2 to_last : tensor<16x16xf32>
      %15 = kda.matmul %11, %arg15 transpose_rhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %16 = kda.mul %15, %14 : tensor<16x16xf32>
      %17 = kda.row_dot %arg13, %arg15 : tensor<16x16xf32> -> tensor<16xf32>
      %18 = kda.mul %13, %17 : tensor<16xf32>
      %19 = kda.column_sum %16 : tensor<16x16xf32> -> tensor<16xf32>
      %20 = kda.add %19, %18 : tensor<16xf32>
      %21 = kda.decay_rows %15, %2 to_last : tensor<16x16xf32>
      %22 = kda.mul %15, %14 scale = -1.000000e+00 : tensor<16x16xf32>
      %23 = kda.add_to_last_row %22, %20 : tensor<16x16xf32>, tensor<16xf32>
      %24 = kda.matmul %14, %arg15 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %25 = kda.decay_rows %arg8, %2 : tensor<16x16xf32>
      %26 = kda.matmul %arg14, %arg13 transpose_rhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %27 = kda.decay_rows %26, %2 scale = 2.500000e-01 : tensor<16x16xf32>
      %28 = kda.mul %26, %25 scale = 2.500000e-01 : tensor<16x16xf32>
      %29 = kda.matmul %arg14, %11 transpose_rhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %30 = kda.matmul %12, %arg14 transpose_lhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %31 = kda.add %23, %28 : tensor<16x16xf32>
      %32 = kda.add %24, %30 : tensor<16x16xf32>
      %33:3 = kda.decayed_gram_grad %29, %arg8, %arg9, %2 mask = inclusive scale = 2.500000e-01 : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
      %34 = kda.add %27, %33#0 : tensor<16x16xf32>
      %35 = kda.add %21, %33#1 : tensor<16x16xf32>
      %36 = kda.add %31, %33#2 : tensor<16x16xf32>
      %37 = kda.matmul %32, %arg13 transpose_rhs scale = -1.000000e+00 : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %38 = kda.matmul %32, %7 transpose_rhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %39 = kda.matmul %37, %6 transpose_rhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %40 = kda.add %39, %38 : tensor<16x16xf32>
      %41 = kda.matmul %4, %37 transpose_lhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %42 = kda.matmul %4, %32 transpose_lhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %43 = kda.decay_rows %41, %2 : tensor<16x16xf32>
      %44 = kda.scale_rows %43, %arg12 : tensor<16x16xf32>, tensor<16xf32>
      %45 = kda.row_dot %42, %arg10 : tensor<16x16xf32> -> tensor<16xf32>
      %46 = kda.row_dot %41, %5 : tensor<16x16xf32> -> tensor<16xf32>
      %47 = kda.add %46, %45 : tensor<16xf32>
      %48 = kda.scale_rows %42, %arg12 : tensor<16x16xf32>, tensor<16xf32>
      %49 = kda.mul %41, %6 : tensor<16x16xf32>
      %50 = kda.add %35, %44 : tensor<16x16xf32>
      %51 = kda.add %36, %49 : tensor<16x16xf32>
      %52 = kda.matmul %4, %40 transpose_lhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %53 = kda.matmul %52, %4 transpose_rhs : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
      %54 = kda.tril %53 mask = strict scale = -1.000000e+00 : tensor<16x16xf32>
      %55:4 = kda.decayed_gram_grad %54, %arg9, %arg9, %2 row_scale(%arg12) mask = strict : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>)
      %56 = kda.add %50, %55#0 : tensor<16x16xf32>
      %57 = kda.add %56, %55#1 : tensor<16x16xf32>
      %58 = kda.add %51, %55#2 : tensor<16x16xf32>
      %59 = kda.add %47, %55#3 : tensor<16xf32>
      %60 = kda.reverse_cumsum %58 : tensor<16x16xf32>
      %61 = kda.zero : tensor<16x16xf32>
      kda.grad_yield %34, %57, %48, %60, %59, %61 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16x16xf32>
    }
    return %1#0, %1#1, %1#2, %1#3, %1#4, %dh0 : tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2xf32>, tensor<1x2x16x16xf32>
  }
}

// BOUND: __launch_bounds__(256, 2) kda_bwd_states(
// BOUND: __launch_bounds__(256, 2) kda_bwd_state_grads(
// BOUND: __launch_bounds__(256) kda_bwd_map(
// TOO-MANY: convert-kda-grad-to-kdk: scan-blocks-per-sm must be in [0, 8] for 256-thread blocks (2048 threads per SM), got 9
