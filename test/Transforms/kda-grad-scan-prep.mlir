// kda-grad-scan-prep moves what the backward's scans compute from the
// chunk's inputs alone into one kda.chunk_map and hands them its results:
// the state scan keeps its two products with the state, the cotangent scan
// its products with dS and the K x V q^T do it recomputes (larger than a
// chunk's tile). Both scans read the one map's WY factor w; the kernels add
// kda_bwd_prep before the scans.
// RUN: kdac --op=backward --H=1 --K=32 --V=32 --grad-scan-prep=false --emit=split | kda-opt --kda-grad-scan-prep | FileCheck %s
// RUN: kdac --op=backward --H=1 --K=32 --V=32 --emit=kernel | FileCheck %s --check-prefix=KERNELS
// RUN: kdac --op=backward --H=1 --K=32 --V=32 --emit=split | not kda-opt --kda-grad-scan-prep 2>&1 | FileCheck %s --check-prefix=TWICE

// CHECK-LABEL: func.func @kda_backward
// CHECK: %[[P:.*]]:6 = kda.chunk_map {{.*}} names = ["prepared0", "prepared1", "prepared2", "prepared3", "prepared4", "prepared5"]
// CHECK: kda.cumsum
// CHECK: kda.forward_substitution
// CHECK: kda.map_yield
// CHECK: kda.chunk_states {{.*}} prepared(%[[P]]#0, %[[P]]#1, %[[P]]#2, %[[P]]#3)
// CHECK-NOT: kda.cumsum
// CHECK-NOT: kda.forward_substitution
// CHECK: kda.matmul %{{.*}}, %{{.*}} : tensor<16x32xf32>, tensor<32x32xf32>
// CHECK: kda.yield
// CHECK: kda.chunk_state_grads {{.*}} prepared(%[[P]]#0, %[[P]]#4, %[[P]]#2, %[[P]]#3, %[[P]]#5)
// CHECK-NOT: kda.cumsum
// CHECK: kda.matmul %{{.*}}, %{{.*}} transpose_lhs scale = {{.*}} : tensor<16x32xf32>, tensor<16x32xf32> -> tensor<32x32xf32>
// CHECK: kda.grad_yield
// The map over every chunk keeps its own body.
// CHECK: kda.chunk_grad_map
// CHECK: kda.cumsum

// KERNELS: func.func @kda_bwd_prep
// KERNELS-SAME: kdk.grid = #kdk.grid<chunk_slots, 1, 1>
// KERNELS: kdk.store_tile
// The scans issue their prepared tiles (and an f32 do) by cp.async, all in
// flight at once, and wait once; the state is decayed and updated in its
// own tile (no copy back into it), two blocks to an SM.
// KERNELS: func.func @kda_bwd_states
// KERNELS-SAME: kdk.min_blocks_per_sm = 2
// KERNELS-NOT: kdk.decayed_gram
// KERNELS: scf.for
// KERNELS: kdk.store_tile %[[S:[^ ]+]] into
// KERNELS-COUNT-4: kdk.load_tile {{.*}} async
// KERNELS-NEXT: kdk.wait_async
// KERNELS-NEXT: kdk.barrier
// KERNELS: kdk.scale_rows %[[S]], %{{[^ ]+}} :
// KERNELS-NEXT: kdk.barrier
// KERNELS-NEXT: kdk.mma {{.*}} into %[[S]] transpose_lhs tf32 accumulate
// KERNELS-NEXT: kdk.barrier
// KERNELS-NEXT: }
// KERNELS: func.func @kda_bwd_state_grads
// KERNELS: scf.for
// KERNELS-COUNT-6: kdk.load_tile {{.*}} async
// KERNELS-NEXT: kdk.wait_async
// KERNELS-NEXT: kdk.barrier
// KERNELS: func.func @kda_bwd_map

// TWICE: error: kda-grad-scan-prep: the scans already read prepared values
