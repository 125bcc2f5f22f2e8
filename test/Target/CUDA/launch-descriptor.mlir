// RUN: kda-opt %s --kdk-allocate-shared-memory | kdac-translate --kdk-to-launch-descriptor | FileCheck %s
// RUN: kda-opt %s --kdk-allocate-shared-memory | kdac-translate --kdk-to-cuda | FileCheck %s --check-prefix=SOURCE

// Kernels in module order; each workspace once, at its first use; grid
// extents from kdk.grid; params in argument order; kernels without tiles get
// no shared memory.

module attributes {kdk.chunk_size = 32 : i64} {
  func.func @prologue(%g: memref<?xbf16> {kdk.arg = #kdk.tensor<"g">},
                      %gc: memref<?xf32> {kdk.arg = #kdk.workspace<"gc", bytes_per_slot = 8192>},
                      %T: index {kdk.arg = #kdk.size<"T">}, %B: index {kdk.arg = #kdk.size<"B">})
      attributes {kdk.kernel, kdk.block_threads = 64 : i64, kdk.grid = #kdk.grid<chunk_slots, 32, 1>} {
    %c0 = arith.constant 0 : index
    %c64 = arith.constant 64 : index
    %t = kdk.alloc_tile : memref<32x64xf32, 3>
    kdk.load_tile %g[%c0] rows(%T) row_stride(%c64) col_stride = 1 into %t : memref<?xbf16>, memref<32x64xf32, 3>
    kdk.store_tile %t into %gc[%c0] rows(%T) row_stride(%c64) col_stride = 1 : memref<32x64xf32, 3>, memref<?xf32>
    return
  }
  func.func @recurrence(%gc: memref<?xf32> {kdk.arg = #kdk.workspace<"gc", bytes_per_slot = 8192>},
                        %h: memref<?xf32> {kdk.arg = #kdk.workspace<"h", bytes_per_slot = 16384>},
                        %final: memref<?xf32> {kdk.arg = #kdk.tensor<"final_state">},
                        %N: index {kdk.arg = #kdk.size<"N">})
      attributes {kdk.kernel, kdk.block_threads = 256 : i64, kdk.grid = #kdk.grid<sequences, 32, 2>} {
    return
  }
  func.func @epilogue(%o: memref<?xbf16> {kdk.arg = #kdk.tensor<"o">})
      attributes {kdk.kernel, kdk.block_threads = 1024 : i64, kdk.grid = #kdk.grid<batch, 7, 3>} {
    return
  }
}

// CHECK:      chunk_size 32
// CHECK-NEXT: workspace "gc" bytes_per_chunk_slot 8192
// CHECK-NEXT: workspace "h" bytes_per_chunk_slot 16384
// CHECK-NEXT: kernel "prologue" grid [chunk_slots, 32, 1] block_threads 64 dynamic_shared_bytes 8192
// CHECK-NEXT:   param tensor "g"
// CHECK-NEXT:   param workspace "gc"
// CHECK-NEXT:   param size "T"
// CHECK-NEXT:   param size "B"
// CHECK-NEXT: kernel "recurrence" grid [sequences, 32, 2] block_threads 256 dynamic_shared_bytes 0
// CHECK-NEXT:   param workspace "gc"
// CHECK-NEXT:   param workspace "h"
// CHECK-NEXT:   param tensor "final_state"
// CHECK-NEXT:   param size "N"
// CHECK-NEXT: kernel "epilogue" grid [batch, 7, 3] block_threads 1024 dynamic_shared_bytes 0
// CHECK-NEXT:   param tensor "o"
// CHECK-NOT:  {{.}}

// SOURCE:      // kernel "prologue" grid [chunk_slots, 32, 1]
// SOURCE-LABEL: __launch_bounds__(64) prologue(const __nv_bfloat16 *__restrict__ g, float *__restrict__ ws_gc, long long T, long long B) {
// SOURCE:        kdac::tileLoad<NT, 32, 64, 1>(g,
// SOURCE:        kdac::tileStore<NT, 32, 64, 1>({{v[0-9]+}}, 64, ws_gc,
// Read-only in this kernel, so const here even though another kernel writes it.
// SOURCE-LABEL: __launch_bounds__(256) recurrence(const float *__restrict__ ws_gc, const float *__restrict__ ws_h, const float *__restrict__ final_state, long long N) {
// SOURCE-NEXT:   constexpr int NT = 256;
// SOURCE-NEXT: }
// SOURCE-LABEL: __launch_bounds__(1024) epilogue(const __nv_bfloat16 *__restrict__ o) {
