// kda-chunk-grad-split needs the derived backward body.
// RUN: kda-opt %s --kda-chunk-grad-split -verify-diagnostics

func.func @underived(%q: tensor<1x8x1x16xf32>, %b: tensor<1x8x1xf32>, %do: tensor<1x8x1x16xf32>) {
  // expected-error @+1 {{has no backward body to split: run kda-chunk-adjoint first}}
  %0:4 = kda.chunk_grad_loop q(%q) k(%q) v(%q) beta(%b) do(%do) chunk_size = 16 gate = none
      : (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>, tensor<1x8x1x16xf32>)
        -> (tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1x16xf32>, tensor<1x8x1xf32>) forward {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>, %s: tensor<16x16xf32>):
    kda.yield %cv, %s : tensor<16x16xf32>, tensor<16x16xf32>
  } backward {
  }
  return
}
