// kdk ops declare their memory effects: generic passes may now remove what
// no one reads and merge repeated reads, and must keep every write and the
// order around barriers.
// RUN: kda-opt %s -split-input-file --cse --canonicalize | FileCheck %s

// An unused tile is only an allocation: dead. A tile written but never read
// still holds a write, which stays.
// CHECK-LABEL: func.func @dead_tile
// CHECK: kdk.alloc_tile
// CHECK-NOT: kdk.alloc_tile
// CHECK: kdk.fill
func.func @dead_tile() {
  %unused = kdk.alloc_tile : memref<16x16xf32, 3>
  %written = kdk.alloc_tile : memref<16x16xf32, 3>
  kdk.fill %written, 1.0 : memref<16x16xf32, 3>
  return
}

// -----

// Two reads of one index with no write between are one read; a barrier
// (which reads and writes everything) between them keeps both.
// CHECK-LABEL: func.func @repeated_reads
// CHECK: kdk.load_index
// CHECK-NOT: kdk.load_index
// CHECK: kdk.barrier
// CHECK: kdk.load_index
// CHECK-NOT: kdk.load_index
func.func @repeated_reads(%buffer: memref<?xi32>, %i: index) -> (index, index, index) {
  %a = kdk.load_index %buffer[%i] : memref<?xi32>
  %b = kdk.load_index %buffer[%i] : memref<?xi32>
  kdk.barrier
  %c = kdk.load_index %buffer[%i] : memref<?xi32>
  return %a, %b, %c : index, index, index
}

// -----

// Loads into tiles are writes: two identical loads stay two ops.
// CHECK-LABEL: func.func @loads_are_writes
// CHECK-COUNT-2: kdk.load_tile
func.func @loads_are_writes(%src: memref<?xbf16>, %off: index, %rows: index) {
  %tile = kdk.alloc_tile : memref<16x64xf32, 3>
  kdk.load_tile %src[%off] rows(%rows) row_stride(%rows) col_stride = 1 into %tile : memref<?xbf16>, memref<16x64xf32, 3>
  kdk.load_tile %src[%off] rows(%rows) row_stride(%rows) col_stride = 1 into %tile : memref<?xbf16>, memref<16x64xf32, 3>
  return
}
