// Round trip of the split forward chunk loop: kda.chunk_map with its named
// results and crossing ops, kda.chunk_scan with the decayed products.
// RUN: kda-opt %s -split-input-file | kda-opt -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @delta
// CHECK: kda.chunk_map q(%{{.*}}) k(%{{.*}}) v(%{{.*}}) g(%{{.*}}) beta(%{{.*}}) chunk_size = 16 gate = channel names = ["u", "w", "qg", "aqk", "kg", "glast"]
// CHECK: kda.decay_rows %{{.*}}, %{{.*}} scale = 1.250000e-01 : tensor<16x32xf32>
// CHECK: kda.decay_rows %{{.*}}, %{{.*}} to_last : tensor<16x32xf32>
// CHECK: kda.last_row_exp %{{.*}} : tensor<16x32xf32> -> tensor<32xf32>
// CHECK: kda.map_yield
// CHECK: kda.chunk_scan values({{.*}}) like(%{{.*}}) initial_state(%{{.*}}) chunk_size = 16 :
// CHECK: kda.decayed_output
// CHECK: kda.decayed_state_update
// CHECK: kda.yield
func.func @delta(%arg0: tensor<1x?x2x32xbf16>, %arg1: tensor<1x?x2x32xbf16>, %arg2: tensor<1x?x2x32xbf16>, %arg3: tensor<1x?x2x32xf32>, %arg4: tensor<1x?x2xbf16>, %arg5: tensor<1x2x32x32xf32>) -> (tensor<1x?x2x32xbf16>, tensor<1x2x32x32xf32>) {
  %0:6 = kda.chunk_map q(%arg0) k(%arg1) v(%arg2) g(%arg3) beta(%arg4) chunk_size = 16 gate = channel names = ["u", "w", "qg", "aqk", "kg", "glast"] : (tensor<1x?x2x32xbf16>, tensor<1x?x2x32xbf16>, tensor<1x?x2x32xbf16>, tensor<1x?x2x32xf32>, tensor<1x?x2xbf16>) -> (tensor<?x2x16x32xf32>, tensor<?x2x16x32xf32>, tensor<?x2x16x32xf32>, tensor<?x2x16x16xf32>, tensor<?x2x16x32xf32>, tensor<?x2x32xf32>) {
  ^bb0(%arg6: tensor<16x32xf32>, %arg7: tensor<16x32xf32>, %arg8: tensor<16x32xf32>, %arg9: tensor<16x32xf32>, %arg10: tensor<16xf32>):
    %1 = kda.cumsum %arg9 : tensor<16x32xf32>
    %2 = kda.decayed_gram %arg7, %arg7, %1 row_scale(%arg10 : tensor<16xf32>) mask = strict : tensor<16x32xf32> -> tensor<16x16xf32>
    %3 = kda.ut_inverse %2 : tensor<16x16xf32>
    %w, %u = kda.wy %3, %arg7, %arg8, %1, %arg10 : tensor<16x16xf32>, tensor<16x32xf32>, tensor<16x32xf32>, tensor<16xf32>
    %4 = kda.decayed_gram %arg6, %arg7, %1 mask = inclusive scale = 1.250000e-01 : tensor<16x32xf32> -> tensor<16x16xf32>
    %5 = kda.decay_rows %arg6, %1 scale = 1.250000e-01 : tensor<16x32xf32>
    %6 = kda.decay_rows %arg7, %1 to_last : tensor<16x32xf32>
    %7 = kda.last_row_exp %1 : tensor<16x32xf32> -> tensor<32xf32>
    kda.map_yield %u, %w, %5, %4, %6, %7 : tensor<16x32xf32>, tensor<16x32xf32>, tensor<16x32xf32>, tensor<16x16xf32>, tensor<16x32xf32>, tensor<32xf32>
  }
  %o, %final_state = kda.chunk_scan values(%0#0, %0#1, %0#2, %0#3, %0#4, %0#5) like(%arg2) initial_state(%arg5) chunk_size = 16 : (tensor<?x2x16x32xf32>, tensor<?x2x16x32xf32>, tensor<?x2x16x32xf32>, tensor<?x2x16x16xf32>, tensor<?x2x16x32xf32>, tensor<?x2x32xf32>, tensor<1x?x2x32xbf16>, tensor<1x2x32x32xf32>) -> (tensor<1x?x2x32xbf16>, tensor<1x2x32x32xf32>) {
  ^bb0(%arg6: tensor<16x32xf32>, %arg7: tensor<16x32xf32>, %arg8: tensor<16x32xf32>, %arg9: tensor<16x16xf32>, %arg10: tensor<16x32xf32>, %arg11: tensor<32xf32>, %arg12: tensor<32x32xf32>):
    %1 = kda.state_apply %arg6, %arg7, %arg12 : tensor<16x32xf32>, tensor<16x32xf32>, tensor<32x32xf32>
    %2 = kda.decayed_output %arg8, %arg12, %arg9, %1 : tensor<16x32xf32>, tensor<32x32xf32>, tensor<16x16xf32> -> tensor<16x32xf32>
    %3 = kda.decayed_state_update %arg12, %arg10, %arg11, %1 : tensor<32x32xf32>, tensor<16x32xf32>, tensor<32xf32>, tensor<16x32xf32>
    kda.yield %2, %3 : tensor<16x32xf32>, tensor<32x32xf32>
  }
  return %o, %final_state : tensor<1x?x2x32xbf16>, tensor<1x2x32x32xf32>
}

// -----

// Varlen, vk layout, a final state, no g: the optional parts print as given.
// CHECK-LABEL: func.func @varlen_vk
// CHECK: kda.chunk_map q(%{{.*}}) k(%{{.*}}) v(%{{.*}}) beta(%{{.*}}) cu_seqlens(%{{.*}}) chunk_size = 16 gate = none names = ["kg"]
// CHECK: kda.chunk_scan values(%{{.*}}) like(%{{.*}}) cu_seqlens(%{{.*}}) chunk_size = 16 layout = vk :
func.func @varlen_vk(%q: tensor<1x40x1x16xf32>, %b: tensor<1x40x1xf32>, %cu: tensor<3xi64>)
    -> (tensor<1x40x1x16xf32>, tensor<2x1x16x16xf32>) {
  %kg = kda.chunk_map q(%q) k(%q) v(%q) beta(%b) cu_seqlens(%cu) chunk_size = 16 gate = none names = ["kg"]
      : (tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1x16xf32>, tensor<1x40x1xf32>, tensor<3xi64>)
        -> tensor<?x1x16x16xf32> {
  ^bb0(%cq: tensor<16x16xf32>, %ck: tensor<16x16xf32>, %cv: tensor<16x16xf32>, %cg: tensor<16x16xf32>, %cb: tensor<16xf32>):
    %x = kda.decay_rows %ck, %cg to_last : tensor<16x16xf32>
    kda.map_yield %x : tensor<16x16xf32>
  }
  %o, %ht = kda.chunk_scan values(%kg) like(%q) cu_seqlens(%cu) chunk_size = 16 layout = vk
      : (tensor<?x1x16x16xf32>, tensor<1x40x1x16xf32>, tensor<3xi64>) -> (tensor<1x40x1x16xf32>, tensor<2x1x16x16xf32>) {
  ^bb0(%t: tensor<16x16xf32>, %s: tensor<16x16xf32>):
    %z = kda.zero : tensor<16xf32>
    %s1 = kda.decayed_state_update %s, %t, %z, %t : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16x16xf32>
    kda.yield %t, %s1 : tensor<16x16xf32>, tensor<16x16xf32>
  }
  return %o, %ht : tensor<1x40x1x16xf32>, tensor<2x1x16x16xf32>
}
