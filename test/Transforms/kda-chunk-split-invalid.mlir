// kda-chunk-split refuses, at the op, a loop body it cannot cut at the state.
// RUN: kda-opt %s -split-input-file --kda-chunk-split -verify-diagnostics

func.func @state_read_by_a_matmul(%q: tensor<1x16x1x16xf32>, %b: tensor<1x16x1xf32>) -> tensor<1x16x1x16xf32> {
  %o = kda.chunk_loop q(%q) k(%q) v(%q) beta(%b) chunk_size = 16 gate = none
      : (tensor<1x16x1x16xf32>, tensor<1x16x1x16xf32>, tensor<1x16x1x16xf32>, tensor<1x16x1xf32>)
        -> tensor<1x16x1x16xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>, %s: tensor<16x16xf32>):
    // expected-error @+1 {{kda-chunk-split: no split for state-dependent op 'kda.matmul'}}
    %x = kda.matmul %cq, %s : tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
    kda.yield %x, %s : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return %o : tensor<1x16x1x16xf32>
}

// -----

func.func @update_not_last(%q: tensor<1x16x1x16xf32>, %b: tensor<1x16x1xf32>) -> tensor<1x16x1x16xf32> {
  %o = kda.chunk_loop q(%q) k(%q) v(%q) beta(%b) chunk_size = 16 gate = none
      : (tensor<1x16x1x16xf32>, tensor<1x16x1x16xf32>, tensor<1x16x1x16xf32>, tensor<1x16x1xf32>)
        -> tensor<1x16x1x16xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>, %s: tensor<16x16xf32>):
    %a = kda.decayed_gram %cq, %ck, %cg mask = inclusive scale = 1.000000e+00 : tensor<16x16xf32> -> tensor<16x16xf32>
    // expected-error @+1 {{kda-chunk-split: expects the state to enter only through the state operand and the state update to come last}}
    %s1 = kda.state_update %s, %ck, %cg, %cv : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>
    %oc = kda.output %cq, %cg, %s1, %a, %cv scale = 1.000000e+00 : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32> -> tensor<16x16xf32>
    kda.yield %oc, %s1 : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return %o : tensor<1x16x1x16xf32>
}
