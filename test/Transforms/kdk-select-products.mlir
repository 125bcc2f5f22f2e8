// kdk-select-products: f32 shared-tile products become tf32 tensor-core
// products in kernels whose q is 16-bit (auto), in every kernel (tf32) or
// in none (fma); products whose shape mma.sync m16n8k8 cannot tile, and
// those of 16-bit tiles, keep their form. A tf32 kernel whose gate bounds
// the log-decay (kdk.decay_bound <= 5) also puts its decayed grams on
// tensor cores; fma takes them off. gram-products chooses the grams' form
// apart (the forward: grams on tensor cores, other products on FMAs), and
// the tensor-core grams between two barriers take turns over the warps.
// RUN: kda-opt %s -split-input-file --kdk-select-products | FileCheck %s --check-prefix=AUTO
// RUN: kda-opt %s -split-input-file --kdk-select-products=f32-products=tf32 | FileCheck %s --check-prefix=TF32
// RUN: kda-opt %s -split-input-file --kdk-select-products=f32-products=tf32 --kdk-select-products=f32-products=fma | FileCheck %s --check-prefix=FMA
// RUN: not kda-opt %s -split-input-file --kdk-select-products=f32-products=bf16 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: kda-opt %s -split-input-file --kdk-select-products="f32-products=fma gram-products=auto" | FileCheck %s --check-prefix=GRAMS
// RUN: not kda-opt %s -split-input-file --kdk-select-products=gram-products=fp8 2>&1 | FileCheck %s --check-prefix=BADGRAMS
// The forward's kernels, through kdac: a bounded gate of a bf16 spec puts
// the grams on tensor cores (taking turns over the warps), not the other
// products.
// RUN: kdac --H=1 --K=32 --V=16 --gate-activation=lowerbound --emit=kernel | FileCheck %s --check-prefix=FWD
// The backward's kernels, through kdac: by default (auto) tf32 for bf16
// inputs, FMAs for f32 ones; FMAs everywhere with --grad-products=fma.
// RUN: kdac --op=backward --H=1 --K=32 --V=20 --grad-scan-prep=false --emit=kernel | FileCheck %s --check-prefix=BWD16
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --dtype=f32 --emit=kernel | FileCheck %s --check-prefix=NOTF32
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --grad-products=fma --emit=kernel | FileCheck %s --check-prefix=NOTF32
// RUN: not kdac --op=backward --H=1 --K=32 --V=16 --grad-products=bf16 --emit=kernel 2>&1 | FileCheck %s --check-prefix=BADFLAG
// The fused lowerbound gate bounds the decay: the backward's grams (prep and
// map) run on tensor cores for bf16 inputs, directly for f32 ones.
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --gate-activation=lowerbound --emit=kernel | FileCheck %s --check-prefix=BWDGRAM
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --gate-activation=lowerbound --dtype=f32 --emit=kernel | FileCheck %s --check-prefix=NOTF32

// AUTO-LABEL: func.func @bf16_inputs
// AUTO: kdk.mma %{{.*}}, %{{.*}} into %{{.*}} tf32 : memref<16x64xf32, 3>
// AUTO: kdk.mma %{{.*}}, %{{.*}} into %{{.*}} transpose_lhs tf32 accumulate : memref<16x64xf32, 3>
// AUTO: kdk.mma %{{.*}}, %{{.*}} into %{{.*}} : memref<16x64xf32, 3>, memref<64x20xf32, 3>
// AUTO: kdk.mma %{{.*}}, %{{.*}} into %{{.*}} : memref<16x64xbf16, 3>
// TF32-LABEL: func.func @bf16_inputs
// TF32-COUNT-2: tf32
// TF32-NOT: tf32
// FMA-NOT: tf32
// BAD: error: kdk-select-products: invalid f32-products 'bf16' (expected fma, tf32 or auto)
// BADGRAMS: error: kdk-select-products: invalid gram-products 'fp8' (expected fma, tf32 or auto)
// GRAMS-LABEL: func.func @bf16_inputs
// GRAMS-NOT: tf32
// FWD-LABEL: func.func @kda_chunk_prep
// FWD-SAME: kdk.decay_bound = 5.000000e+00
// FWD-NOT: tf32
// FWD: kdk.decayed_gram {{.*}} mask = strict {{.*}} tensor_cores :
// FWD: kdk.decayed_gram {{.*}} mask = inclusive {{.*}} tensor_cores first_warp = 2 :
// FWD-NOT: tf32
// FWD-LABEL: func.func @kda_chunk_recurrence
func.func @bf16_inputs(%q: memref<?xbf16> {kdk.arg = #kdk.tensor<"q">}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %w = kdk.alloc_tile : memref<16x64xf32, 3>
  %s = kdk.alloc_tile : memref<64x32xf32, 3>
  %u = kdk.alloc_tile : memref<16x32xf32, 3>
  %t = kdk.alloc_tile : memref<64x20xf32, 3>
  %r = kdk.alloc_tile : memref<16x20xf32, 3>
  %wb = kdk.alloc_tile : memref<16x64xbf16, 3>
  %sb = kdk.alloc_tile : memref<64x32xbf16, 3>
  kdk.mma %w, %s into %u : memref<16x64xf32, 3>, memref<64x32xf32, 3>, memref<16x32xf32, 3>
  kdk.mma %w, %u into %s transpose_lhs accumulate : memref<16x64xf32, 3>, memref<16x32xf32, 3>, memref<64x32xf32, 3>
  kdk.mma %w, %t into %r : memref<16x64xf32, 3>, memref<64x20xf32, 3>, memref<16x20xf32, 3>
  kdk.mma %wb, %sb into %u : memref<16x64xbf16, 3>, memref<64x32xbf16, 3>, memref<16x32xf32, 3>
  return
}

// -----

// AUTO-LABEL: func.func @f32_inputs
// AUTO-NOT: tf32
// TF32-LABEL: func.func @f32_inputs
// TF32: kdk.mma %{{.*}}, %{{.*}} into %{{.*}} tf32
func.func @f32_inputs(%q: memref<?xf32> {kdk.arg = #kdk.tensor<"q">}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %w = kdk.alloc_tile : memref<16x64xf32, 3>
  %s = kdk.alloc_tile : memref<64x32xf32, 3>
  %u = kdk.alloc_tile : memref<16x32xf32, 3>
  kdk.mma %w, %s into %u : memref<16x64xf32, 3>, memref<64x32xf32, 3>, memref<16x32xf32, 3>
  return
}

// BWD16-LABEL: func.func @kda_bwd_states
// BWD16: kdk.mma {{%[a-z_0-9]+}}, {{%[a-z_0-9]+}} into {{%[a-z_0-9]+}} : memref<16x16xf32, {{.*}}>, memref<16x20xf32
// BWD16: kdk.mma {{.*}} tf32 : memref<16x16xf32, {{.*}}>, memref<16x32xf32
// BWD16-LABEL: func.func @kda_bwd_map
// BWD16: kdk.mma {{.*}} transpose_rhs tf32
// NOTF32-NOT: tf32
// BADFLAG: kdac: error: invalid value 'bf16' for --grad-products (expected fma, tf32 or auto)

// -----

// AUTO-LABEL: func.func @bounded_grams
// AUTO: kdk.decayed_gram {{.*}} mask = strict scale = 1.000000e+00 tensor_cores :
// AUTO: kdk.decayed_gram {{.*}} mask = inclusive scale = 1.000000e+00 :{{.*}}memref<16x20xf32
// AUTO: kdk.decayed_gram_grad {{.*}} mask = strict scale = 1.000000e+00 tensor_cores :
// FMA-LABEL: func.func @bounded_grams
// FMA-NOT: tensor_cores
// GRAMS-LABEL: func.func @bounded_grams
// GRAMS: kdk.decayed_gram {{.*}} mask = strict scale = 1.000000e+00 tensor_cores :
func.func @bounded_grams(%q: memref<?xbf16> {kdk.arg = #kdk.tensor<"q">}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.decay_bound = 5.0 : f64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %k = kdk.alloc_tile : memref<16x64xf32, 3>
  %odd = kdk.alloc_tile : memref<16x20xf32, 3>
  %gram = kdk.alloc_tile : memref<16x16xf32, 3>
  kdk.decayed_gram %k, %k, %k into %gram mask = strict scale = 1.0 : memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x16xf32, 3>
  kdk.decayed_gram %odd, %odd, %odd into %gram mask = inclusive scale = 1.0 : memref<16x20xf32, 3>, memref<16x20xf32, 3>, memref<16x20xf32, 3>, memref<16x16xf32, 3>
  %dk1 = kdk.alloc_tile : memref<16x64xf32, 3>
  %dk2 = kdk.alloc_tile : memref<16x64xf32, 3>
  %dgc = kdk.alloc_tile : memref<16x64xf32, 3>
  kdk.decayed_gram_grad %gram, %k, %k, %k into %dk1, %dk2, %dgc mask = strict scale = 1.0 : memref<16x16xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>
  return
}

// -----

// Too weak a bound (or none) leaves the grams and their adjoints direct.
// AUTO-LABEL: func.func @loosely_bounded_grams
// AUTO-NOT: tensor_cores
func.func @loosely_bounded_grams(%q: memref<?xbf16> {kdk.arg = #kdk.tensor<"q">}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.decay_bound = 8.0 : f64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %k = kdk.alloc_tile : memref<16x64xf32, 3>
  %gram = kdk.alloc_tile : memref<16x16xf32, 3>
  kdk.decayed_gram %k, %k, %k into %gram mask = strict scale = 1.0 : memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x16xf32, 3>
  kdk.decayed_gram_grad %gram, %k, %k, %k into %k, %k, %k mask = strict scale = 1.0 : memref<16x16xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>
  return
}

// BWDGRAM-LABEL: func.func @kda_bwd_prep
// BWDGRAM-SAME: kdk.decay_bound = 5.000000e+00
// BWDGRAM: kdk.decayed_gram {{.*}} tensor_cores
// BWDGRAM-LABEL: func.func @kda_bwd_map
// BWDGRAM: kdk.decayed_gram {{.*}} tensor_cores
// BWDGRAM: kdk.decayed_gram {{.*}} tensor_cores
// BWDGRAM: kdk.decayed_gram_grad {{.*}} tensor_cores
// BWDGRAM: kdk.decayed_gram_grad {{.*}} tensor_cores

// -----

// Tensor-core grams between two barriers take turns over the warps: a
// 16-row gram has 2 blocks of 16 x 8, so the next starts at warp 2; that
// 32-row one has 8, so the third starts at (2 + 8) mod 6 warps = 4; a
// barrier starts over.
// AUTO-LABEL: func.func @grams_take_turns
// GRAMS-LABEL: func.func @grams_take_turns
// GRAMS: kdk.decayed_gram {{.*}} tensor_cores :
// GRAMS: kdk.decayed_gram {{.*}} tensor_cores first_warp = 2 :
// GRAMS: kdk.decayed_gram {{.*}} tensor_cores first_warp = 4 :
// GRAMS: kdk.barrier
// GRAMS: kdk.decayed_gram {{.*}} tensor_cores :
func.func @grams_take_turns(%q: memref<?xbf16> {kdk.arg = #kdk.tensor<"q">}) attributes {kdk.kernel, kdk.block_threads = 192 : i64, kdk.decay_bound = 5.0 : f64, kdk.grid = #kdk.grid<1, 1, 1>} {
  %k = kdk.alloc_tile : memref<32x64xf32, 3>
  %big = kdk.alloc_tile : memref<32x32xf32, 3>
  %s = kdk.alloc_tile : memref<16x64xf32, 3>
  %gram = kdk.alloc_tile : memref<16x16xf32, 3>
  kdk.decayed_gram %s, %s, %s into %gram mask = strict scale = 1.0 : memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x16xf32, 3>
  kdk.decayed_gram %k, %k, %k into %big mask = strict scale = 1.0 : memref<32x64xf32, 3>, memref<32x64xf32, 3>, memref<32x64xf32, 3>, memref<32x32xf32, 3>
  kdk.decayed_gram %s, %s, %s into %gram mask = inclusive scale = 1.0 : memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x16xf32, 3>
  kdk.barrier
  kdk.decayed_gram %s, %s, %s into %gram mask = strict scale = 1.0 : memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x64xf32, 3>, memref<16x16xf32, 3>
  return
}
