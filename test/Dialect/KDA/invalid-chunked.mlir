// Verifier rules of the chunkwise kda ops and the limits every kda op shares,
// each with its exact diagnostic: hand-written or mis-rewritten IR fails at
// the op, not in the interpreter or the code generator.
// RUN: kda-opt %s -split-input-file -verify-diagnostics

func.func @too_many_heads(%q: tensor<1x8x70000x16xf32>, %beta: tensor<1x8x70000xf32>) {
  // expected-error @+1 {{supports at most 65535 heads (the grid's y extent), got H = 70000 and HV = 70000}}
  %o = kda.recurrence q(%q) k(%q) v(%q) beta(%beta) gate = none update = delta
      : (tensor<1x8x70000x16xf32>, tensor<1x8x70000x16xf32>, tensor<1x8x70000x16xf32>, tensor<1x8x70000xf32>) -> tensor<1x8x70000x16xf32>
  return
}

// -----

func.func @too_many_tokens(%q: tensor<2x1099511627776x1x16xf32>, %beta: tensor<2x1099511627776x1xf32>) {
  // expected-error @+1 {{supports at most 2147483647 tokens (B * T) per call}}
  %o = kda.recurrence q(%q) k(%q) v(%q) beta(%beta) gate = none update = delta
      : (tensor<2x1099511627776x1x16xf32>, tensor<2x1099511627776x1x16xf32>, tensor<2x1099511627776x1x16xf32>, tensor<2x1099511627776x1xf32>) -> tensor<2x1099511627776x1x16xf32>
  return
}

// -----

func.func @zero_size_a_log(%q: tensor<1x8x4x16xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>, %a: tensor<0xf32>) {
  // expected-error @+1 {{expects A_log of shape [HV], but HV (dim 0) is 0 where 4 is required}}
  %o = kda.recurrence q(%q) k(%q) v(%q) g(%g) beta(%beta) A_log(%a) gate = channel update = delta activation = softplus
      : (tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>, tensor<0xf32>) -> tensor<1x8x4x16xf32>
  return
}

// -----

func.func @gate_activation_zero_size_a_log(%g: tensor<1x?x4x16xf32>, %a: tensor<0xf32>) {
  // expected-error @+1 {{expects A_log of shape [HV], but HV (dim 0) is 0 where 4 is required}}
  %0 = kda.gate_activation softplus %g A_log(%a : tensor<0xf32>) : tensor<1x?x4x16xf32> -> tensor<1x?x4x16xf32>
  return
}

// -----

func.func @gate_activation_bound(%g: tensor<1x?x4x16xf32>) {
  // expected-error @+1 {{expects lower_bound in [-5, 0), got -9}}
  %0 = kda.gate_activation lowerbound %g lower_bound = -9.0 : tensor<1x?x4x16xf32> -> tensor<1x?x4x16xf32>
  return
}

// -----

func.func @gate_activation_dt_bias(%g: tensor<1x?x4xf32>, %a: tensor<4xf32>, %dt: tensor<64xf32>) {
  // expected-error @+1 {{expects dt_bias of shape [HV] (gate = scalar), but HV (dim 0) is 64 where 4 is required}}
  %0 = kda.gate_activation softplus %g A_log(%a : tensor<4xf32>) dt_bias(%dt : tensor<64xf32>) : tensor<1x?x4xf32> -> tensor<1x?x4xf32>
  return
}

// -----

func.func @l2norm_shape(%x: tensor<1x?x2x16xbf16>) {
  // expected-error @+1 {{expects a result of the input's shape (rank >= 1)}}
  %0 = kda.l2norm %x : tensor<1x?x2x16xbf16> -> tensor<1x?x2x8xf32>
  return
}

// -----

func.func @loop_chunk_size(%q: tensor<1x?x1x16xf32>, %beta: tensor<1x?x1xf32>) {
  // expected-error @+1 {{expects chunk_size must be a power of two in [1, 128], got 4096}}
  %o = kda.chunk_loop q(%q) k(%q) v(%q) beta(%beta) chunk_size = 4096 gate = none : (tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1xf32>) -> tensor<1x?x1x16xf32> {
  ^bb0(%cq: tensor<4096x16xf32>, %ck: tensor<4096x16xf32>, %cv: tensor<4096x16xf32>, %cg: tensor<4096x16xf32>, %cb: tensor<4096xf32>, %s: tensor<16x16xf32>):
    kda.yield %cv, %s : tensor<4096x16xf32>, tensor<16x16xf32>
  }
  return
}

// -----

func.func @loop_operands_disagree(%q: tensor<1x?x1x16xf32>, %k: tensor<1x?x1x32xf32>, %beta: tensor<1x?x1xf32>) {
  // expected-error @+1 {{expects k of shape [B, T, H, K], but K (dim 3) is 32 where 16 is required}}
  %o = kda.chunk_loop q(%q) k(%k) v(%q) beta(%beta) chunk_size = 16 gate = none : (tensor<1x?x1x16xf32>, tensor<1x?x1x32xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1xf32>) -> tensor<1x?x1x16xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>, %s: tensor<16x16xf32>):
    kda.yield %cv, %s : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return
}

// -----

func.func @loop_state_shape(%q: tensor<1x?x1x16xf32>, %beta: tensor<1x?x1xf32>, %s0: tensor<1x1x16x8xf32>) {
  // expected-error @+1 {{expects initial_state of shape [N, HV, K, V] (layout = kv), but V (dim 3) is 8 where 16 is required}}
  %o = kda.chunk_loop q(%q) k(%q) v(%q) beta(%beta) initial_state(%s0) chunk_size = 16 gate = none : (tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1xf32>, tensor<1x1x16x8xf32>) -> tensor<1x?x1x16xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>, %s: tensor<16x16xf32>):
    kda.yield %cv, %s : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return
}

// -----

func.func @loop_gate_shape(%q: tensor<1x?x1x16xf32>, %g: tensor<1x?x1xf32>, %beta: tensor<1x?x1xf32>) {
  // expected-error @+1 {{expects g of rank 4, got 'tensor<1x?x1xf32>'}}
  %o = kda.chunk_loop q(%q) k(%q) v(%q) g(%g) beta(%beta) chunk_size = 16 gate = channel : (tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1xf32>, tensor<1x?x1xf32>) -> tensor<1x?x1x16xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>, %s: tensor<16x16xf32>):
    kda.yield %cv, %s : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return
}

// -----

func.func @gram_nan_scale(%a: tensor<16x8xf32>) {
  // expected-error @+1 {{expects a positive finite scale, got nan}}
  %0 = kda.decayed_gram %a, %a, %a mask = inclusive scale = 0x7FF8000000000000 : tensor<16x8xf32> -> tensor<16x16xf32>
  return
}

// -----

func.func @output_nan_scale(%q: tensor<16x8xf32>, %s: tensor<8x4xf32>, %a: tensor<16x16xf32>, %v: tensor<16x4xf32>) {
  // expected-error @+1 {{expects a positive finite scale, got nan}}
  %0 = kda.output %q, %q, %s, %a, %v scale = 0x7FF8000000000000 : tensor<16x8xf32>, tensor<8x4xf32>, tensor<16x16xf32> -> tensor<16x4xf32>
  return
}

// -----

func.func @output_aqk_shape(%q: tensor<16x8xf32>, %s: tensor<8x4xf32>, %a: tensor<8x8xf32>, %v: tensor<16x4xf32>) {
  // expected-error @+1 {{expects Aqk of shape [C, C], got 'tensor<8x8xf32>'}}
  %0 = kda.output %q, %q, %s, %a, %v scale = 1.0 : tensor<16x8xf32>, tensor<8x4xf32>, tensor<8x8xf32> -> tensor<16x4xf32>
  return
}

// -----

func.func @extract_out_of_range(%m: tensor<8x4xf32>) {
  // expected-error @+1 {{expects the 4x4 block at (6, 0) to lie inside the 8x4 matrix}}
  %0 = kda.extract_block %m[6, 0] : tensor<8x4xf32> -> tensor<4x4xf32>
  return
}

// -----

func.func @insert_negative(%b: tensor<4x4xf32>, %m: tensor<8x8xf32>) {
  // expected-error @+1 {{expects the 4x4 block at (-1, 0) to lie inside the 8x8 matrix}}
  %0 = kda.insert_block %b into %m[-1, 0] : tensor<4x4xf32> into tensor<8x8xf32>
  return
}

// -----

func.func @ut_inverse_not_square(%a: tensor<16x8xf32>) {
  // expected-error @+1 {{expects the input to be a static square matrix, got 'tensor<16x8xf32>'}}
  %0 = kda.ut_inverse %a : tensor<16x8xf32>
  return
}

// -----

func.func @cumsum_dynamic(%g: tensor<?x8xf32>) {
  // expected-error @+1 {{expects the input to be a static tile, got 'tensor<?x8xf32>'}}
  %0 = kda.cumsum %g : tensor<?x8xf32>
  return
}

// -----

func.func @zero_dynamic() {
  // expected-error @+1 {{expects a static shape, got 'tensor<?x8xf32>'}}
  %0 = kda.zero : tensor<?x8xf32>
  return
}

// -----

func.func @wy_beta_length(%m: tensor<16x16xf32>, %k: tensor<16x8xf32>, %v: tensor<16x4xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{expects beta of shape [C], got 'tensor<8xf32>'}}
  %w, %u = kda.wy %m, %k, %v, %k, %b : tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x4xf32>, tensor<8xf32>
  return
}

// -----

func.func @state_apply_state(%u: tensor<16x4xf32>, %w: tensor<16x8xf32>, %s: tensor<8x8xf32>) {
  // expected-error @+1 {{expects the state of shape [K, V], got 'tensor<8x8xf32>'}}
  %0 = kda.state_apply %u, %w, %s : tensor<16x4xf32>, tensor<16x8xf32>, tensor<8x8xf32>
  return
}

// -----

func.func @state_update_values(%s: tensor<8x4xf32>, %k: tensor<16x8xf32>, %v: tensor<8x4xf32>) {
  // expected-error @+1 {{expects the values of shape [C, V], got 'tensor<8x4xf32>'}}
  %0 = kda.state_update %s, %k, %k, %v : tensor<8x4xf32>, tensor<16x8xf32>, tensor<8x4xf32>
  return
}
