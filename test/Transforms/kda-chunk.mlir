// kda-chunk: the prologue becomes element-wise ops and the recurrence a
// kda.chunk_loop whose body is the chunkwise algebra; the body follows the
// update rule and the chunk size.
// RUN: kda-opt %s -split-input-file --kda-chunk=chunk-size=64 | FileCheck %s
// RUN: kda-opt %s -split-input-file --kda-chunk=chunk-size=16 | FileCheck %s --check-prefix=C16
// RUN: not kda-opt %s -split-input-file --kda-chunk=chunk-size=48 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: error: kda-chunk: chunk-size must be a power of two in [1, 128], got 48

// CHECK-LABEL: func @delta_fused
// CHECK-DAG: %[[Q:.*]] = kda.l2norm %arg0 : tensor<1x?x2x128xbf16> -> tensor<1x?x2x128xf32>
// CHECK-DAG: %[[K:.*]] = kda.l2norm %arg1
// CHECK-DAG: %[[G:.*]] = kda.gate_activation lowerbound %arg3 A_log(%arg5 : tensor<2xf32>) dt_bias(%arg6 : tensor<256xf32>) lower_bound = -5.000000e+00
// CHECK-DAG: %[[B:.*]] = kda.sigmoid %arg4
// CHECK: %[[O:.*]], %[[S:.*]] = kda.chunk_loop q(%[[Q]]) k(%[[K]]) v(%arg2) g(%[[G]]) beta(%[[B]]) initial_state(%arg7) chunk_size = 64 gate = channel
// CHECK-NEXT: ^bb0(%[[QC:.*]]: tensor<64x128xf32>, %[[KC:.*]]: tensor<64x128xf32>, %[[VC:.*]]: tensor<64x128xf32>, %[[GCH:.*]]: tensor<64x128xf32>, %[[BC:.*]]: tensor<64xf32>, %[[ST:.*]]: tensor<128x128xf32>):
// CHECK-NEXT: %[[GC:.*]] = kda.cumsum %[[GCH]] : tensor<64x128xf32>
// CHECK-NEXT: %[[AKK:.*]] = kda.decayed_gram %[[KC]], %[[KC]], %[[GC]] row_scale(%[[BC]] : tensor<64xf32>) mask = strict : tensor<64x128xf32> -> tensor<64x64xf32>
// CHECK-NEXT: %[[M:.*]] = kda.ut_inverse %[[AKK]] : tensor<64x64xf32>
// CHECK-NEXT: %[[W:.*]], %[[U:.*]] = kda.wy %[[M]], %[[KC]], %[[VC]], %[[GC]], %[[BC]]
// CHECK-NEXT: %[[VN:.*]] = kda.state_apply %[[U]], %[[W]], %[[ST]]
// CHECK-NEXT: %[[AQK:.*]] = kda.decayed_gram %[[QC]], %[[KC]], %[[GC]] mask = inclusive scale = 0.088388347648318{{[0-9]*}}
// CHECK-NEXT: %[[OC:.*]] = kda.output %[[QC]], %[[GC]], %[[ST]], %[[AQK]], %[[VN]] scale = 0.088388347648318{{[0-9]*}}
// CHECK-NEXT: %[[NS:.*]] = kda.state_update %[[ST]], %[[KC]], %[[GC]], %[[VN]]
// CHECK-NEXT: kda.yield %[[OC]], %[[NS]] : tensor<64x128xf32>, tensor<128x128xf32>
// CHECK: return %[[O]], %[[S]]
// C16-LABEL: func @delta_fused
// C16: kda.chunk_loop {{.*}} chunk_size = 16 gate = channel
// C16-NEXT: ^bb0(%{{.*}}: tensor<16x128xf32>, %{{.*}}: tensor<16x128xf32>, %{{.*}}: tensor<16x128xf32>, %{{.*}}: tensor<16x128xf32>, %{{.*}}: tensor<16xf32>, %{{.*}}: tensor<128x128xf32>)
// C16: kda.ut_inverse %{{.*}} : tensor<16x16xf32>
func.func @delta_fused(%q: tensor<1x?x2x128xbf16>, %k: tensor<1x?x2x128xbf16>,
    %v: tensor<1x?x2x128xbf16>, %g: tensor<1x?x2x128xf32>, %beta: tensor<1x?x2xbf16>,
    %a: tensor<2xf32>, %dt: tensor<256xf32>, %s0: tensor<1x2x128x128xf32>)
    -> (tensor<1x?x2x128xbf16>, tensor<1x2x128x128xf32>) {
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) g(%g) beta(%beta) A_log(%a) dt_bias(%dt)
      initial_state(%s0) gate = channel update = delta activation = lowerbound
      lower_bound = -5.0 qk_l2norm beta_sigmoid
      : (tensor<1x?x2x128xbf16>, tensor<1x?x2x128xbf16>, tensor<1x?x2x128xbf16>,
         tensor<1x?x2x128xf32>, tensor<1x?x2xbf16>, tensor<2xf32>, tensor<256xf32>,
         tensor<1x2x128x128xf32>) -> (tensor<1x?x2x128xbf16>, tensor<1x2x128x128xf32>)
  return %o, %s : tensor<1x?x2x128xbf16>, tensor<1x2x128x128xf32>
}

// -----

// The additive rule has no UT/WY steps; without a gate the loop reads none;
// varlen and the vk layout pass through to the loop.
// CHECK-LABEL: func @additive_ungated_varlen
// CHECK-NOT: kda.l2norm
// CHECK: kda.chunk_loop q(%arg0) k(%arg1) v(%arg2) beta(%arg3) cu_seqlens(%arg4) chunk_size = 64 gate = none layout = vk
// CHECK-NOT: kda.ut_inverse
// CHECK-NOT: kda.wy
// CHECK: %[[VN:.*]] = kda.scale_rows %{{.*}}, %{{.*}} : tensor<64x32xf32>, tensor<64xf32>
// CHECK: kda.output {{.*}}, %[[VN]] scale = 2.500000e-01
func.func @additive_ungated_varlen(%q: tensor<1x?x1x16xf32>, %k: tensor<1x?x1x16xf32>,
    %v: tensor<1x?x1x32xf32>, %beta: tensor<1x?x1xf32>, %cu: tensor<?xi64>)
    -> (tensor<1x?x1x32xf32>, tensor<?x1x32x16xf32>) {
  %o, %s = kda.recurrence q(%q) k(%k) v(%v) beta(%beta) cu_seqlens(%cu)
      gate = none update = additive layout = vk
      : (tensor<1x?x1x16xf32>, tensor<1x?x1x16xf32>, tensor<1x?x1x32xf32>,
         tensor<1x?x1xf32>, tensor<?xi64>) -> (tensor<1x?x1x32xf32>, tensor<?x1x32x16xf32>)
  return %o, %s : tensor<1x?x1x32xf32>, tensor<?x1x32x16xf32>
}
