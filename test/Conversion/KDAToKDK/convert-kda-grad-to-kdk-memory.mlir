// convert-kda-grad-to-kdk at K = V = 128 (f32 tiles, 16-token chunks): the
// tile programs' memory work is what makes the three kernels fit in the
// 227 KiB of shared memory a block may have. The state tiles pad rows by
// one element; the map computes nothing for the state's cotangent (the
// reverse scan's) and reuses dead state tiles as C x K row blocks; the
// state updates accumulate their products into one K x V tile. The scans
// keep all of V (--grad-v-tile=0), the largest tiles they can have, and
// the map reads shared copies of S and dS (--grad-map-states-in-place=false).
// RUN: kdac --op=backward --H=1 --K=128 --V=128 --dtype=f32 --initial-state --final-state --grad-v-tile=0 --grad-map-states-in-place=false --emit=kernel | FileCheck %s
// By default the map reads S and dS where the scans stored them
// (kdk.global_tile): no K x V tile of its own, under half the shared
// memory, so two blocks fit on an SM.
// RUN: kdac --op=backward --H=1 --K=128 --V=128 --dtype=f32 --initial-state --final-state --grad-v-tile=0 --emit=kernel | FileCheck %s --check-prefix=INPLACE

// CHECK-LABEL: func.func @kda_bwd_states
// CHECK: kdk.alloc_tile {{.*}} : memref<128x129xf32, 3>
// CHECK: kdk.mma {{.*}} transpose_lhs accumulate
// CHECK-LABEL: func.func @kda_bwd_state_grads
// CHECK: kdk.alloc_tile {{.*}} : memref<128x129xf32, 3>
// CHECK: kdk.mma {{.*}} transpose_lhs accumulate alpha = -1.000000e+00
// CHECK-LABEL: func.func @kda_bwd_map
// CHECK-SAME: kdk.shared_memory_bytes = 231552
// CHECK-COUNT-2: kdk.alloc_tile {{.*}} : memref<128x129xf32, 3>
// CHECK: memref.subview {{.*}} [16, 128] [1, 1] : memref<128x128xf32, strided<[129, 1]>, 3>
// CHECK-NOT: kdk.fill
// CHECK: return

// INPLACE-LABEL: func.func @kda_bwd_map
// INPLACE-SAME: kdk.shared_memory_bytes = 107904
// INPLACE-NOT: memref<128x129xf32, 3>
// INPLACE: %[[S:.*]] = kdk.global_tile %{{.*}}[%{{.*}}] : memref<?xf32> -> memref<128x128xf32, strided<[128, 1]>>
// INPLACE: %[[DS:.*]] = kdk.global_tile %{{.*}}[%{{.*}}] : memref<?xf32> -> memref<128x128xf32, strided<[128, 1]>>
// INPLACE: kdk.row_dot %[[S]], %[[DS]]
// INPLACE: kdk.mma %{{.*}}, %[[S]] into
// INPLACE-NOT: memref<128x129xf32, 3>
// INPLACE: return
