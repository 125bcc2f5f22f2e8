// convert-kda-grad-to-kdk's products: tf32 tensor cores for 16-bit inputs
// (auto), f32 FMAs for f32 ones, and either by f32-products. A product
// whose shape does not suit m16n8k8 (here N = V = 20) keeps its FMAs.
// RUN: kdac --op=backward --H=1 --K=32 --V=20 --emit=split | kda-opt --convert-kda-grad-to-kdk | FileCheck %s --check-prefix=AUTO
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --dtype=f32 --emit=split | kda-opt --convert-kda-grad-to-kdk | FileCheck %s --check-prefix=F32
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --dtype=f32 --emit=split | kda-opt '--convert-kda-grad-to-kdk=f32-products=tf32' | FileCheck %s --check-prefix=FORCED
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --emit=split | kda-opt '--convert-kda-grad-to-kdk=f32-products=fma' | FileCheck %s --check-prefix=F32
// RUN: kdac --op=backward --H=1 --K=32 --V=16 --emit=split | not kda-opt '--convert-kda-grad-to-kdk=f32-products=bf16' 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not kdac --op=backward --H=1 --K=32 --V=16 --grad-products=bf16 --emit=kernel 2>&1 | FileCheck %s --check-prefix=BADFLAG

// AUTO-LABEL: func.func @kda_bwd_states
// AUTO: kdk.mma {{%[a-z_0-9]+}}, {{%[a-z_0-9]+}} into {{%[a-z_0-9]+}} : memref<16x16xf32, {{.*}}>, memref<16x20xf32
// AUTO: kdk.mma {{.*}} tf32 : memref<16x16xf32, {{.*}}>, memref<16x32xf32
// AUTO-LABEL: func.func @kda_bwd_map
// AUTO: kdk.mma {{.*}} transpose_rhs tf32

// F32-NOT: tf32

// FORCED-LABEL: func.func @kda_bwd_states
// FORCED: kdk.mma {{.*}} tf32 : memref<16x16xf32, {{.*}}>, memref<16x16xf32
// FORCED: kdk.mma {{.*}} transpose_lhs tf32 accumulate

// BAD: error: convert-kda-grad-to-kdk: invalid f32-products 'bf16' (expected fma, tf32 or auto)
// BADFLAG: kdac: error: invalid value 'bf16' for --grad-products (expected fma, tf32 or auto)
