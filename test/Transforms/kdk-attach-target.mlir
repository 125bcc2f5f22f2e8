// kdk-attach-target puts an architecture's #kdk.target (kdac's target
// table) on the module, replacing any there; the allocation after it checks
// each kernel against that target's shared memory.
// RUN: kda-opt %s -split-input-file --kdk-attach-target=arch=sm_80 | FileCheck %s
// RUN: kda-opt %s -split-input-file --kdk-attach-target | FileCheck %s --check-prefix=SM90
// RUN: not kda-opt %s -split-input-file --kdk-attach-target=arch=sm_75 2>&1 | FileCheck %s --check-prefix=BADARCH
// RUN: not kda-opt %s -split-input-file --kdk-attach-target=arch=sm_80 --kdk-allocate-shared-memory 2>&1 | FileCheck %s --check-prefix=SM80LIMIT
// RUN: kda-opt %s -split-input-file --kdk-attach-target=arch=sm_90a --kdk-allocate-shared-memory | FileCheck %s --check-prefix=SM90FITS

// CHECK: module attributes {kdk.chunk_size = 16 : i64, kdk.target = #kdk.target<"sm_80", shared_memory = 166912, registers = 255>}
// SM90: kdk.target = #kdk.target<"sm_90a", shared_memory = 232448, registers = 255>
// BADARCH: error: kdk-attach-target: arch must be sm_90a or sm_80, got 'sm_75'
// SM80LIMIT: error: kdk-allocate-shared-memory: @k needs 196608 bytes of shared memory, over the 166912-byte limit
// SM90FITS: kdk.shared_memory_bytes = 196608 : i64
module attributes {kdk.chunk_size = 16 : i64, kdk.target = #kdk.target<"sm_90a", shared_memory = 232448, registers = 255>} {
  func.func @k() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %a = kdk.alloc_tile : memref<128x128xf32, 3>
    %b = kdk.alloc_tile : memref<128x128xf32, 3>
    %c = kdk.alloc_tile : memref<128x128xf32, 3>
    return
  }
}
