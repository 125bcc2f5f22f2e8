// The kdk verifier rules (register fragments, ops, the kernel attributes
// kdk.grid, kdk.block_threads, the argument bindings and the shared-memory
// plan), each with its diagnostic.
// RUN: kda-opt %s -split-input-file -verify-diagnostics

// A register fragment's memory space is its layout: a bare number is none.
func.func @fragment_without_layout() {
  // expected-error @+1 {{expects a tile in shared memory (memory space 3) or registers (a #kdk.fragment or #kdk.mma_fragment memory space)}}
  %s = kdk.alloc_tile : memref<128x32xf32, 5>
  return
}

// -----

func.func @fragment_bad_axis() {
  // expected-error @+1 {{expects #kdk.fragment axis 0 or 1 and powers of two for vector (<= 16) and lanes (<= 32)}}
  %s = kdk.alloc_tile : memref<128x32xf32, #kdk.fragment<2, 4, 8>>
  return
}

// -----

func.func @packed_fragment_needs_pairs() {
  // expected-error @+1 {{a 16-bit fragment needs runs of at least 2 elements (it packs pairs)}}
  %s = kdk.alloc_tile : memref<128x32xbf16, #kdk.fragment<1, 1, 32>>
  return
}

// -----

func.func @fragment_runs_do_not_divide() {
  // expected-error @+1 {{cannot spread a 128x24 fragment as runs of 4 over 8 x 4 lanes}}
  %s = kdk.alloc_tile : memref<128x24xf32, #kdk.fragment<1, 4, 8>>
  return
}

// -----

func.func @step_of_mma_fragment() {
  %s = kdk.alloc_tile : memref<128x32xf32, #kdk.mma_fragment>
  %k = kdk.alloc_tile : memref<1x128xf32, 3>
  %v = kdk.alloc_tile : memref<1x32xf32, 3>
  %b = kdk.alloc_tile : memref<1xf32, 3>
  // expected-error @+1 {{expects a register fragment (#kdk.fragment) or a shared tile (memory space 3)}}
  kdk.delta_step %s, %k, %k, %v, %b into %v : memref<128x32xf32, #kdk.mma_fragment>, memref<1x128xf32, 3>, memref<1x128xf32, 3>, memref<1x32xf32, 3>, memref<1xf32, 3>, memref<1x32xf32, 3>
  return
}

// -----

func.func @step_vector_lengths() {
  %s = kdk.alloc_tile : memref<128x32xf32, #kdk.fragment<1, 4, 8>>
  %k = kdk.alloc_tile : memref<1x128xf32, 3>
  %v = kdk.alloc_tile : memref<1x64xf32, 3>
  %b = kdk.alloc_tile : memref<1xf32, 3>
  // expected-error @+1 {{expects q, k (and decay) of 128 elements, v and out of 32 and one beta}}
  kdk.delta_step %s, %k, %k, %v, %b into %v : memref<128x32xf32, #kdk.fragment<1, 4, 8>>, memref<1x128xf32, 3>, memref<1x128xf32, 3>, memref<1x64xf32, 3>, memref<1xf32, 3>, memref<1x64xf32, 3>
  return
}

// -----

func.func @accumulators_are_f32() {
  // expected-error @+1 {{expects an mma_fragment tile to be f32 with rows and columns multiples of 16}}
  %s = kdk.alloc_tile : memref<64x32xbf16, #kdk.mma_fragment>
  return
}

// -----

func.func @accumulator_mma_needs_16_bit_a() {
  %s = kdk.alloc_tile : memref<64x32xf32, #kdk.mma_fragment>
  %v = kdk.alloc_tile : memref<16x32xf32, #kdk.mma_fragment>
  %w = kdk.alloc_tile : memref<16x64xf32, 3>
  // expected-error @+1 {{with an mma_fragment expects B and out both mma_fragments and A a shared bf16 or f16 tile}}
  kdk.mma %w, %s into %v : memref<16x64xf32, 3>, memref<64x32xf32, #kdk.mma_fragment>, memref<16x32xf32, #kdk.mma_fragment>
  return
}

// -----

func.func @accumulator_mma_into_shared() {
  %s = kdk.alloc_tile : memref<64x32xf32, #kdk.mma_fragment>
  %v = kdk.alloc_tile : memref<16x32xf32, 3>
  %w = kdk.alloc_tile : memref<16x64xbf16, 3>
  // expected-error @+1 {{with an mma_fragment expects B and out both mma_fragments}}
  kdk.mma %w, %s into %v : memref<16x64xbf16, 3>, memref<64x32xf32, #kdk.mma_fragment>, memref<16x32xf32, 3>
  return
}

// -----

func.func @async_load_does_not_convert(%ws: memref<?xbf16>, %i: index) {
  %t = kdk.alloc_tile : memref<16x64xf32, 3>
  // expected-error @+1 {{async expects a shared tile of the buffer's element type (cp.async does not convert)}}
  kdk.load_tile %ws[%i] rows(%i) row_stride(%i) col_stride = 1 into %t async : memref<?xbf16>, memref<16x64xf32, 3>
  return
}

// -----

func.func @first_warp_without_tensor_cores() {
  %k = kdk.alloc_tile : memref<16x64xf32, 3>
  %gram = kdk.alloc_tile : memref<16x16xf32, 3>
  // expected-error @+1 {{first_warp places tensor-core blocks; it needs tensor_cores}}
  kdk.decayed_gram %k, %k, %k into %gram mask = strict scale = 1.0 first_warp = 1 : memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x16xf32, 3>
  return
}

// -----

func.func @scale_rows_into_fragment() {
  %s = kdk.alloc_tile : memref<16x64xf32, #kdk.mma_fragment>
  %r = kdk.alloc_tile : memref<16xf32, 3>
  %t = kdk.alloc_tile : memref<16x64xbf16, 3>
  // expected-error @+1 {{scales a register fragment only in place}}
  kdk.scale_rows %s, %r into %t : memref<16x64xf32, #kdk.mma_fragment>, memref<16xf32, 3>, memref<16x64xbf16, 3>
  return
}

// -----

func.func @scale_rows_into_other_shape() {
  %v = kdk.alloc_tile : memref<16x64xf32, 3>
  %r = kdk.alloc_tile : memref<16xf32, 3>
  %t = kdk.alloc_tile : memref<16x32xbf16, 3>
  // expected-error @+1 {{needs `into` of the tile's shape}}
  kdk.scale_rows %v, %r into %t : memref<16x64xf32, 3>, memref<16xf32, 3>, memref<16x32xbf16, 3>
  return
}

// -----

func.func @scale_rows_bf16_in_place() {
  %v = kdk.alloc_tile : memref<16x64xbf16, 3>
  %r = kdk.alloc_tile : memref<16xf32, 3>
  // expected-error @+1 {{scales in place only an f32 tile}}
  kdk.scale_rows %v, %r : memref<16x64xbf16, 3>, memref<16xf32, 3>
  return
}

// -----

func.func @step_store_from_fragment(%dst: memref<?xf32>, %i: index) {
  %s = kdk.alloc_tile : memref<128x32xf32, #kdk.fragment<1, 4, 8>>
  %k = kdk.alloc_tile : memref<1x128xf32, 3>
  %v = kdk.alloc_tile : memref<1x32xf32, 3>
  %b = kdk.alloc_tile : memref<1xf32, 3>
  // expected-error @+1 {{stores to global memory only from a shared state}}
  kdk.delta_step %s, %k, %k, %v, %b into %v store_to %dst[%i] row_stride(%i) : memref<?xf32> : memref<128x32xf32, #kdk.fragment<1, 4, 8>>, memref<1x128xf32, 3>, memref<1x128xf32, 3>, memref<1x32xf32, 3>, memref<1xf32, 3>, memref<1x32xf32, 3>
  return
}

// -----

// The kernel attributes are checked by the dialect, before any emitter.
// expected-error @+1 {{kdk.grid must be a #kdk.grid}}
func.func @string_grid() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = ["1", "1", "1"]} {
  return
}

// -----

// expected-error @+1 {{kdk.block_threads must be a multiple of 32 in [32, 1024]}}
func.func @odd_threads() attributes {kdk.kernel, kdk.block_threads = 100 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  return
}

// -----

// expected-error @+1 {{kdk.min_blocks_per_sm must be in [0, 4] for 512-thread blocks (2048 threads per SM), got 5}}
func.func @too_many_blocks() attributes {kdk.kernel, kdk.block_threads = 512 : i64, kdk.min_blocks_per_sm = 5 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  return
}

// -----

// expected-error @+1 {{kdk.min_blocks_per_sm must be a positive integer on a kernel with kdk.block_threads}}
func.func @blocks_without_threads() attributes {kdk.kernel, kdk.min_blocks_per_sm = 2 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  return
}

// -----

// expected-error @+1 {{#kdk.tensor "h" is not a KDA tensor name}}
func.func @unknown_tensor(%h: memref<?xf32> {kdk.arg = #kdk.tensor<"h">}) {
  return
}

// -----

// expected-error @+1 {{argument #0 of @tile_param: a buffer argument must be a memref<?xT> in global memory}}
func.func @tile_param(%q: memref<16x16xf32, 3> {kdk.arg = #kdk.tensor<"q">}) {
  return
}

// -----

// expected-error @+1 {{argument #0 of kernel @unbound needs a kdk.arg (#kdk.tensor, #kdk.workspace or #kdk.size)}}
func.func @unbound(%q: memref<?xf32>) attributes {kdk.kernel} {
  return
}

// -----

// expected-error @+1 {{#kdk.workspace "u" needs a positive bytes_per_slot, got 0}}
func.func @no_bytes(%u: memref<?xf32> {kdk.arg = #kdk.workspace<"u", bytes_per_slot = 0>}) {
  return
}

// -----

// expected-error @+1 {{argument #0 of @old_binding: unknown argument attribute "kdk.param" (a kernel argument binds through kdk.arg)}}
func.func @old_binding(%q: memref<?xf32> {kdk.param = "q"}) {
  return
}

// -----

// expected-error @+1 {{argument #0 of @not_a_binding: kdk.arg must be a #kdk.tensor, #kdk.workspace or #kdk.size}}
func.func @not_a_binding(%q: memref<?xf32> {kdk.arg = "q"}) {
  return
}

// -----

// expected-error @+1 {{#kdk.size "H" is not T, N, B, S or chunk_slots}}
func.func @unknown_size(%h: index {kdk.arg = #kdk.size<"H">}) {
  return
}

// -----

// expected-error @+1 {{#kdk.grid needs three extents (x, y, z), got 2}}
func.func @two_axes() attributes {kdk.grid = #kdk.grid<1, 2>} {
  return
}

// -----

// expected-error @+1 {{grid extent 0 is not a positive integer}}
func.func @empty_axis() attributes {kdk.grid = #kdk.grid<1, 0, 1>} {
  return
}

// -----

// A negative extent is not a way to write chunk_slots.
// expected-error @+1 {{grid extent -1 is not a positive integer}}
func.func @negative_axis() attributes {kdk.grid = #kdk.grid<chunk_slots, -1, 1>} {
  return
}

// -----

// expected-error @+1 {{kdk.chunk_size must be a positive integer}}
module attributes {kdk.chunk_size = 0 : i64} {
}

// -----

// The shared-memory plan (kdk-allocate-shared-memory): aligned offsets,
// every tile inside the kernel's total, no two overlapping.
func.func @misaligned_offset() {
  // expected-error @+1 {{expects offset to be a non-negative multiple of 128, got 64}}
  %a = kdk.alloc_tile {offset = 64 : i64} : memref<16xf32, 3>
  return
}

// -----

func.func @fragment_with_offset() {
  // expected-error @+1 {{has a shared-memory offset but is a register fragment}}
  %s = kdk.alloc_tile {offset = 0 : i64} : memref<128x32xf32, #kdk.fragment<1, 4, 8>>
  return
}

// -----

// expected-error @+1 {{kdk.shared_memory_bytes must be a non-negative integer}}
func.func @negative_total() attributes {kdk.shared_memory_bytes = -1 : i64} {
  return
}

// -----

func.func @unplaced_tile() attributes {kdk.shared_memory_bytes = 1024 : i64} {
  // expected-error @+1 {{has no offset in a kernel with kdk.shared_memory_bytes}}
  %a = kdk.alloc_tile : memref<16xf32, 3>
  return
}

// -----

func.func @past_the_end() attributes {kdk.shared_memory_bytes = 128 : i64} {
  // expected-error @+1 {{ends past the kernel's 128 bytes of shared memory}}
  %a = kdk.alloc_tile {offset = 0 : i64} : memref<64xf32, 3>
  return
}

// -----

func.func @overlapping_tiles() attributes {kdk.shared_memory_bytes = 1024 : i64} {
  %a = kdk.alloc_tile {offset = 0 : i64} : memref<64xf32, 3>
  // expected-error @+1 {{overlaps the tile at offset 0 in shared memory}}
  %b = kdk.alloc_tile {offset = 128 : i64} : memref<64xf32, 3>
  return
}

// -----

// #kdk.target: a target kdac emits for, with limits no larger than its own.
// expected-error @+1 {{the #kdk.target arch must be sm_90a or sm_80, got 'sm_70'}}
module attributes {kdk.target = #kdk.target<"sm_70", shared_memory = 1024, registers = 255>} {
}

// -----

// expected-error @+1 {{#kdk.target shared_memory must be in [1, 166912] bytes on sm_80, got 232448}}
module attributes {kdk.target = #kdk.target<"sm_80", shared_memory = 232448, registers = 255>} {
}

// -----

// expected-error @+1 {{kdk.target must be a #kdk.target on a module}}
func.func @not_on_a_module() attributes {kdk.target = #kdk.target<"sm_80", shared_memory = 1024, registers = 255>} {
  return
}

// -----

// A kernel's plan must fit its module's target.
module attributes {kdk.target = #kdk.target<"sm_80", shared_memory = 1024, registers = 255>} {
  // expected-error @+1 {{kdk.shared_memory_bytes = 2048 exceeds the target's 1024 bytes per block}}
  func.func @over_the_target() attributes {kdk.shared_memory_bytes = 2048 : i64} {
    %a = kdk.alloc_tile {offset = 0 : i64} : memref<512xf32, 3>
    return
  }
}

// -----

func.func @mma_transpose_rhs_shapes(%a: memref<16x32xf32, 3>, %b: memref<32x16xf32, 3>, %c: memref<16x16xf32, 3>) {
  // expected-error @+1 {{expects op(A) 16x32 times op(B) 16x32 into 16x16}}
  kdk.mma %a, %b into %c transpose_rhs : memref<16x32xf32, 3>, memref<32x16xf32, 3>, memref<16x16xf32, 3>
  return
}

// -----

func.func @mma_transpose_rhs_bf16(%a: memref<16x32xbf16, 3>, %c: memref<16x16xf32, 3>) {
  // expected-error @+1 {{with transpose_rhs expects f32 shared tiles}}
  kdk.mma %a, %a into %c transpose_rhs : memref<16x32xbf16, 3>, memref<16x32xbf16, 3>, memref<16x16xf32, 3>
  return
}

// -----

func.func @row_dot_length(%a: memref<16x32xf32, 3>, %r: memref<32xf32, 3>) {
  // expected-error @+1 {{expects out of shape 16, got 32}}
  kdk.row_dot %a, %a into %r : memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<32xf32, 3>
  return
}

// -----

func.func @add_in_registers(%a: memref<16x32xf32, #kdk.fragment<1, 4, 8>>) {
  // expected-error @+1 {{operand #0 ('memref<16x32xf32, #kdk.fragment<1, 4, 8>>') is a register fragment, which this op has no form for}}
  kdk.add %a, %a into %a : memref<16x32xf32, #kdk.fragment<1, 4, 8>>, memref<16x32xf32, #kdk.fragment<1, 4, 8>>, memref<16x32xf32, #kdk.fragment<1, 4, 8>>
  return
}

// -----

func.func @tril_not_square(%a: memref<16x32xf32, 3>) {
  // expected-error @+1 {{expects a square tile, got 16x32}}
  kdk.tril %a mask = strict : memref<16x32xf32, 3>
  return
}

// -----

func.func @gram_grad_row_scale_pair(%m: memref<16x16xf32, 3>, %a: memref<16x32xf32, 3>, %r: memref<16xf32, 3>) {
  // expected-error @+1 {{expects drow_scale exactly when row_scale is given}}
  kdk.decayed_gram_grad %m, %a, %a, %a row_scale(%r : memref<16xf32, 3>) into %a, %a, %a mask = strict scale = 1.0 : memref<16x16xf32, 3>, memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<16x32xf32, 3>
  return
}

// -----

func.func @mma_tf32_bf16(%a: memref<16x32xbf16, 3>, %b: memref<32x16xbf16, 3>, %c: memref<16x16xf32, 3>) {
  // expected-error @+1 {{with tf32 expects f32 shared tiles}}
  kdk.mma %a, %b into %c tf32 : memref<16x32xbf16, 3>, memref<32x16xbf16, 3>, memref<16x16xf32, 3>
  return
}

// -----

func.func @mma_tf32_shape(%a: memref<8x32xf32, 3>, %b: memref<32x16xf32, 3>, %c: memref<8x16xf32, 3>) {
  // expected-error @+1 {{with tf32 expects M a multiple of 16 and N and the inner dimension multiples of 8, got 8x32 times 32x16}}
  kdk.mma %a, %b into %c tf32 : memref<8x32xf32, 3>, memref<32x16xf32, 3>, memref<8x16xf32, 3>
  return
}

// -----

func.func @global_tile_written(%ws: memref<?xf32>, %i: index, %a: memref<16x32xf32, 3>, %b: memref<32x32xf32, 3>) {
  // expected-error @+1 {{is read in place; 'kdk.mma' must only read it}}
  %s = kdk.global_tile %ws[%i] : memref<?xf32> -> memref<16x32xf32, strided<[32, 1]>>
  kdk.mma %a, %b into %s : memref<16x32xf32, 3>, memref<32x32xf32, 3>, memref<16x32xf32, strided<[32, 1]>>
  return
}

// -----

func.func @global_tile_shared(%ws: memref<?xf32>, %i: index) {
  // expected-error @+1 {{expects a static R x C tile of unit column stride, a row stride of at least C and no memory space over a global buffer, got 'memref<16x32xf32, 3>'}}
  %s = kdk.global_tile %ws[%i] : memref<?xf32> -> memref<16x32xf32, 3>
  return
}

// -----

func.func @global_tile_short_rows(%ws: memref<?xf32>, %i: index) {
  // expected-error @+1 {{a row stride of at least C}}
  %s = kdk.global_tile %ws[%i] : memref<?xf32> -> memref<16x32xf32, strided<[16, 1]>>
  return
}

// -----

func.func @global_tile_element(%ws: memref<?xbf16>, %i: index) {
  // expected-error @+1 {{expects the buffer's element type}}
  %s = kdk.global_tile %ws[%i] : memref<?xbf16> -> memref<16x32xf32, strided<[32, 1]>>
  return
}

// -----

// expected-error @+1 {{kdk.decay_bound must be a positive float (the largest per-token log-decay)}}
func.func @nonpositive_decay_bound() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.decay_bound = 0.0 : f64, kdk.grid = #kdk.grid<1, 1, 1>} {
  return
}

// -----

func.func @gram_grad_tensor_cores_rows() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %m = kdk.alloc_tile : memref<32x32xf32, 3>
  %a = kdk.alloc_tile : memref<32x32xf32, 3>
  // expected-error @+1 {{'kdk.decayed_gram_grad' op with tensor_cores needs 16 rows and a depth that is a multiple of 8, got 32x32}}
  kdk.decayed_gram_grad %m, %a, %a, %a into %a, %a, %a mask = strict scale = 1.0 tensor_cores : memref<32x32xf32, 3>, memref<32x32xf32, 3>, memref<32x32xf32, 3>, memref<32x32xf32, 3>, memref<32x32xf32, 3>, memref<32x32xf32, 3>, memref<32x32xf32, 3>
  return
}

// -----

func.func @delta_step_token_rows(%s: memref<128x32xf32, #kdk.fragment<1, 4, 8>>, %q: memref<8x128xf32, 3>, %k: memref<4x128xf32, 3>, %v: memref<8x32xf32, 3>, %b: memref<8xf32, 3>, %t: index) {
  // expected-error @+1 {{with token expects q, k (and decay) of 8x128, v and out of 8x32 and 8 betas}}
  kdk.delta_step %s, %q, %k, %v, %b token(%t) into %v : memref<128x32xf32, #kdk.fragment<1, 4, 8>>, memref<8x128xf32, 3>, memref<4x128xf32, 3>, memref<8x32xf32, 3>, memref<8xf32, 3>, memref<8x32xf32, 3>
  return
}

// -----

func.func @exp_shape(%a: memref<8x128xf32, 3>, %b: memref<4x128xf32, 3>) {
  // expected-error @+1 {{needs `into` of the input's shape}}
  kdk.exp %a into %b : memref<8x128xf32, 3>, memref<4x128xf32, 3>
  return
}

// -----

// 48 bf16 columns over four warps are 12 per warp: runs of four, three
// lanes along a row, which kdac::SharedStateLayout cannot index.
func.func @shared_state_split() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %s = kdk.alloc_tile : memref<128x48xbf16, 3>
  %k = kdk.alloc_tile : memref<1x128xf32, 3>
  %v = kdk.alloc_tile : memref<1x48xf32, 3>
  %b = kdk.alloc_tile : memref<1xf32, 3>
  // expected-error @+1 {{cannot split the 128x48 shared state over 128 threads: a warp's 12 columns are not a power-of-two number of runs}}
  kdk.delta_step %s, %k, %k, %v, %b into %v : memref<128x48xbf16, 3>, memref<1x128xf32, 3>, memref<1x128xf32, 3>, memref<1x48xf32, 3>, memref<1xf32, 3>, memref<1x48xf32, 3>
  return
}

// -----

// The chunk form's state store splits its shared state the same way: 96
// threads are three warps, over which 64 columns do not divide.
func.func @chunk_state_split(%dst: memref<?xbf16> {kdk.arg = #kdk.tensor<"state_pool">}) attributes {kdk.kernel, kdk.block_threads = 96 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %c0 = arith.constant 0 : index
  %c64 = arith.constant 64 : index
  %s = kdk.alloc_tile : memref<128x64xbf16, 3>
  %d = kdk.alloc_tile : memref<128xf32, 3>
  %k = kdk.alloc_tile : memref<4x128xf32, 3>
  %v = kdk.alloc_tile : memref<4x64xf32, 3>
  // expected-error @+1 {{cannot split the 128x64 shared state over 96 threads: its columns do not divide over whole warps}}
  kdk.chunk_state_store %s, %d, %k, %v to %dst[%c0] row_stride(%c64) : memref<128x64xbf16, 3>, memref<128xf32, 3>, memref<4x128xf32, 3>, memref<4x64xf32, 3>, memref<?xbf16>
  return
}

// -----

// Kernels share a workspace by name: they must agree on its size.
module {
  func.func @first(%h: memref<?xf32> {kdk.arg = #kdk.workspace<"h", bytes_per_slot = 64>}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    return
  }
  // expected-error @+1 {{argument #0 of @second: workspace "h" has bytes_per_slot 128 here but 64 in @first}}
  func.func @second(%h: memref<?xf32> {kdk.arg = #kdk.workspace<"h", bytes_per_slot = 128>}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    return
  }
}

// -----

// A shared state whose rows (68 elements apart) its 16-byte runs cannot
// start at.
module attributes {kdk.chunk_size = 1 : i64} {
  func.func @shared_state_runs(%o: memref<?xf32> {kdk.arg = #kdk.tensor<"o">})
      attributes {kdk.shared_memory_bytes = 18560 : i64, kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %t = kdk.alloc_tile {offset = 0 : i64} : memref<128x68xbf16, 3>
    %s = memref.subview %t[0, 0] [128, 64] [1, 1] : memref<128x68xbf16, 3> to memref<128x64xbf16, strided<[68, 1]>, 3>
    %k = kdk.alloc_tile {offset = 17408 : i64} : memref<1x128xf32, 3>
    %v = kdk.alloc_tile {offset = 17920 : i64} : memref<1x64xf32, 3>
    %b = kdk.alloc_tile {offset = 18432 : i64} : memref<1xf32, 3>
    // expected-error @+1 {{cannot read the 128x64 shared state in runs of 8 elements: its rows are not aligned to them}}
    kdk.delta_step %s, %k, %k, %v, %b into %v : memref<128x64xbf16, strided<[68, 1]>, 3>, memref<1x128xf32, 3>, memref<1x128xf32, 3>, memref<1x64xf32, 3>, memref<1xf32, 3>, memref<1x64xf32, 3>
    return
  }
}

// -----

// The tile ops' shapes are the verifiers' (the device functions trust them).
func.func @convert_shape(%a: memref<16x16xf32, 3>, %b: memref<16x8xbf16, 3>) {
  // expected-error @+1 {{expects dst of shape 16x16, got 16x8}}
  kdk.convert %a into %b : memref<16x16xf32, 3>, memref<16x8xbf16, 3>
  return
}

// -----

func.func @tri_inverse_square(%a: memref<16x32xf32, 3>) {
  // expected-error @+1 {{expects a square input, got 16x32}}
  kdk.tri_inverse %a into %a : memref<16x32xf32, 3>, memref<16x32xf32, 3>
  return
}

// -----

func.func @gram_row_scale(%k: memref<16x64xf32, 3>, %a: memref<16x16xf32, 3>, %b: memref<8xf32, 3>) {
  // expected-error @+1 {{expects row_scale of shape 16, got 8}}
  kdk.decayed_gram %k, %k, %k row_scale(%b : memref<8xf32, 3>) into %a mask = strict scale = 1.0 : memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x16xf32, 3>
  return
}

// -----

func.func @last_row_exp_length(%g: memref<16x64xf32, 3>, %o: memref<16xf32, 3>) {
  // expected-error @+1 {{expects out of shape 64, got 16}}
  kdk.last_row_exp %g into %o : memref<16x64xf32, 3>, memref<16xf32, 3>
  return
}

// -----

func.func @scale_rows_length(%t: memref<16x64xf32, 3>, %s: memref<64xf32, 3>) {
  // expected-error @+1 {{expects row_scale of shape 16, got 64}}
  kdk.scale_rows %t, %s : memref<16x64xf32, 3>, memref<64xf32, 3>
  return
}

// -----

func.func @chunk_size_zero(%slot: index, %T: index) {
  // expected-error @+1 {{expects a positive chunk_size}}
  %valid, %s, %b, %st, %rows = kdk.locate_chunk %slot T(%T) chunk_size = 0
  return
}

// -----

func.func @float_cu_seqlens(%cu: memref<?xf32> {kdk.arg = #kdk.tensor<"cu_seqlens">}, %slot: index, %T: index) {
  // expected-error @+1 {{expects i64 or i32 cu_seqlens}}
  %valid, %s, %b, %st, %rows = kdk.locate_chunk %slot T(%T) cu_seqlens(%cu : memref<?xf32>) chunk_size = 16
  return
}

// -----

func.func @store_to_index_buffer(%t: memref<16x16xf32, 3>, %o: memref<?xi32> {kdk.arg = #kdk.tensor<"state_indices">}, %i: index) {
  // expected-error @+1 {{expects the global buffer with float elements, got 'i32'}}
  kdk.store_tile %t into %o[%i] rows(%i) row_stride(%i) col_stride = 1 : memref<16x16xf32, 3>, memref<?xi32>
  return
}

// -----

func.func @negative_col_stride(%t: memref<16x16xf32, 3>, %o: memref<?xf32> {kdk.arg = #kdk.tensor<"o">}, %i: index) {
  // expected-error @+1 {{expects col_stride in [0, 2^31), got -1}}
  kdk.load_tile %o[%i] rows(%i) row_stride(%i) col_stride = -1 into %t : memref<?xf32>, memref<16x16xf32, 3>
  return
}

// -----

func.func @gram_gc_shape(%k: memref<64x128xbf16, 3>, %g: memref<32x128xf32, 3>, %o: memref<64x64xf32, 3>) {
  // expected-error @+1 {{'kdk.decayed_gram' op expects gc of shape 64x128, got 32x128}}
  kdk.decayed_gram %k, %k, %g into %o mask = strict scale = 1.0 : memref<64x128xbf16, 3>, memref<64x128xbf16, 3>, memref<32x128xf32, 3>, memref<64x64xf32, 3>
  return
}

// -----

// Register fragments, against the block that holds them.
module attributes {kdk.chunk_size = 1 : i64} {
  func.func @fragment_threads() attributes {kdk.kernel, kdk.block_threads = 96 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    // expected-error @+1 {{cannot spread a 128x32 register fragment over 96 threads with #kdk.fragment<1, 4, 8>}}
    %s = kdk.alloc_tile : memref<128x32xf32, #kdk.fragment<1, 4, 8>>
    return
  }
}

// -----

module attributes {kdk.chunk_size = 1 : i64} {
  func.func @fragment_partial_rows(%pool: memref<?xf32> {kdk.arg = #kdk.tensor<"state_pool">}, %rows: index {kdk.arg = #kdk.size<"T">}) attributes {kdk.kernel, kdk.block_threads = 32 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %c0 = arith.constant 0 : index
    %s = kdk.alloc_tile : memref<128x32xf32, #kdk.fragment<1, 4, 8>>
    // expected-error @+1 {{moves a register fragment, which needs rows = 128 as a constant}}
    kdk.load_tile %pool[%c0] rows(%rows) row_stride(%rows) col_stride = 1 into %s : memref<?xf32>, memref<128x32xf32, #kdk.fragment<1, 4, 8>>
    return
  }
}

// -----

module attributes {kdk.chunk_size = 1 : i64} {
  func.func @fragment_product(%x: memref<?xf32> {kdk.arg = #kdk.tensor<"q">}) attributes {kdk.shared_memory_bytes = 10240 : i64, kdk.kernel, kdk.block_threads = 32 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %a = kdk.alloc_tile {offset = 0 : i64} : memref<16x128xf32, 3>
    %s = kdk.alloc_tile : memref<128x32xf32, #kdk.fragment<1, 4, 8>>
    %o = kdk.alloc_tile {offset = 8192 : i64} : memref<16x32xf32, 3>
    // expected-error @+1 {{with a register fragment as B expects A and out to be single rows, got M = 16}}
    kdk.mma %a, %s into %o : memref<16x128xf32, 3>, memref<128x32xf32, #kdk.fragment<1, 4, 8>>, memref<16x32xf32, 3>
    return
  }
}

// -----

func.func @fragment_rank_one_depth() attributes {kdk.kernel, kdk.block_threads = 32 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %a = kdk.alloc_tile : memref<128x2xf32, 3>
  %b = kdk.alloc_tile : memref<2x32xf32, 3>
  %s = kdk.alloc_tile : memref<128x32xf32, #kdk.fragment<1, 4, 8>>
  // expected-error @+1 {{with a register fragment as out supports only an accumulated rank-one product (depth 1), got depth 2}}
  kdk.mma %a, %b into %s accumulate : memref<128x2xf32, 3>, memref<2x32xf32, 3>, memref<128x32xf32, #kdk.fragment<1, 4, 8>>
  return
}

// -----

func.func @mma_fragment_over_warps() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  // expected-error @+1 {{cannot hold a 64x32 mma_fragment tile over 128 threads: its 16-column tiles do not divide evenly over the warps}}
  %s = kdk.alloc_tile : memref<64x32xf32, #kdk.mma_fragment>
  return
}

// -----

func.func @mma_fragment_unaligned_a() attributes {kdk.kernel, kdk.block_threads = 32 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %t = kdk.alloc_tile : memref<16x68xbf16, 3>
  %a = memref.subview %t[0, 0] [16, 64] [1, 1] : memref<16x68xbf16, 3> to memref<16x64xbf16, strided<[68, 1]>, 3>
  %b = kdk.alloc_tile : memref<64x32xf32, #kdk.mma_fragment>
  %o = kdk.alloc_tile : memref<16x32xf32, #kdk.mma_fragment>
  // expected-error @+1 {{expects A, next to mma_fragments, to have 16-byte aligned rows}}
  kdk.mma %a, %b into %o : memref<16x64xbf16, strided<[68, 1]>, 3>, memref<64x32xf32, #kdk.mma_fragment>, memref<16x32xf32, #kdk.mma_fragment>
  return
}

// -----

// expected-error @+1 {{arguments of kernel @twice bind #kdk.tensor<"q"> twice}}
func.func @twice(%a: memref<?xf32> {kdk.arg = #kdk.tensor<"q">}, %b: memref<?xf32> {kdk.arg = #kdk.tensor<"q">}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  return
}

// -----

// expected-error @+1 {{kernel @returns needs a body of one block and no results}}
func.func @returns() -> index attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %c0 = arith.constant 0 : index
  return %c0 : index
}

// -----

// Every kdk op checks its tile operands (the TileOperands trait).
func.func @fragment_in_a_shared_op() attributes {kdk.kernel, kdk.block_threads = 32 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %s = kdk.alloc_tile : memref<128x32xf32, #kdk.fragment<1, 4, 8>>
  // expected-error @+1 {{is a register fragment, which this op has no form for}}
  kdk.l2norm_rows %s : memref<128x32xf32, #kdk.fragment<1, 4, 8>>
  return
}

// -----

func.func @strided_columns(%a: memref<64x64xf32, 3>) {
  %s = memref.subview %a[0, 0] [64, 32] [1, 2] : memref<64x64xf32, 3> to memref<64x32xf32, strided<[64, 2]>, 3>
  // expected-error @+1 {{needs contiguous rows (inner stride 1)}}
  kdk.fill %s, 1.0 : memref<64x32xf32, strided<[64, 2]>, 3>
  return
}

// -----

func.func @tile_in_no_memory_space(%a: memref<16x16xf32>) {
  // expected-error @+1 {{is not a tile: tiles live in shared memory (memory space 3) or registers (a #kdk.fragment or #kdk.mma_fragment memory space), views of global memory come from kdk.global_tile}}
  kdk.fill %a, 1.0 : memref<16x16xf32>
  return
}
