// Every verifier rule of kda.recurrence, each with its exact diagnostic.
// RUN: kda-opt %s -split-input-file -verify-diagnostics

func.func @q_rank(%q: tensor<8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects q of rank 4, got 'tensor<8x2x16xf32>'}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @beta_rank(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4x1xf32>) {
  // expected-error @+1 {{expects beta of rank 3, got 'tensor<1x8x4x1xf32>'}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4x1xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @int_inputs(%q: tensor<1x8x2x16xi8>, %k: tensor<1x8x2x16xi8>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects q to have element type bf16, f16 or f32, got 'i8'}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xi8>, tensor<1x8x2x16xi8>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @f64_gate(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf64>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects g to have element type bf16, f16 or f32, got 'f64'}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf64>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @mixed_qkv(%q: tensor<1x8x2x16xbf16>, %k: tensor<1x8x2x16xbf16>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects q, k and v to share one element type, got 'bf16', 'bf16' and 'f32'}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xbf16>, tensor<1x8x2x16xbf16>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @o_dtype(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects o to have the element type of v ('f32'), got 'bf16'}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xbf16>
  return
}

// -----

func.func @dynamic_heads(%q: tensor<1x8x?x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects static head counts and head dims (H, K of q; HV, V of v)}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x?x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @zero_heads(%q: tensor<1x8x0x16xf32>, %k: tensor<1x8x0x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects positive H, HV, K and V}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x0x16xf32>, tensor<1x8x0x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @gva_not_multiple(%q: tensor<1x8x3x16xf32>, %k: tensor<1x8x3x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects the value head count HV (4) to be a multiple of the query/key head count H (3)}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x3x16xf32>, tensor<1x8x3x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @k_too_large(%q: tensor<1x8x2x512xf32>, %k: tensor<1x8x2x512xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x512xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{supports key head dim K up to 256, got 512}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x512xf32>, tensor<1x8x2x512xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x512xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @v_too_large(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x320xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{supports value head dim V up to 256, got 320}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x320xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x320xf32>
  return
}

// -----

func.func @k_seq_mismatch(%q: tensor<1x8x2x16xf32>, %k: tensor<1x9x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects k of shape [B, T, H, K], but T (dim 1) is 9 where 8 is required}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x9x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @k_head_mismatch(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x32xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects k of shape [B, T, H, K], but K (dim 3) is 32 where 16 is required}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x32xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @v_batch_mismatch(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<2x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects v of shape [B, T, HV, V], but B (dim 0) is 2 where 1 is required}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<2x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @o_shape(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects o of shape [B, T, HV, V], but V (dim 3) is 16 where 32 is required}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x16xf32>
  return
}

// -----

func.func @beta_heads(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x2xf32>) {
  // expected-error @+1 {{expects beta of shape [B, T, HV], but HV (dim 2) is 2 where 4 is required}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x2xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @g_with_gate_none(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects no g with gate = none}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = none update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @missing_g(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects a g operand with gate = channel}}
  %o = kda.recurrence q(%q) k(%k) v(%v) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @scalar_gate_shape(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x2xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects g of shape [B, T, HV] (gate = scalar), but HV (dim 2) is 2 where 4 is required}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = scalar update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x2xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @channel_gate_shape(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects g of rank 4, got 'tensor<1x8x4xf32>'}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @channel_gate_dim(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x32xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects g of shape [B, T, HV, K] (gate = channel), but K (dim 3) is 32 where 16 is required}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @activation_without_gate(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %beta: tensor<1x8x4xf32>, %a: tensor<4xf32>) {
  // expected-error @+1 {{expects a gate (scalar or channel) with activation = softplus}}
  %o = kda.recurrence q(%q) k(%k) v(%v) beta(%beta) A_log(%a) gate = none update = delta activation = softplus
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4xf32>, tensor<4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @alog_without_activation(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>, %a: tensor<4xf32>) {
  // expected-error @+1 {{expects A_log and dt_bias only with a fused gate activation}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) A_log(%a) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>, tensor<4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @softplus_without_alog(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects A_log with activation = softplus}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta activation = softplus
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @alog_shape(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>, %a: tensor<2xf32>) {
  // expected-error @+1 {{expects A_log of shape [HV], but HV (dim 0) is 2 where 4 is required}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) A_log(%a) gate = channel update = delta activation = softplus
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>, tensor<2xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @dt_bias_shape(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>, %a: tensor<4xf32>, %dt: tensor<16xf32>) {
  // expected-error @+1 {{expects dt_bias of shape [HV*K] (gate = channel), but HV*K (dim 0) is 16 where 64 is required}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) A_log(%a) dt_bias(%dt) gate = channel update = delta activation = softplus
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>, tensor<4xf32>, tensor<16xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @lowerbound_missing(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects lower_bound with activation = lowerbound}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta activation = lowerbound
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @lowerbound_too_low(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects lower_bound in [-5, 0), got -6}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta activation = lowerbound lower_bound = -6.0
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @lowerbound_zero(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects lower_bound in [-5, 0), got 0}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta activation = lowerbound lower_bound = 0.0
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @lowerbound_without_activation(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects lower_bound only with activation = lowerbound}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta lower_bound = -1.0
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @negative_scale(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects a positive finite scale, got -1}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta scale = -1.0
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @cu_seqlens_type(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>, %cu: tensor<?xf32>) {
  // expected-error @+1 {{expects cu_seqlens to be a 1-D tensor of i64 or i32, got 'tensor<?xf32>'}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) cu_seqlens(%cu) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>, tensor<?xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @cu_seqlens_batch(%q: tensor<2x8x2x16xf32>, %k: tensor<2x8x2x16xf32>, %v: tensor<2x8x4x32xf32>, %g: tensor<2x8x4x16xf32>, %beta: tensor<2x8x4xf32>, %cu: tensor<?xi64>) {
  // expected-error @+1 {{expects B == 1 with cu_seqlens (sequences are packed along T), got B = 2}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) cu_seqlens(%cu) gate = channel update = delta
      : (tensor<2x8x2x16xf32>, tensor<2x8x2x16xf32>, tensor<2x8x4x32xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4xf32>, tensor<?xi64>) -> tensor<2x8x4x32xf32>
  return
}

// -----

func.func @cu_seqlens_short(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>, %cu: tensor<1xi64>) {
  // expected-error @+1 {{expects cu_seqlens to hold at least 2 offsets, got 1}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) cu_seqlens(%cu) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>, tensor<1xi64>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @state_dtype(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>, %s0: tensor<1x4x16x32xf16>) {
  // expected-error @+1 {{expects initial_state to have element type f32 or bf16, got 'f16'}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) initial_state(%s0) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>, tensor<1x4x16x32xf16>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @state_shape_kv(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>, %s0: tensor<1x4x32x16xf32>) {
  // expected-error @+1 {{expects initial_state of shape [N, HV, K, V] (layout = kv), but K (dim 2) is 32 where 16 is required}}
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) initial_state(%s0) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>, tensor<1x4x32x16xf32>) -> tensor<1x8x4x32xf32>
  return
}

// -----

func.func @state_shape_vk(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>) {
  // expected-error @+1 {{expects final_state of shape [N, HV, V, K] (layout = vk), but V (dim 2) is 16 where 32 is required}}
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta layout = vk
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>) -> (tensor<1x8x4x32xf32>, tensor<1x4x16x32xf32>)
  return
}

// -----

func.func @state_count_varlen(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>, %cu: tensor<4xi64>) {
  // expected-error @+1 {{expects final_state of shape [N, HV, K, V] (layout = kv), but N (dim 0) is 2 where 3 is required}}
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) cu_seqlens(%cu) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>, tensor<4xi64>) -> (tensor<1x8x4x32xf32>, tensor<2x4x16x32xf32>)
  return
}

// -----

func.func @state_type_mismatch(%q: tensor<1x8x2x16xf32>, %k: tensor<1x8x2x16xf32>, %v: tensor<1x8x4x32xf32>, %g: tensor<1x8x4x16xf32>, %beta: tensor<1x8x4xf32>, %s0: tensor<1x4x16x32xf32>) {
  // expected-error @+1 {{expects initial_state and final_state of one type, got 'tensor<1x4x16x32xf32>' and 'tensor<1x4x16x32xbf16>'}}
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) initial_state(%s0) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x4x32xf32>, tensor<1x8x4x16xf32>, tensor<1x8x4xf32>, tensor<1x4x16x32xf32>) -> (tensor<1x8x4x32xf32>, tensor<1x4x16x32xbf16>)
  return
}

// -----

func.func @pool_without_final_state(%q: tensor<2x1x1x16xf32>, %g: tensor<2x1x1x16xf32>, %beta: tensor<2x1x1xf32>, %pool: tensor<5x1x16x16xf32>, %slots: tensor<2xi32>) {
  // expected-error @+1 {{expects initial_state and a final_state result with state_indices (the pool is read and written in place)}}
  %o = kda.recurrence q(%q) k(%q) v(%q) g(%g) beta(%beta) initial_state(%pool) state_indices(%slots) gate = channel update = delta
      : (tensor<2x1x1x16xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1xf32>, tensor<5x1x16x16xf32>, tensor<2xi32>) -> tensor<2x1x1x16xf32>
  return
}

// -----

func.func @pool_index_type(%q: tensor<2x1x1x16xf32>, %g: tensor<2x1x1x16xf32>, %beta: tensor<2x1x1xf32>, %pool: tensor<5x1x16x16xf32>, %slots: tensor<2xi64>) {
  // expected-error @+1 {{expects state_indices to be an [N] or [N, S] tensor of i32, got 'tensor<2xi64>'}}
  %o, %s = kda.recurrence q(%q) k(%q) v(%q) g(%g) beta(%beta) initial_state(%pool) state_indices(%slots) gate = channel update = delta
      : (tensor<2x1x1x16xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1xf32>, tensor<5x1x16x16xf32>, tensor<2xi64>) -> (tensor<2x1x1x16xf32>, tensor<5x1x16x16xf32>)
  return
}

// -----

func.func @pool_index_count(%q: tensor<2x1x1x16xf32>, %g: tensor<2x1x1x16xf32>, %beta: tensor<2x1x1xf32>, %pool: tensor<5x1x16x16xf32>, %slots: tensor<3xi32>) {
  // expected-error @+1 {{expects state_indices of shape [N], but N (dim 0) is 3 where 2 is required}}
  %o, %s = kda.recurrence q(%q) k(%q) v(%q) g(%g) beta(%beta) initial_state(%pool) state_indices(%slots) gate = channel update = delta
      : (tensor<2x1x1x16xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1xf32>, tensor<5x1x16x16xf32>, tensor<3xi32>) -> (tensor<2x1x1x16xf32>, tensor<5x1x16x16xf32>)
  return
}

// -----

func.func @accepted_needs_per_token_slots(%q: tensor<2x1x1x16xf32>, %g: tensor<2x1x1x16xf32>, %beta: tensor<2x1x1xf32>, %pool: tensor<5x1x16x16xf32>, %slots: tensor<2xi32>, %accepted: tensor<2xi32>) {
  // expected-error @+1 {{expects num_accepted only with [N, S] state_indices}}
  %o, %s = kda.recurrence q(%q) k(%q) v(%q) g(%g) beta(%beta) initial_state(%pool) state_indices(%slots) num_accepted(%accepted) gate = channel update = delta
      : (tensor<2x1x1x16xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1x16xf32>, tensor<2x1x1xf32>, tensor<5x1x16x16xf32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<2x1x1x16xf32>, tensor<5x1x16x16xf32>)
  return
}

// -----

func.func @records_need_a_pool(%q: tensor<2x3x1x16xf32>, %g: tensor<2x3x1x16xf32>, %beta: tensor<2x3x1xf32>) {
  // expected-error @+1 {{expects state_indices with token_records}}
  %o, %r = kda.recurrence q(%q) k(%q) v(%q) g(%g) beta(%beta) gate = channel update = delta token_records
      : (tensor<2x3x1x16xf32>, tensor<2x3x1x16xf32>, tensor<2x3x1x16xf32>, tensor<2x3x1x16xf32>, tensor<2x3x1xf32>) -> (tensor<2x3x1x16xf32>, tensor<2x3x1x48xf32>)
  return
}

// -----

func.func @records_static_tokens(%q: tensor<2x9x1x16xf32>, %g: tensor<2x9x1x16xf32>, %beta: tensor<2x9x1xf32>, %pool: tensor<5x1x16x16xf32>, %slots: tensor<2xi32>) {
  // expected-error @+1 {{token records need a static T in [1, 8] (the call's tokens run as one chunk)}}
  %o, %r = kda.recurrence q(%q) k(%q) v(%q) g(%g) beta(%beta) initial_state(%pool) state_indices(%slots) gate = channel update = delta token_records
      : (tensor<2x9x1x16xf32>, tensor<2x9x1x16xf32>, tensor<2x9x1x16xf32>, tensor<2x9x1x16xf32>, tensor<2x9x1xf32>, tensor<5x1x16x16xf32>, tensor<2xi32>) -> (tensor<2x9x1x16xf32>, tensor<2x9x1x48xf32>)
  return
}

// -----

func.func @records_kv_only(%q: tensor<2x3x1x16xf32>, %g: tensor<2x3x1x16xf32>, %beta: tensor<2x3x1xf32>, %pool: tensor<5x1x16x16xf32>, %slots: tensor<2xi32>) {
  // expected-error @+1 {{token records need a kv state layout}}
  %o, %r = kda.recurrence q(%q) k(%q) v(%q) g(%g) beta(%beta) initial_state(%pool) state_indices(%slots) gate = channel update = delta layout = vk token_records
      : (tensor<2x3x1x16xf32>, tensor<2x3x1x16xf32>, tensor<2x3x1x16xf32>, tensor<2x3x1x16xf32>, tensor<2x3x1xf32>, tensor<5x1x16x16xf32>, tensor<2xi32>) -> (tensor<2x3x1x16xf32>, tensor<2x3x1x48xf32>)
  return
}

// -----

func.func @records_width(%q: tensor<2x3x1x16xf32>, %g: tensor<2x3x1x16xf32>, %beta: tensor<2x3x1xf32>, %pool: tensor<5x1x16x16xf32>, %slots: tensor<2xi32>) {
  // expected-error @+1 {{expects records of shape [N, T, HV, 2K + V], but 2K + V (dim 3) is 32 where 48 is required}}
  %o, %r = kda.recurrence q(%q) k(%q) v(%q) g(%g) beta(%beta) initial_state(%pool) state_indices(%slots) gate = channel update = delta token_records
      : (tensor<2x3x1x16xf32>, tensor<2x3x1x16xf32>, tensor<2x3x1x16xf32>, tensor<2x3x1x16xf32>, tensor<2x3x1xf32>, tensor<5x1x16x16xf32>, tensor<2xi32>) -> (tensor<2x3x1x16xf32>, tensor<2x3x1x32xf32>)
  return
}

// -----

func.func @records_f32(%q: tensor<2x3x1x16xf32>, %g: tensor<2x3x1x16xf32>, %beta: tensor<2x3x1xf32>, %pool: tensor<5x1x16x16xf32>, %slots: tensor<2xi32>) {
  // expected-error @+1 {{expects records of f32, got 'tensor<2x3x1x48xbf16>'}}
  %o, %r = kda.recurrence q(%q) k(%q) v(%q) g(%g) beta(%beta) initial_state(%pool) state_indices(%slots) gate = channel update = delta token_records
      : (tensor<2x3x1x16xf32>, tensor<2x3x1x16xf32>, tensor<2x3x1x16xf32>, tensor<2x3x1x16xf32>, tensor<2x3x1xf32>, tensor<5x1x16x16xf32>, tensor<2xi32>) -> (tensor<2x3x1x16xf32>, tensor<2x3x1x48xbf16>)
  return
}

// -----

func.func @commit_width(%pool: tensor<?x2x16x32xbf16>, %slots: tensor<4xi32>, %accepted: tensor<4xi32>, %r: tensor<4x3x2x32xf32>) {
  // expected-error @+1 {{expects records of shape [N, T, HV, 2K + V], but 2K + V (dim 3) is 32 where 64 is required}}
  %p = kda.commit_records pool(%pool) state_indices(%slots) num_accepted(%accepted) records(%r)
      : (tensor<?x2x16x32xbf16>, tensor<4xi32>, tensor<4xi32>, tensor<4x3x2x32xf32>) -> tensor<?x2x16x32xbf16>
  return
}

// -----

func.func @commit_tokens(%pool: tensor<?x2x16x32xbf16>, %slots: tensor<4xi32>, %accepted: tensor<4xi32>, %r: tensor<4x?x2x64xf32>) {
  // expected-error @+1 {{a commit of token records needs a static T in [1, 8]}}
  %p = kda.commit_records pool(%pool) state_indices(%slots) num_accepted(%accepted) records(%r)
      : (tensor<?x2x16x32xbf16>, tensor<4xi32>, tensor<4xi32>, tensor<4x?x2x64xf32>) -> tensor<?x2x16x32xbf16>
  return
}

// -----

func.func @commit_counts(%pool: tensor<?x2x16x32xbf16>, %slots: tensor<4xi32>, %accepted: tensor<3xi32>, %r: tensor<4x3x2x64xf32>) {
  // expected-error @+1 {{expects num_accepted of shape [N], but N (dim 0) is 3 where 4 is required}}
  %p = kda.commit_records pool(%pool) state_indices(%slots) num_accepted(%accepted) records(%r)
      : (tensor<?x2x16x32xbf16>, tensor<4xi32>, tensor<3xi32>, tensor<4x3x2x64xf32>) -> tensor<?x2x16x32xbf16>
  return
}

// -----

func.func @commit_pool_type(%pool: tensor<?x2x16x32xbf16>, %slots: tensor<4xi32>, %accepted: tensor<4xi32>, %r: tensor<4x3x2x64xf32>) {
  // expected-error @+1 {{expects the new pool of the pool's type, got 'tensor<?x2x16x32xf32>' for 'tensor<?x2x16x32xbf16>'}}
  %p = kda.commit_records pool(%pool) state_indices(%slots) num_accepted(%accepted) records(%r)
      : (tensor<?x2x16x32xbf16>, tensor<4xi32>, tensor<4xi32>, tensor<4x3x2x64xf32>) -> tensor<?x2x16x32xf32>
  return
}
