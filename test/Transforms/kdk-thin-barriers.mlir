// kdk-thin-barriers keeps a barrier only where an access after it conflicts
// with one since the last kept barrier: by element range inside one tile,
// by buffer in global memory, never on register fragments; ops with
// regions touch everything and a loop body's last barrier stays.
// RUN: kda-opt %s -split-input-file --kdk-thin-barriers | FileCheck %s
// The backward's kernels through kdac: thinned by default, every barrier
// with --thin-barriers=false.
// RUN: kdac --op=backward --H=1 --K=32 --V=32 --thin-barriers=false --emit=kernel | FileCheck %s --check-prefix=ALL
// RUN: kdac --op=backward --H=1 --K=32 --V=32 --emit=kernel | FileCheck %s --check-prefix=THIN

// Two products reading a and writing c and e do not conflict; the add reads
// what both wrote.
// CHECK-LABEL: func.func @independent_then_dependent
// CHECK: kdk.mma
// CHECK-NEXT: kdk.mma
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.sub
// CHECK-NOT: kdk.barrier
// CHECK: return
func.func @independent_then_dependent() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %a = kdk.alloc_tile : memref<16x16xf32, 3>
  %b = kdk.alloc_tile : memref<16x16xf32, 3>
  %c = kdk.alloc_tile : memref<16x16xf32, 3>
  %e = kdk.alloc_tile : memref<16x16xf32, 3>
  %f = kdk.alloc_tile : memref<16x16xf32, 3>
  kdk.mma %a, %b into %c : memref<16x16xf32, 3>, memref<16x16xf32, 3>, memref<16x16xf32, 3>
  kdk.barrier
  kdk.mma %a, %b into %e : memref<16x16xf32, 3>, memref<16x16xf32, 3>, memref<16x16xf32, 3>
  kdk.barrier
  kdk.sub %c, %e into %f : memref<16x16xf32, 3>, memref<16x16xf32, 3>, memref<16x16xf32, 3>
  kdk.barrier
  return
}

// -----

// Row blocks of one tile: writing rows 0-15 and then reading rows 16-31
// needs no barrier; reading rows 8-23 does.
// CHECK-LABEL: func.func @row_blocks
// CHECK: kdk.fill
// CHECK-NEXT: kdk.convert
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.convert
func.func @row_blocks() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %t = kdk.alloc_tile : memref<32x16xf32, 3>
  %o = kdk.alloc_tile : memref<16x16xf32, 3>
  %p = kdk.alloc_tile : memref<16x16xf32, 3>
  %top = memref.subview %t[0, 0] [16, 16] [1, 1] : memref<32x16xf32, 3> to memref<16x16xf32, strided<[16, 1]>, 3>
  %bottom = memref.subview %t[16, 0] [16, 16] [1, 1] : memref<32x16xf32, 3> to memref<16x16xf32, strided<[16, 1], offset: 256>, 3>
  %middle = memref.subview %t[8, 0] [16, 16] [1, 1] : memref<32x16xf32, 3> to memref<16x16xf32, strided<[16, 1], offset: 128>, 3>
  kdk.fill %top, 1.0 : memref<16x16xf32, strided<[16, 1]>, 3>
  kdk.barrier
  kdk.convert %bottom into %o : memref<16x16xf32, strided<[16, 1], offset: 256>, 3>, memref<16x16xf32, 3>
  kdk.barrier
  kdk.convert %middle into %p : memref<16x16xf32, strided<[16, 1], offset: 128>, 3>, memref<16x16xf32, 3>
  return
}

// -----

// A store to a global buffer and a load from it conflict; a load from
// another buffer does not. Register fragments never do.
// CHECK-LABEL: func.func @global_buffers_and_fragments
// CHECK: kdk.store_tile
// CHECK-NEXT: kdk.load_tile %[[OTHER:.*]][
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.load_tile
// CHECK-NEXT: kdk.fill
// CHECK-NEXT: kdk.fill
// CHECK-NEXT: return
func.func @global_buffers_and_fragments(%ws: memref<?xf32> {kdk.arg = #kdk.workspace<"w", bytes_per_slot = 1024>}, %other: memref<?xf32> {kdk.arg = #kdk.workspace<"v", bytes_per_slot = 1024>}, %i: index {kdk.arg = #kdk.size<"T">}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %a = kdk.alloc_tile : memref<16x16xf32, 3>
  %b = kdk.alloc_tile : memref<16x16xf32, 3>
  %c = kdk.alloc_tile : memref<16x16xf32, 3>
  %r = kdk.alloc_tile : memref<16x64xf32, #kdk.fragment<1, 4, 4>>
  %c16 = arith.constant 16 : index
  kdk.store_tile %a into %ws[%i] rows(%c16) row_stride(%c16) col_stride = 1 : memref<16x16xf32, 3>, memref<?xf32>
  kdk.barrier
  kdk.load_tile %other[%i] rows(%c16) row_stride(%c16) col_stride = 1 into %b : memref<?xf32>, memref<16x16xf32, 3>
  kdk.barrier
  kdk.load_tile %ws[%i] rows(%c16) row_stride(%c16) col_stride = 1 into %c : memref<?xf32>, memref<16x16xf32, 3>
  kdk.barrier
  kdk.fill %r, 0.0 : memref<16x64xf32, #kdk.fragment<1, 4, 4>>
  kdk.barrier
  kdk.fill %r, 1.0 : memref<16x64xf32, #kdk.fragment<1, 4, 4>>
  kdk.barrier
  return
}

// -----

// In a loop body the last barrier stays, and the first phase follows the
// ops after it in the previous iteration: the two converts alone would not
// need the first barrier, but the product after the last one writes z,
// which the second convert reads in the next iteration. The barriers around the
// loop stay: the loop touches everything.
// CHECK-LABEL: func.func @loop_body
// CHECK: kdk.fill %{{.*}}, 1.0
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: scf.for
// CHECK-NEXT: kdk.convert
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.convert
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.mma
// CHECK-NEXT: }
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.convert
// Without the product the first barrier goes.
// CHECK-LABEL: func.func @loop_body_without_wrap
// CHECK: scf.for
// CHECK-NEXT: kdk.convert
// CHECK-NEXT: kdk.convert
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: }
func.func @loop_body(%n: index {kdk.arg = #kdk.size<"T">}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %x = kdk.alloc_tile : memref<16x16xf32, 3>
  %y = kdk.alloc_tile : memref<16x16xf32, 3>
  %z = kdk.alloc_tile : memref<16x16xf32, 3>
  %w = kdk.alloc_tile : memref<16x16xf32, 3>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  kdk.fill %x, 1.0 : memref<16x16xf32, 3>
  kdk.barrier
  scf.for %i = %c0 to %n step %c1 {
    kdk.convert %x into %y : memref<16x16xf32, 3>, memref<16x16xf32, 3>
    kdk.barrier
    kdk.convert %z into %w : memref<16x16xf32, 3>, memref<16x16xf32, 3>
    kdk.barrier
    kdk.mma %x, %y into %z : memref<16x16xf32, 3>, memref<16x16xf32, 3>, memref<16x16xf32, 3>
  }
  kdk.barrier
  kdk.convert %x into %z : memref<16x16xf32, 3>, memref<16x16xf32, 3>
  return
}

func.func @loop_body_without_wrap(%n: index {kdk.arg = #kdk.size<"T">}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %x = kdk.alloc_tile : memref<16x16xf32, 3>
  %y = kdk.alloc_tile : memref<16x16xf32, 3>
  %z = kdk.alloc_tile : memref<16x16xf32, 3>
  %w = kdk.alloc_tile : memref<16x16xf32, 3>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    kdk.convert %x into %y : memref<16x16xf32, 3>, memref<16x16xf32, 3>
    kdk.barrier
    kdk.convert %z into %w : memref<16x16xf32, 3>, memref<16x16xf32, 3>
    kdk.barrier
  }
  return
}

// -----

// A nested block's last barrier stays: after an scf.if in a loop comes the
// next iteration's load into the tile the add still reads (the backward's
// gate-parameter reduction; racecheck found the hazard when it went).
// CHECK-LABEL: func.func @if_in_loop
// CHECK: scf.if
// CHECK-NEXT: kdk.load_tile
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.add
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: }
func.func @if_in_loop(%ws: memref<?xf32> {kdk.arg = #kdk.workspace<"w", bytes_per_slot = 128>}, %n: index {kdk.arg = #kdk.size<"T">}, %flag: index {kdk.arg = #kdk.size<"S">}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %part = kdk.alloc_tile : memref<1x32xf32, 3>
  %sum = kdk.alloc_tile : memref<1x32xf32, 3>
  %c0 = arith.constant 0 : index
  %c = arith.cmpi ne, %flag, %c0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  scf.for %i = %c0 to %n step %c1 {
    scf.if %c {
      kdk.load_tile %ws[%i] rows(%c1) row_stride(%c32) col_stride = 1 into %part : memref<?xf32>, memref<1x32xf32, 3>
      kdk.barrier
      kdk.add %sum, %part into %sum : memref<1x32xf32, 3>, memref<1x32xf32, 3>, memref<1x32xf32, 3>
      kdk.barrier
    }
  }
  return
}

// -----

// A tile read in place (kdk.global_tile) is an access to its buffer: two
// readers need no barrier between them; a store to the buffer needs one
// after its readers and one before the next.
// CHECK-LABEL: func.func @global_tiles
// CHECK: kdk.row_dot
// CHECK-NEXT: kdk.row_dot
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.store_tile
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.row_dot
func.func @global_tiles(%ws: memref<?xf32> {kdk.arg = #kdk.workspace<"w", bytes_per_slot = 4096>}, %i: index {kdk.arg = #kdk.size<"T">}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %r = kdk.alloc_tile : memref<32xf32, 3>
  %q = kdk.alloc_tile : memref<32xf32, 3>
  %t = kdk.alloc_tile : memref<32x32xf32, 3>
  %c32 = arith.constant 32 : index
  %s = kdk.global_tile %ws[%i] : memref<?xf32> -> memref<32x32xf32, strided<[32, 1]>>
  kdk.row_dot %s, %s into %r : memref<32x32xf32, strided<[32, 1]>>, memref<32x32xf32, strided<[32, 1]>>, memref<32xf32, 3>
  kdk.barrier
  kdk.row_dot %s, %s into %q : memref<32x32xf32, strided<[32, 1]>>, memref<32x32xf32, strided<[32, 1]>>, memref<32xf32, 3>
  kdk.barrier
  kdk.store_tile %t into %ws[%i] rows(%c32) row_stride(%c32) col_stride = 1 : memref<32x32xf32, 3>, memref<?xf32>
  kdk.barrier
  kdk.row_dot %s, %s into %r : memref<32x32xf32, strided<[32, 1]>>, memref<32x32xf32, strided<[32, 1]>>, memref<32xf32, 3>
  return
}

// The map's 58 barriers, one per op, thin to 33 (41 before element-wise ops
// dropped the barriers between them; pinned: a change to either count says
// what the lowering or the analysis now does differently).
// ALL-LABEL: func.func @kda_bwd_map
// ALL-COUNT-58: kdk.barrier
// ALL-NOT: kdk.barrier
// THIN-LABEL: func.func @kda_bwd_map
// THIN-COUNT-33: kdk.barrier
// THIN-NOT: kdk.barrier

// -----

// Element-wise ops reach each element of a tile they view alike from one
// thread: a chain through %t and %u needs no barrier; a to_last decay
// (which reads the cumsum's last row everywhere), a row scale, a view of
// another shape (%w against %left) and a product still need theirs.
// CHECK-LABEL: func.func @elementwise_chains
// CHECK: kdk.mul
// CHECK-NEXT: kdk.add
// CHECK-NEXT: kdk.decay_rows
// CHECK-NEXT: kdk.scale_rows
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.decay_rows {{.*}} to_last
// CHECK-NEXT: kdk.fill %[[R:.*]], 2.0{{.*}} : memref<16xf32, 3>
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.scale_rows %{{.*}}, %[[R]]
// CHECK-NEXT: kdk.convert
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.fill
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.mma
// CHECK-NEXT: kdk.barrier
// CHECK-NEXT: kdk.sub
// CHECK-NEXT: return
func.func @elementwise_chains() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %a = kdk.alloc_tile : memref<16x16xf32, 3>
  %b = kdk.alloc_tile : memref<16x16xf32, 3>
  %t = kdk.alloc_tile : memref<16x16xf32, 3>
  %u = kdk.alloc_tile : memref<16x16xf32, 3>
  %r = kdk.alloc_tile : memref<16xf32, 3>
  %w = kdk.alloc_tile : memref<16x32xf32, 3>
  %left = memref.subview %w[0, 0] [16, 16] [1, 1] : memref<16x32xf32, 3> to memref<16x16xf32, strided<[32, 1]>, 3>
  kdk.mul %a, %b into %t : memref<16x16xf32, 3>, memref<16x16xf32, 3>, memref<16x16xf32, 3>
  kdk.barrier
  kdk.add %t, %a into %t : memref<16x16xf32, 3>, memref<16x16xf32, 3>, memref<16x16xf32, 3>
  kdk.barrier
  kdk.decay_rows %t, %b into %u : memref<16x16xf32, 3>, memref<16x16xf32, 3>, memref<16x16xf32, 3>
  kdk.barrier
  kdk.scale_rows %u, %r : memref<16x16xf32, 3>, memref<16xf32, 3>
  kdk.barrier
  kdk.decay_rows %a, %u into %b to_last : memref<16x16xf32, 3>, memref<16x16xf32, 3>, memref<16x16xf32, 3>
  kdk.fill %r, 2.0 : memref<16xf32, 3>
  kdk.barrier
  kdk.scale_rows %b, %r : memref<16x16xf32, 3>, memref<16xf32, 3>
  kdk.convert %u into %left : memref<16x16xf32, 3>, memref<16x16xf32, strided<[32, 1]>, 3>
  kdk.barrier
  kdk.fill %w, 0.0 : memref<16x32xf32, 3>
  kdk.barrier
  kdk.mma %left, %b into %t : memref<16x16xf32, strided<[32, 1]>, 3>, memref<16x16xf32, 3>, memref<16x16xf32, 3>
  kdk.barrier
  kdk.sub %t, %a into %u : memref<16x16xf32, 3>, memref<16x16xf32, 3>, memref<16x16xf32, 3>
  return
}
