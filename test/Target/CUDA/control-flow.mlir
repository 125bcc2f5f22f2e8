// RUN: kda-opt %s --kdk-allocate-shared-memory | kdac-translate --kdk-to-cuda | FileCheck %s

// Scalars are per-thread C++ locals: loop-carried values are mutable locals
// declared before the loop (and are its results afterwards); several yielded
// values are read before any is written, so permutations are safe; an
// scf.if with results declares them first and assigns them in each branch.

module attributes {kdk.chunk_size = 32 : i64} {
  func.func @scalars(%o: memref<?xf32> {kdk.arg = #kdk.tensor<"o">}, %cu: memref<?xi32> {kdk.arg = #kdk.tensor<"cu_seqlens">},
                     %T: index {kdk.arg = #kdk.size<"T">}, %N: index {kdk.arg = #kdk.size<"N">})
      attributes {kdk.kernel, kdk.block_threads = 32 : i64, kdk.grid = #kdk.grid<sequences, 1, 1>} {
    %seq = kdk.block_id 0
    %b, %start, %len, %chunks, %first = kdk.sequence_range %seq T(%T) cu_seqlens(%cu : memref<?xi32>) chunk_size = 32
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c7 = arith.constant 7 : index
    %t = kdk.alloc_tile : memref<32x32xf32, 3>
    %r:2 = scf.for %i = %c0 to %chunks step %c1 iter_args(%x = %c0, %y = %c1) -> (index, index) {
      %slot = arith.addi %first, %i : index
      %valid, %s, %bb, %st, %rows = kdk.locate_chunk %slot T(%T) chunk_size = 32
      scf.if %valid {
        kdk.store_tile %t into %o[%st] rows(%rows) row_stride(%c7) col_stride = 1 : memref<32x32xf32, 3>, memref<?xf32>
      }
      scf.yield %y, %x : index, index
    }
    %sum = scf.for %j = %c0 to %N step %c7 iter_args(%acc = %c0) -> (index) {
      %next = arith.addi %acc, %j : index
      scf.yield %next : index
    }
    %big = arith.cmpi ugt, %sum, %len : index
    %pick = scf.if %big -> (index) {
      %d = arith.divui %sum, %c7 : index
      scf.yield %d : index
    } else {
      %e = arith.ceildivsi %len, %c7 : index
      scf.yield %e : index
    }
    %n32 = arith.index_cast %pick : index to i32
    %w = arith.index_castui %n32 : i32 to index
    %m = arith.minui %w, %r#0 : index
    %k = arith.maxsi %m, %r#1 : index
    %z = arith.remsi %k, %c7 : index
    %f = arith.constant 1.5 : f32
    %ok = arith.cmpi eq, %z, %c0 : index
    %sel = arith.select %ok, %z, %c1 : index
    %rows2 = arith.ceildivui %sel, %c1 : index
    kdk.store_tile %t into %o[%c0] rows(%rows2) row_stride(%c7) col_stride = 1 : memref<32x32xf32, 3>, memref<?xf32>
    return
  }
}

// CHECK-LABEL: __launch_bounds__(32) scalars(float *__restrict__ o, const int *__restrict__ cu_seqlens, long long T, long long N) {
// CHECK:      const kdac::SequenceRange [[SR:v[0-9]+]] = kdac::sequenceRange({{v[0-9]+}}, T, cu_seqlens, 32ll);
// CHECK:      long long [[X:v[0-9]+]] = [[C0:v[0-9]+]];
// CHECK-NEXT: long long [[Y:v[0-9]+]] = [[C1:v[0-9]+]];
// CHECK-NEXT: for (long long [[I:v[0-9]+]] = [[C0]]; [[I]] < [[SR]].numChunks; [[I]] += [[C1]]) {
// CHECK-NEXT:   const long long [[SLOT:v[0-9]+]] = [[SR]].firstSlot + [[I]];
// CHECK-NEXT:   const kdac::ChunkLocation [[LOC:v[0-9]+]] = kdac::locateChunk([[SLOT]], T, 32ll);
// CHECK-NEXT:   if ([[LOC]].valid) {
// CHECK-NEXT:     kdac::tileStore<NT, 32, 32, 1>({{v[0-9]+}}, 32, o, [[LOC]].start, [[LOC]].rows, {{v[0-9]+}});
// CHECK-NEXT:   }
// CHECK-NEXT:   const long long [[X]]_next = [[Y]];
// CHECK-NEXT:   const long long [[Y]]_next = [[X]];
// CHECK-NEXT:   [[X]] = [[X]]_next;
// CHECK-NEXT:   [[Y]] = [[Y]]_next;
// CHECK-NEXT: }
// CHECK-NEXT: long long [[ACC:v[0-9]+]] = [[C0]];
// CHECK-NEXT: for (long long [[J:v[0-9]+]] = [[C0]]; [[J]] < N; [[J]] += {{v[0-9]+}}) {
// CHECK-NEXT:   const long long [[NEXT:v[0-9]+]] = [[ACC]] + [[J]];
// CHECK-NEXT:   [[ACC]] = [[NEXT]];
// CHECK-NEXT: }
// CHECK-NEXT: const bool [[BIG:v[0-9]+]] = (unsigned long long)[[ACC]] > (unsigned long long)[[SR]].length;
// CHECK-NEXT: long long [[PICK:v[0-9]+]];
// CHECK-NEXT: if ([[BIG]]) {
// CHECK-NEXT:   const long long [[D:v[0-9]+]] = (long long)((unsigned long long)[[ACC]] / (unsigned long long){{v[0-9]+}});
// CHECK-NEXT:   [[PICK]] = [[D]];
// CHECK-NEXT: } else {
// CHECK-NEXT:   const long long [[E:v[0-9]+]] = kdac::ceilDivSigned([[SR]].length, {{v[0-9]+}});
// CHECK-NEXT:   [[PICK]] = [[E]];
// CHECK-NEXT: }
// CHECK-NEXT: const int [[N32:v[0-9]+]] = (int)[[PICK]];
// CHECK-NEXT: const long long [[W:v[0-9]+]] = (long long)(unsigned)[[N32]];
// CHECK-NEXT: const long long [[M:v[0-9]+]] = (unsigned long long)[[W]] < (unsigned long long)[[X]] ? [[W]] : [[X]];
// CHECK-NEXT: const long long [[K:v[0-9]+]] = [[M]] > [[Y]] ? [[M]] : [[Y]];
// CHECK-NEXT: const long long [[Z:v[0-9]+]] = [[K]] % {{v[0-9]+}};
// CHECK-NEXT: const float {{v[0-9]+}} = 1.5f;
// CHECK-NEXT: const bool [[OK:v[0-9]+]] = [[Z]] == [[C0]];
// CHECK-NEXT: const long long [[SEL:v[0-9]+]] = [[OK]] ? [[Z]] : [[C1]];
// CHECK-NEXT: const long long [[ROWS:v[0-9]+]] = kdac::ceilDivUnsigned([[SEL]], [[C1]]);
// CHECK-NEXT: kdac::tileStore<NT, 32, 32, 1>({{v[0-9]+}}, 32, o, [[C0]], [[ROWS]], {{v[0-9]+}});
// CHECK-NEXT: }
