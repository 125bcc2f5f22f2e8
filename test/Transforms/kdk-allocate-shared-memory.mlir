// kdk-allocate-shared-memory lays each kernel's shared tiles end to end, in
// program order, at 128-byte boundaries; register fragments take none.
// RUN: kda-opt %s -split-input-file --kdk-allocate-shared-memory | FileCheck %s
// Placing placed tiles again gives the same plan.
// RUN: kda-opt %s -split-input-file --kdk-allocate-shared-memory --kdk-allocate-shared-memory | FileCheck %s
// RUN: not kda-opt %s -split-input-file --kdk-allocate-shared-memory=smem-limit=4096 2>&1 | FileCheck %s --check-prefix=LIMIT
// RUN: not kda-opt %s -split-input-file --kdk-allocate-shared-memory=smem-limit=0 2>&1 | FileCheck %s --check-prefix=BADLIMIT

// CHECK-LABEL: func.func @k
// CHECK-SAME: kdk.shared_memory_bytes = 4480 : i64
// CHECK: kdk.alloc_tile {offset = 0 : i64} : memref<16x68xf32, 3>
// CHECK: kdk.alloc_tile : memref<64x64xf32, #kdk.mma_fragment>
// A 64-byte tile still takes a whole 128-byte slot.
// CHECK: kdk.alloc_tile {offset = 4352 : i64} : memref<16xf32, 3>
// LIMIT: error: kdk-allocate-shared-memory: @k needs 4480 bytes of shared memory, over the 4096-byte limit
// BADLIMIT: error: kdk-allocate-shared-memory: smem-limit must be positive, got 0
module attributes {kdk.chunk_size = 16 : i64} {
  func.func @k() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %a = kdk.alloc_tile : memref<16x68xf32, 3>
    %s = kdk.alloc_tile : memref<64x64xf32, #kdk.mma_fragment>
    %b = kdk.alloc_tile : memref<16xf32, 3>
    return
  }
  // Functions that are not kernels are left alone.
  // CHECK-LABEL: func.func @helper
  // CHECK-NOT: kdk.shared_memory_bytes
  func.func @helper() {
    return
  }
}

// -----

// A kernel without shared tiles needs none.
// CHECK-LABEL: func.func @registers_only
// CHECK-SAME: kdk.shared_memory_bytes = 0 : i64
module attributes {kdk.chunk_size = 16 : i64} {
  func.func @registers_only() attributes {kdk.kernel, kdk.block_threads = 32 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %s = kdk.alloc_tile : memref<128x32xf32, #kdk.fragment<1, 4, 8>>
    return
  }
}
