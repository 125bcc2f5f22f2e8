// Round trip of the primitives kda-grad-decompose writes: products with
// transposes and a scale, element-wise products, row and column reductions,
// the last-row update and the causal mask.
// RUN: kda-opt %s -split-input-file | kda-opt -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @primitives
// CHECK: kda.matmul %arg0, %arg1 transpose_rhs scale = -1.000000e+00 : tensor<16x32xf32>, tensor<8x32xf32> -> tensor<16x8xf32>
// CHECK: kda.matmul %arg0, %arg2 transpose_lhs transpose_rhs : tensor<16x32xf32>, tensor<16x16xf32> -> tensor<32x16xf32>
// CHECK: kda.mul %arg0, %arg0 scale = 2.500000e-01 : tensor<16x32xf32>
// CHECK: kda.mul %arg0, %arg0 : tensor<16x32xf32>
// CHECK: kda.row_dot %arg0, %arg0 : tensor<16x32xf32> -> tensor<16xf32>
// CHECK: kda.column_sum %arg0 : tensor<16x32xf32> -> tensor<32xf32>
// CHECK: kda.add_to_last_row %arg0, %{{.*}} : tensor<16x32xf32>, tensor<32xf32>
// CHECK: kda.tril %arg2 mask = strict scale = -1.000000e+00 : tensor<16x16xf32>
// CHECK: kda.tril %arg2 mask = inclusive : tensor<16x16xf32>
func.func @primitives(%a: tensor<16x32xf32>, %b: tensor<8x32xf32>, %m: tensor<16x16xf32>) {
  %0 = kda.matmul %a, %b transpose_rhs scale = -1.0 : tensor<16x32xf32>, tensor<8x32xf32> -> tensor<16x8xf32>
  %1 = kda.matmul %a, %m transpose_lhs transpose_rhs : tensor<16x32xf32>, tensor<16x16xf32> -> tensor<32x16xf32>
  %2 = kda.mul %a, %a scale = 0.25 : tensor<16x32xf32>
  %3 = kda.mul %a, %a : tensor<16x32xf32>
  %4 = kda.row_dot %a, %a : tensor<16x32xf32> -> tensor<16xf32>
  %5 = kda.column_sum %a : tensor<16x32xf32> -> tensor<32xf32>
  %6 = kda.add_to_last_row %a, %5 : tensor<16x32xf32>, tensor<32xf32>
  %7 = kda.tril %m mask = strict scale = -1.0 : tensor<16x16xf32>
  %8 = kda.tril %m mask = inclusive : tensor<16x16xf32>
  return
}
