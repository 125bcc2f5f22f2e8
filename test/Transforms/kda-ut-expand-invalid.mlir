// kda-ut-expand rejects a Neumann series over more than 16 tokens, naming
// the alternative.
// RUN: kda-opt %s --kda-ut-expand=method=neumann -verify-diagnostics

func.func @inverse32(%a: tensor<32x32xf32>) -> tensor<32x32xf32> {
  // expected-error @+1 {{kda-ut-expand: the Neumann series is for chunks of at most 16 tokens, got 32 (use method=blocked diag-method=neumann)}}
  %m = kda.ut_inverse %a : tensor<32x32xf32>
  return %m : tensor<32x32xf32>
}
