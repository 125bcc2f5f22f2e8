// convert-kda-grad-to-kdk's scans split V when scan-v-tile divides it and
// the scan's body is separable by columns: V / scan-v-tile blocks per
// (sequence, value head), each loading, carrying and storing a K x tile
// column block; the map (one block per chunk slot) keeps all of V. A body
// that mixes columns (here a product contracting over v's columns) keeps
// all of V; so does a tile that does not divide V. With prepared scans
// (the default) a block loads its columns of the V-wide prepared u and all
// K of w and the decayed k.
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --initial-state --final-state --grad-scan-prep=false --emit=split | kda-opt '--convert-kda-grad-to-kdk=scan-v-tile=8' | FileCheck %s
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --grad-scan-prep=false --emit=split | sed 's/kda.matmul %4, %7 :/kda.matmul %7, %4 :/' | kda-opt '--convert-kda-grad-to-kdk=scan-v-tile=8' | FileCheck %s --check-prefix=MIXED
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --grad-scan-prep=false --emit=split | kda-opt '--convert-kda-grad-to-kdk=scan-v-tile=12' | FileCheck %s --check-prefix=WHOLE
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --grad-v-tile=8 --emit=kernel | FileCheck %s --check-prefix=FLAG
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --grad-v-tile=8 --emit=kernel | FileCheck %s --check-prefix=PREP
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --grad-scan-prep=false --emit=split | not kda-opt '--convert-kda-grad-to-kdk=scan-v-tile=-1' 2>&1 | FileCheck %s --check-prefix=BAD

// CHECK-LABEL: func.func @kda_bwd_states
// CHECK-SAME: kdk.grid = #kdk.grid<2, 1, sequences>
// CHECK: kdk.alloc_tile : memref<32x9xf32, 3>
// CHECK: %[[COLUMN_BLOCK:.*]] = kdk.block_id 0
// CHECK: %[[FIRST:.*]] = arith.muli %[[COLUMN_BLOCK]], %c8
// CHECK: arith.addi %{{.*}}, %[[FIRST]]
// CHECK: kdk.load_tile {{.*}} rows(%c32) row_stride(%c16) {{.*}} : memref<?xf32>, memref<32x8xf32, strided<[9, 1]>, 3>
// CHECK: kdk.store_tile {{.*}} rows(%c32{{.*}}) row_stride(%c16{{.*}}) {{.*}} : memref<32x8xf32, strided<[9, 1]>, 3>, memref<?xf32>
// CHECK: kdk.load_tile {{.*}} : memref<?xbf16>, memref<16x8xf32
// CHECK-LABEL: func.func @kda_bwd_state_grads
// CHECK-SAME: kdk.grid = #kdk.grid<2, 1, sequences>
// CHECK-LABEL: func.func @kda_bwd_map
// CHECK-SAME: kdk.grid = #kdk.grid<chunk_slots, 1, 1>

// MIXED-LABEL: func.func @kda_bwd_states
// MIXED-SAME: kdk.grid = #kdk.grid<1, 1, sequences>
// MIXED-LABEL: func.func @kda_bwd_state_grads
// MIXED-SAME: kdk.grid = #kdk.grid<2, 1, sequences>

// WHOLE-COUNT-2: kdk.grid = #kdk.grid<1, 1, sequences>
// FLAG-COUNT-2: kdk.grid = #kdk.grid<2, 1, sequences>
// BAD: error: convert-kda-grad-to-kdk: scan-v-tile must be 0 (all of V) or a tile of at most 256 columns, got -1

// PREP-LABEL: func.func @kda_bwd_states
// PREP-SAME: kdk.grid = #kdk.grid<2, 1, sequences>
// PREP: kdk.load_tile {{.*}} row_stride(%c32) {{.*}} : memref<?xf32>, memref<16x32xf32
// PREP: kdk.load_tile {{.*}} row_stride(%c16) {{.*}} : memref<?xf32>, memref<16x8xf32
// PREP: kdk.load_tile {{.*}} : memref<?xf32>, memref<32xf32
// PREP: kdk.load_tile {{.*}} row_stride(%c32) {{.*}} : memref<?xf32>, memref<16x32xf32
