// Register fragments and their token op round-trip through the parser.
// RUN: kda-opt %s -split-input-file | kda-opt | FileCheck %s

// CHECK-LABEL: func.func @fragments
// CHECK: %[[S:.*]] = kdk.alloc_tile {fragment_layout = array<i64: 1, 8, 4>} : memref<128x32xbf16, 5>
// CHECK: kdk.mma %{{.*}}, %[[S]] into %{{.*}} : memref<1x128xf32, 3>, memref<128x32xbf16, 5>, memref<1x32xf32, 3>
// CHECK: kdk.delta_step %[[S]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} decay(%{{.*}} : memref<128xf32, 3>) into %{{.*}} additive scale = 2.500000e-01 : memref<128x32xbf16, 5>
func.func @fragments() {
  %s = kdk.alloc_tile {fragment_layout = array<i64: 1, 8, 4>} : memref<128x32xbf16, 5>
  %k = kdk.alloc_tile : memref<1x128xf32, 3>
  %v = kdk.alloc_tile : memref<1x32xf32, 3>
  %d = kdk.alloc_tile : memref<128xf32, 3>
  kdk.mma %k, %s into %v : memref<1x128xf32, 3>, memref<128x32xbf16, 5>, memref<1x32xf32, 3>
  %b = kdk.alloc_tile : memref<1xf32, 3>
  kdk.delta_step %s, %k, %k, %v, %b decay(%d : memref<128xf32, 3>) into %v additive scale = 2.5e-01 : memref<128x32xbf16, 5>, memref<1x128xf32, 3>, memref<1x128xf32, 3>, memref<1x32xf32, 3>, memref<1xf32, 3>, memref<1x32xf32, 3>
  return
}
