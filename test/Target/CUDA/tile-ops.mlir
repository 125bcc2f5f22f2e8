// RUN: kda-opt %s --kdk-allocate-shared-memory | kdac-translate --kdk-to-cuda | FileCheck %s

// Every remaining kdk tile op becomes one device-library call whose template
// arguments are the thread count, the static shapes and the op's flags.

!kb = memref<64x128xbf16, 3>
!kf = memref<64x128xf32, 3>
!sq = memref<64x64xf32, 3>
!vec = memref<64xf32, 3>
module attributes {kdk.chunk_size = 64 : i64} {
  func.func @ops(%alog: memref<?xf32> {kdk.arg = #kdk.tensor<"A_log">},
                 %dtb: memref<?xbf16> {kdk.arg = #kdk.tensor<"dt_bias">},
                 %o: memref<?xbf16> {kdk.arg = #kdk.tensor<"o">})
      attributes {kdk.kernel, kdk.block_threads = 256 : i64, kdk.grid = #kdk.grid<sequences, 8, 1>} {
    %head = kdk.block_id 1
    %q = kdk.alloc_tile : !kb
    %k = kdk.alloc_tile : !kb
    %qf = kdk.alloc_tile : !kf
    %g = kdk.alloc_tile : !kf
    %u = kdk.alloc_tile : !kf
    %a = kdk.alloc_tile : !sq
    %r = kdk.alloc_tile : !vec
    %last = kdk.alloc_tile : memref<128xf32, 3>
    %s = kdk.alloc_tile : memref<128x128xf32, 3>
    %h = kdk.alloc_tile : memref<64x128xf16, 3>
    kdk.gate_activation softplus %g head(%head) rows(%head) A_log(%alog : memref<?xf32>) dt_bias(%dtb : memref<?xbf16>) : !kf
    kdk.gate_activation lowerbound %g head(%head) rows(%head) lower_bound = -5.0 per_head : !kf
    kdk.gate_activation lowerbound %g head(%head) rows(%head) lower_bound = -5.0 cumulative : !kf
    kdk.l2norm_rows %qf : !kf
    kdk.convert %q into %qf : !kb, !kf
    kdk.convert %qf into %h : !kf, memref<64x128xf16, 3>
    kdk.fill %r, 1.0 : !vec
    kdk.decayed_gram %q, %k, %g into %a mask = inclusive scale = 0.088388347648318 : !kb, !kb, !kf, !sq
    kdk.add_identity %a into %a : !sq, !sq
    kdk.add_identity %a into %a negate : !sq, !sq
    kdk.mma %a, %qf into %u : !sq, !kf, !kf
    kdk.mma %g, %u into %s transpose_lhs accumulate alpha = -1.0 : !kf, !kf, memref<128x128xf32, 3>
    kdk.mma %q, %k into %s transpose_lhs : !kb, !kb, memref<128x128xf32, 3>
    kdk.sub %u, %qf into %u : !kf, !kf, !kf
    kdk.decay_rows %qf, %g row_scale(%r : !vec) into %k scale = 0.5 : !kf, !kf, !kb
    kdk.decay_rows %u, %g into %qf to_last : !kf, !kf, !kf
    kdk.last_row_exp %g into %last : !kf, memref<128xf32, 3>
    kdk.scale_rows %s, %last : memref<128x128xf32, 3>, memref<128xf32, 3>
    kdk.scale_rows %qf, %r into %q : !kf, !vec, !kb
    kdk.scale_rows %q, %r into %k : !kb, !vec, !kb
    %c16 = arith.constant 16 : index
    kdk.store_decayed_rows %qf, %g into %o[%head] rows(%c16) row_stride(%c16) to_last scale = 0.5 : !kf, !kf, memref<?xbf16>
    return
  }
}

// CHECK: // kernel "ops" grid [sequences, 8, 1] block_threads 256 dynamic_shared_bytes 230144
// CHECK-LABEL: __launch_bounds__(256) ops(const float *__restrict__ A_log, const __nv_bfloat16 *__restrict__ dt_bias, __nv_bfloat16 *__restrict__ o) {
// CHECK:      constexpr int NT = 256;
// CHECK:      const long long [[HEAD:v[0-9]+]] = (long long)blockIdx.y;
// CHECK-NEXT: __nv_bfloat16 *const [[Q:v[0-9]+]] = {{.*}}(kdac_smem + 0);
// CHECK-NEXT: __nv_bfloat16 *const [[K:v[0-9]+]] = {{.*}}(kdac_smem + 16384);
// CHECK-NEXT: float *const [[QF:v[0-9]+]] = {{.*}}(kdac_smem + 32768);
// CHECK-NEXT: float *const [[G:v[0-9]+]] = {{.*}}(kdac_smem + 65536);
// CHECK-NEXT: float *const [[U:v[0-9]+]] = {{.*}}(kdac_smem + 98304);
// CHECK-NEXT: float *const [[A:v[0-9]+]] = {{.*}}(kdac_smem + 131072);
// CHECK-NEXT: float *const [[R:v[0-9]+]] = {{.*}}(kdac_smem + 147456);
// CHECK-NEXT: float *const [[LAST:v[0-9]+]] = {{.*}}(kdac_smem + 147712);
// CHECK-NEXT: float *const [[S:v[0-9]+]] = {{.*}}(kdac_smem + 148224);
// CHECK-NEXT: __half *const [[H:v[0-9]+]] = {{.*}}(kdac_smem + 213760);
// CHECK-NEXT: kdac::gateActivation<NT, 64, 128, kdac::GateSoftplus, false>([[G]], 128, [[HEAD]], [[HEAD]], A_log, dt_bias, 0.0f);
// CHECK-NEXT: kdac::gateActivation<NT, 64, 128, kdac::GateLowerBound, true>([[G]], 128, [[HEAD]], [[HEAD]], (const float *)nullptr, (const float *)nullptr, -5.0f);
// CHECK-NEXT: kdac::gateActivation<NT, 64, 128, kdac::GateLowerBound, false, true>([[G]], 128,
// CHECK-NEXT: kdac::l2normRows<NT, 64, 128>([[QF]], 128);
// CHECK-NEXT: kdac::tileConvert<NT, 64, 128>([[Q]], 128, [[QF]], 128);
// CHECK-NEXT: kdac::tileConvert<NT, 64, 128>([[QF]], 128, [[H]], 128);
// CHECK-NEXT: kdac::tileFill<NT, 64, 1>([[R]], 1, 1.0f);
// CHECK-NEXT: kdac::decayedGram<NT, 64, 128, true, 0>([[Q]], 128, [[K]], 128, [[G]], 128, (const float *)nullptr, 0, [[A]], 64, 0.088388346f);
// CHECK-NEXT: kdac::addIdentity<NT, 64, false>([[A]], 64, [[A]], 64);
// CHECK-NEXT: kdac::addIdentity<NT, 64, true>([[A]], 64, [[A]], 64);
// mma: <NT, M, N, K, transpose_lhs, accumulate>(A, lda, B, ldb, C, ldc, alpha).
// CHECK-NEXT: kdac::tileMma<NT, 64, 128, 64, false, false>([[A]], 64, [[QF]], 128, [[U]], 128, 1.0f);
// CHECK-NEXT: kdac::tileMma<NT, 128, 128, 64, true, true>([[G]], 128, [[U]], 128, [[S]], 128, -1.0f);
// CHECK-NEXT: kdac::tileMma<NT, 128, 128, 64, true, false>([[Q]], 128, [[K]], 128, [[S]], 128, 1.0f);
// CHECK-NEXT: kdac::tileSub<NT, 64, 128>([[U]], 128, [[QF]], 128, [[U]], 128);
// CHECK-NEXT: kdac::decayRows<NT, 64, 128, false>([[QF]], 128, [[G]], 128, [[R]], 1, [[K]], 128, 0.5f);
// CHECK-NEXT: kdac::decayRows<NT, 64, 128, true>([[U]], 128, [[G]], 128, (const float *)nullptr, 0, [[QF]], 128, 1.0f);
// CHECK-NEXT: kdac::lastRowExp<NT, 64, 128>([[G]], 128, [[LAST]], 1);
// CHECK-NEXT: kdac::scaleRows<NT, 128, 128>([[S]], 128, [[LAST]], 1, [[S]], 128);
// CHECK-NEXT: kdac::scaleRows<NT, 64, 128>([[QF]], 128, [[R]], 1, [[Q]], 128);
// CHECK-NEXT: kdac::scaleRows<NT, 64, 128>([[Q]], 128, [[R]], 1, [[K]], 128);
// The written buffer loses const; the decay goes straight to it.
// CHECK: kdac::storeDecayedRows<NT, 64, 128, true>([[QF]], 128, [[G]], 128, o, [[HEAD]], {{v[0-9]+}}, {{v[0-9]+}}, 0.5f);
// CHECK-NEXT: }
