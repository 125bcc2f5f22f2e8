// Round trip of kda.recurrence in every family member and prologue option.
// RUN: kda-opt %s -split-input-file | kda-opt -split-input-file | FileCheck %s

// CHECK-LABEL: func @plain_kda
// CHECK: kda.recurrence q(%{{[^)]*}}) k(%{{[^)]*}}) v(%{{[^)]*}}) g(%{{[^)]*}}) beta(%{{[^)]*}}) gate = channel update = delta :
// CHECK-NOT: activation
func.func @plain_kda(%q: tensor<2x64x4x128xbf16>, %k: tensor<2x64x4x128xbf16>,
                     %v: tensor<2x64x4x128xbf16>, %g: tensor<2x64x4x128xf32>,
                     %beta: tensor<2x64x4xbf16>) -> tensor<2x64x4x128xbf16> {
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<2x64x4x128xbf16>, tensor<2x64x4x128xbf16>, tensor<2x64x4x128xbf16>,
         tensor<2x64x4x128xf32>, tensor<2x64x4xbf16>) -> tensor<2x64x4x128xbf16>
  return %o : tensor<2x64x4x128xbf16>
}

// -----

// CHECK-LABEL: func @fused_prologue_varlen_gva
// CHECK: %[[O:.*]], %[[S:.*]] = kda.recurrence
// CHECK-SAME: A_log(%{{[^)]*}}) dt_bias(%{{[^)]*}}) initial_state(%{{[^)]*}}) cu_seqlens(%{{[^)]*}})
// CHECK-SAME: gate = channel update = delta activation = lowerbound lower_bound = -5.000000e+00 qk_l2norm beta_sigmoid layout = vk scale = 2.500000e-01
// CHECK: return %[[O]], %[[S]]
func.func @fused_prologue_varlen_gva(%q: tensor<1x?x2x64xbf16>, %k: tensor<1x?x2x64xbf16>,
    %v: tensor<1x?x4x32xbf16>, %g: tensor<1x?x4x64xf32>, %beta: tensor<1x?x4xbf16>,
    %a: tensor<4xf32>, %dt: tensor<256xf32>, %s0: tensor<?x4x32x64xf32>,
    %cu: tensor<?xi64>) -> (tensor<1x?x4x32xbf16>, tensor<?x4x32x64xf32>) {
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) A_log(%a) dt_bias(%dt)
      initial_state(%s0) cu_seqlens(%cu) gate = channel update = delta
      activation = lowerbound lower_bound = -5.0 qk_l2norm beta_sigmoid layout = vk scale = 0.25
      : (tensor<1x?x2x64xbf16>, tensor<1x?x2x64xbf16>, tensor<1x?x4x32xbf16>,
         tensor<1x?x4x64xf32>, tensor<1x?x4xbf16>, tensor<4xf32>, tensor<256xf32>,
         tensor<?x4x32x64xf32>, tensor<?xi64>) -> (tensor<1x?x4x32xbf16>, tensor<?x4x32x64xf32>)
  return %o, %s : tensor<1x?x4x32xbf16>, tensor<?x4x32x64xf32>
}

// -----

// Gated DeltaNet: one log-decay per head and token, softplus gate.
// CHECK-LABEL: func @gated_deltanet
// CHECK: gate = scalar update = delta activation = softplus
func.func @gated_deltanet(%q: tensor<1x16x2x64xf16>, %k: tensor<1x16x2x64xf16>,
    %v: tensor<1x16x2x64xf16>, %g: tensor<1x16x2xf32>, %beta: tensor<1x16x2xf16>,
    %a: tensor<2xf32>, %dt: tensor<2xf32>) -> tensor<1x16x2x64xf16> {
  %o = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) A_log(%a) dt_bias(%dt)
      gate = scalar update = delta activation = softplus
      : (tensor<1x16x2x64xf16>, tensor<1x16x2x64xf16>, tensor<1x16x2x64xf16>,
         tensor<1x16x2xf32>, tensor<1x16x2xf16>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x16x2x64xf16>
  return %o : tensor<1x16x2x64xf16>
}

// -----

// GLA-style: additive update with a channel gate; DeltaNet: no gate at all.
// CHECK-LABEL: func @additive_and_ungated
// CHECK: gate = channel update = additive
// CHECK: kda.recurrence q(%{{[^)]*}}) k(%{{[^)]*}}) v(%{{[^)]*}}) beta(%{{[^)]*}}) initial_state(%{{[^)]*}}) gate = none update = delta :
func.func @additive_and_ungated(%q: tensor<?x?x1x32xf32>, %v: tensor<?x?x1x32xf32>,
    %g: tensor<?x?x1x32xf32>, %beta: tensor<?x?x1xf32>, %s0: tensor<?x1x32x32xbf16>)
    -> (tensor<?x?x1x32xf32>, tensor<?x?x1x32xf32>) {
  %o1 = kda.recurrence q(%q) k(%q) v(%v) g(%g) beta(%beta) gate = channel update = additive
      : (tensor<?x?x1x32xf32>, tensor<?x?x1x32xf32>, tensor<?x?x1x32xf32>,
         tensor<?x?x1x32xf32>, tensor<?x?x1xf32>) -> tensor<?x?x1x32xf32>
  %o2 = kda.recurrence q(%q) k(%q) v(%v) beta(%beta) initial_state(%s0) gate = none update = delta
      : (tensor<?x?x1x32xf32>, tensor<?x?x1x32xf32>, tensor<?x?x1x32xf32>,
         tensor<?x?x1xf32>, tensor<?x1x32x32xbf16>) -> tensor<?x?x1x32xf32>
  return %o1, %o2 : tensor<?x?x1x32xf32>, tensor<?x?x1x32xf32>
}

// -----

// Decode with a state pool: [N] slots, and [N, S] per-token slots with
// accepted counts (speculative decoding).
// CHECK-LABEL: func @state_pools
// CHECK: initial_state(%{{[^)]*}}) state_indices(%{{[^)]*}}) gate = channel
// CHECK: initial_state(%{{[^)]*}}) cu_seqlens(%{{[^)]*}}) state_indices(%{{[^)]*}}) num_accepted(%{{[^)]*}}) gate = channel
func.func @state_pools(%q: tensor<4x1x2x32xbf16>, %v: tensor<4x1x2x32xbf16>,
    %g: tensor<4x1x2x32xf32>, %beta: tensor<4x1x2xbf16>,
    %pool: tensor<?x2x32x32xbf16>, %slots: tensor<4xi32>,
    %qp: tensor<1x9x2x32xbf16>, %vp: tensor<1x9x2x32xbf16>,
    %gp: tensor<1x9x2x32xf32>, %bp: tensor<1x9x2xbf16>, %cu: tensor<4xi64>,
    %draft: tensor<3x4xi32>, %accepted: tensor<3xi32>) {
  %o, %s = kda.recurrence q(%q) k(%q) v(%v) g(%g) beta(%beta) initial_state(%pool)
      state_indices(%slots) gate = channel update = delta
      : (tensor<4x1x2x32xbf16>, tensor<4x1x2x32xbf16>, tensor<4x1x2x32xbf16>,
         tensor<4x1x2x32xf32>, tensor<4x1x2xbf16>, tensor<?x2x32x32xbf16>,
         tensor<4xi32>) -> (tensor<4x1x2x32xbf16>, tensor<?x2x32x32xbf16>)
  %o2, %s2 = kda.recurrence q(%qp) k(%qp) v(%vp) g(%gp) beta(%bp) initial_state(%pool)
      cu_seqlens(%cu) state_indices(%draft) num_accepted(%accepted)
      gate = channel update = delta
      : (tensor<1x9x2x32xbf16>, tensor<1x9x2x32xbf16>, tensor<1x9x2x32xbf16>,
         tensor<1x9x2x32xf32>, tensor<1x9x2xbf16>, tensor<?x2x32x32xbf16>,
         tensor<4xi64>, tensor<3x4xi32>, tensor<3xi32>)
        -> (tensor<1x9x2x32xbf16>, tensor<?x2x32x32xbf16>)
  return
}

// -----

// Speculative decoding by records: the call only reads the pool and writes
// per-token records (k, g, v'), which kda.commit_records replays up to each
// sequence's accepted count.
// CHECK-LABEL: func @token_records
// CHECK: state_indices(%{{[^)]*}}) gate = channel update = delta token_records
// CHECK-SAME: -> (tensor<4x3x2x32xbf16>, tensor<4x3x2x96xf32>)
// CHECK: kda.commit_records pool(%{{[^)]*}}) state_indices(%{{[^)]*}}) num_accepted(%{{[^)]*}}) records(%{{[^)]*}})
// CHECK-SAME: -> tensor<?x2x32x32xbf16>
func.func @token_records(%q: tensor<4x3x2x32xbf16>, %v: tensor<4x3x2x32xbf16>,
    %g: tensor<4x3x2x32xf32>, %beta: tensor<4x3x2xbf16>,
    %pool: tensor<?x2x32x32xbf16>, %slots: tensor<4xi32>,
    %accepted: tensor<4xi32>) -> tensor<?x2x32x32xbf16> {
  %o, %r = kda.recurrence q(%q) k(%q) v(%v) g(%g) beta(%beta) initial_state(%pool)
      state_indices(%slots) gate = channel update = delta token_records
      : (tensor<4x3x2x32xbf16>, tensor<4x3x2x32xbf16>, tensor<4x3x2x32xbf16>,
         tensor<4x3x2x32xf32>, tensor<4x3x2xbf16>, tensor<?x2x32x32xbf16>,
         tensor<4xi32>) -> (tensor<4x3x2x32xbf16>, tensor<4x3x2x96xf32>)
  %p = kda.commit_records pool(%pool) state_indices(%slots)
      num_accepted(%accepted) records(%r)
      : (tensor<?x2x32x32xbf16>, tensor<4xi32>, tensor<4xi32>,
         tensor<4x3x2x96xf32>) -> tensor<?x2x32x32xbf16>
  return %p : tensor<?x2x32x32xbf16>
}
