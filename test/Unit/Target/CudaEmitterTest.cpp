//===- CudaEmitterTest.cpp - Emit CUDA for kdk modules, compile with NVRTC ===//
//
// Runs without a GPU. Hand-written modules exercise every kdk op (and the
// func/scf/arith subset the emitter accepts); their CUDA must compile with
// NVRTC to CUBIN for sm_80 and sm_90a, with the embedded device library. An
// NVRTC that cannot be loaded is a failure: CI has the CUDA toolkit. Error
// tests check that unsupported input fails loudly, at the op.
//
//===----------------------------------------------------------------------===//
#include "EmitterTestSupport.h"

#include "kdac/runtime/Nvrtc.h"

#include <gtest/gtest.h>

using namespace kdac;
using kdac::test::contains;

namespace {

// Two kernels using every kdk op: a chunk-parallel one over bf16 inputs
// (varlen, fused gate, gram, inverse, products) and a sequence-parallel one
// (f32 tiles, loops with permuted iter_args, if with results, integer ops).
const char *kEveryOp = R"mlir(
!kb = memref<64x128xbf16, 3>
!kf = memref<64x128xf32, 3>
!sq = memref<64x64xf32, 3>
!vec = memref<64xf32, 3>
!kvec = memref<128xf32, 3>
module attributes {kdk.chunk_size = 64 : i64} {
  func.func @kda_intra(
      %q: memref<?xbf16> {kdk.arg = #kdk.tensor<"q">}, %k: memref<?xbf16> {kdk.arg = #kdk.tensor<"k">},
      %v: memref<?xbf16> {kdk.arg = #kdk.tensor<"v">}, %g: memref<?xf32> {kdk.arg = #kdk.tensor<"g">},
      %beta: memref<?xbf16> {kdk.arg = #kdk.tensor<"beta">},
      %alog: memref<?xf32> {kdk.arg = #kdk.tensor<"A_log">},
      %dtb: memref<?xf32> {kdk.arg = #kdk.tensor<"dt_bias">},
      %cu: memref<?xi64> {kdk.arg = #kdk.tensor<"cu_seqlens">},
      %w: memref<?xbf16> {kdk.arg = #kdk.workspace<"w", bytes_per_slot = 16384>},
      %u: memref<?xf32> {kdk.arg = #kdk.workspace<"u", bytes_per_slot = 32768>},
      %T: index {kdk.arg = #kdk.size<"T">})
      attributes {kdk.kernel, kdk.block_threads = 128 : i64,
                  kdk.grid = #kdk.grid<chunk_slots, 4, 1>} {
    %slot = kdk.block_id 0
    %head = kdk.block_id 1
    %valid, %seq, %batch, %start, %rows = kdk.locate_chunk %slot T(%T) cu_seqlens(%cu : memref<?xi64>) chunk_size = 64
    %c4 = arith.constant 4 : index
    %c128 = arith.constant 128 : index
    %c512 = arith.constant 512 : index
    scf.if %valid {
      %qt = kdk.alloc_tile : !kb
      %kt = kdk.alloc_tile : !kb
      %vt = kdk.alloc_tile : !kb
      %gt = kdk.alloc_tile : !kf
      %gh = kdk.alloc_tile : !kf
      %qf = kdk.alloc_tile : !kf
      %bt = kdk.alloc_tile : !vec
      %akk = kdk.alloc_tile : !sq
      %aqk = kdk.alloc_tile : !sq
      %m = kdk.alloc_tile : !sq
      %wt = kdk.alloc_tile : !kb
      %vf = kdk.alloc_tile : !kf
      %uf = kdk.alloc_tile : !kf
      %last = kdk.alloc_tile : !kvec
      %s = kdk.alloc_tile : memref<128x128xf32, 3>
      %hoff = arith.muli %head, %c128 : index
      %tok = arith.muli %start, %c512 : index
      %off = arith.addi %tok, %hoff : index
      kdk.load_tile %q[%off] rows(%rows) row_stride(%c512) col_stride = 1 into %qt : memref<?xbf16>, !kb
      kdk.load_tile %k[%off] rows(%rows) row_stride(%c512) col_stride = 1 into %kt : memref<?xbf16>, !kb
      kdk.load_tile %v[%off] rows(%rows) row_stride(%c512) col_stride = 1 into %vt : memref<?xbf16>, !kb
      kdk.load_tile %g[%off] rows(%rows) row_stride(%c512) col_stride = 1 into %gt : memref<?xf32>, !kf
      %boff = arith.muli %start, %c4 : index
      %bo = arith.addi %boff, %head : index
      kdk.load_tile %g[%bo] rows(%rows) row_stride(%c4) col_stride = 0 into %gh : memref<?xf32>, !kf
      kdk.load_tile %beta[%bo] rows(%rows) row_stride(%c4) col_stride = 0 into %bt : memref<?xbf16>, !vec
      kdk.barrier
      kdk.gate_activation softplus %gt head(%head) rows(%rows) A_log(%alog : memref<?xf32>) dt_bias(%dtb : memref<?xf32>) : !kf
      kdk.gate_activation lowerbound %gh head(%head) rows(%rows) A_log(%alog : memref<?xf32>) dt_bias(%dtb : memref<?xf32>) lower_bound = -5.0 per_head : !kf
      kdk.sigmoid %bt rows(%rows) : !vec
      kdk.convert %qt into %qf : !kb, !kf
      kdk.barrier
      kdk.l2norm_rows %qf : !kf
      kdk.cumsum_rows %gt : !kf
      kdk.barrier
      kdk.decayed_gram %kt, %kt, %gt row_scale(%bt : !vec) into %akk mask = strict scale = 1.0 anchor_block = 16 : !kb, !kb, !kf, !sq
      kdk.decayed_gram %qt, %kt, %gt into %aqk mask = inclusive scale = 0.088388 : !kb, !kb, !kf, !sq
      kdk.barrier
      kdk.tri_inverse %akk into %m : !sq, !sq
      kdk.decay_rows %qf, %gt row_scale(%bt : !vec) into %wt scale = 0.5 : !kf, !kf, !kb
      kdk.last_row_exp %gt into %last : !kf, !kvec
      kdk.barrier
      kdk.add_identity %m into %akk negate : !sq, !sq
      kdk.scale_rows %s, %last : memref<128x128xf32, 3>, !kvec
      kdk.convert %vt into %vf : !kb, !kf
      kdk.barrier
      kdk.mma %qt, %kt into %s transpose_lhs alpha = 2.0 : !kb, !kb, memref<128x128xf32, 3>
      kdk.barrier
      kdk.mma %aqk, %vf into %uf accumulate : !sq, !kf, !kf
      kdk.barrier
      kdk.decay_rows %uf, %gt into %vf to_last : !kf, !kf, !kf
      kdk.sub %vf, %uf into %uf : !kf, !kf, !kf
      kdk.barrier
      %blk = memref.subview %m[16, 16] [16, 16] [1, 1] : !sq to memref<16x16xf32, strided<[64, 1], offset: 1040>, 3>
      kdk.fill %blk, 0.0 : memref<16x16xf32, strided<[64, 1], offset: 1040>, 3>
      %col = memref.subview %s[0, 3] [128, 1] [1, 1] : memref<128x128xf32, 3> to memref<128xf32, strided<[128], offset: 3>, 3>
      kdk.fill %col, 1.0 : memref<128xf32, strided<[128], offset: 3>, 3>
      kdk.barrier
      %wo = arith.muli %slot, %c128 : index
      kdk.store_tile %wt into %w[%wo] rows(%rows) row_stride(%c128) col_stride = 1 : !kb, memref<?xbf16>
      kdk.store_tile %uf into %u[%wo] rows(%rows) row_stride(%c128) col_stride = 1 : !kf, memref<?xf32>
    }
    return
  }

  func.func @kda_inter(
      %u: memref<?xf32> {kdk.arg = #kdk.workspace<"u", bytes_per_slot = 32768>},
      %h0: memref<?xf32> {kdk.arg = #kdk.tensor<"initial_state">},
      %o: memref<?xf16> {kdk.arg = #kdk.tensor<"o">},
      %hT: memref<?xf32> {kdk.arg = #kdk.tensor<"final_state">},
      %T: index {kdk.arg = #kdk.size<"T">}, %N: index {kdk.arg = #kdk.size<"N">}, %B: index {kdk.arg = #kdk.size<"B">})
      attributes {kdk.kernel, kdk.block_threads = 256 : i64,
                  kdk.grid = #kdk.grid<sequences, 4, 2>} {
    %sequence = kdk.block_id 0
    %batch, %start, %length, %chunks, %first = kdk.sequence_range %sequence T(%T) chunk_size = 64
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c7 = arith.constant 7 : index
    %c64 = arith.constant 64 : index
    %st = kdk.alloc_tile : memref<64x64xf32, 3>
    %ot = kdk.alloc_tile : memref<64x64xf16, 3>
    %x = kdk.alloc_tile : memref<64x64xf32, 3>
    kdk.load_tile %h0[%c0] rows(%c64) row_stride(%c64) col_stride = 1 into %st : memref<?xf32>, memref<64x64xf32, 3>
    %r:2 = scf.for %i = %c0 to %chunks step %c1 iter_args(%a = %c0, %b = %c1) -> (index, index) {
      %slot = arith.addi %first, %i : index
      %offset = arith.muli %slot, %c64 : index
      kdk.load_tile %u[%offset] rows(%c64) row_stride(%c64) col_stride = 1 into %x : memref<?xf32>, memref<64x64xf32, 3>
      kdk.barrier
      kdk.mma %x, %x into %st accumulate : memref<64x64xf32, 3>, memref<64x64xf32, 3>, memref<64x64xf32, 3>
      kdk.barrier
      scf.yield %b, %a : index, index
    }
    %d = arith.divui %r#0, %c7 : index
    %e = arith.remsi %r#1, %c7 : index
    %f = arith.ceildivsi %d, %c7 : index
    %h = arith.ceildivui %e, %c7 : index
    %mn = arith.minsi %f, %h : index
    %mx = arith.maxui %mn, %N : index
    %my = arith.minui %mx, %B : index
    %mz = arith.maxsi %my, %length : index
    %rs = arith.remui %mz, %c7 : index
    %ds = arith.divsi %rs, %c7 : index
    %sb = arith.subi %ds, %start : index
    %i32 = arith.index_cast %sb : index to i32
    %back = arith.index_castui %i32 : i32 to index
    %lt = arith.cmpi ult, %back, %c64 : index
    %ge = arith.cmpi sge, %back, %batch : index
    %both = arith.andi %lt, %ge : i1
    %either = arith.ori %lt, %both : i1
    %flip = arith.xori %either, %ge : i1
    %sel = arith.select %flip, %back, %c0 : index
    %rows = scf.if %both -> (index) {
      scf.yield %sel : index
    } else {
      scf.yield %c64 : index
    }
    kdk.convert %st into %ot : memref<64x64xf32, 3>, memref<64x64xf16, 3>
    kdk.barrier
    kdk.store_tile %ot into %o[%c0] rows(%rows) row_stride(%c64) col_stride = 1 : memref<64x64xf16, 3>, memref<?xf16>
    kdk.store_tile %st into %hT[%c0] rows(%c64) row_stride(%c64) col_stride = 1 : memref<64x64xf32, 3>, memref<?xf32>
    return
  }
}
)mlir";

// Paths the main module does not reach: f16 tensor cores, shapes that fall
// back to FMAs, 32- and 1024-thread blocks, non-varlen locate_chunk, i32
// cu_seqlens, lowerbound without A_log, a per-head softplus.
const char *kVariants = R"mlir(
module attributes {kdk.chunk_size = 32 : i64} {
  func.func @small_block(
      %k: memref<?xf16> {kdk.arg = #kdk.tensor<"k">}, %g: memref<?xf16> {kdk.arg = #kdk.tensor<"g">},
      %dtb: memref<?xbf16> {kdk.arg = #kdk.tensor<"dt_bias">},
      %cu: memref<?xi32> {kdk.arg = #kdk.tensor<"cu_seqlens">},
      %o: memref<?xf32> {kdk.arg = #kdk.tensor<"o">}, %T: index {kdk.arg = #kdk.size<"T">})
      attributes {kdk.kernel, kdk.block_threads = 32 : i64,
                  kdk.grid = #kdk.grid<batch, 1, 1>} {
    %slot = kdk.block_id 0
    %valid, %seq, %batch, %start, %rows = kdk.locate_chunk %slot T(%T) chunk_size = 32
    %b2, %s2, %l2, %n2, %f2 = kdk.sequence_range %seq T(%T) cu_seqlens(%cu : memref<?xi32>) chunk_size = 32
    %v2, %q2, %bb2, %st2, %r2 = kdk.locate_chunk %slot T(%T) cu_seqlens(%cu : memref<?xi32>) chunk_size = 32
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    %a = kdk.alloc_tile : memref<32x32xf16, 3>
    %b = kdk.alloc_tile : memref<32x24xf16, 3>
    %c = kdk.alloc_tile : memref<32x24xf32, 3>
    %d = kdk.alloc_tile : memref<24x24xf32, 3>
    %gt = kdk.alloc_tile : memref<32x24xf32, 3>
    %e = kdk.alloc_tile : memref<3x3xf32, 3>
    %g32 = kdk.alloc_tile : memref<32x32xf32, 3>
    %o32 = kdk.alloc_tile : memref<32x32xf32, 3>
    kdk.load_tile %k[%start] rows(%rows) row_stride(%c32) col_stride = 1 into %a : memref<?xf16>, memref<32x32xf16, 3>
    kdk.load_tile %k[%st2] rows(%r2) row_stride(%c32) col_stride = 1 into %b : memref<?xf16>, memref<32x24xf16, 3>
    kdk.load_tile %g[%s2] rows(%l2) row_stride(%c32) col_stride = 1 into %gt : memref<?xf16>, memref<32x24xf32, 3>
    kdk.barrier
    kdk.gate_activation lowerbound %gt head(%c1) rows(%rows) dt_bias(%dtb : memref<?xbf16>) lower_bound = -2.5 : memref<32x24xf32, 3>
    kdk.gate_activation softplus %c head(%c0) rows(%rows) dt_bias(%dtb : memref<?xbf16>) per_head : memref<32x24xf32, 3>
    kdk.mma %a, %b into %c : memref<32x32xf16, 3>, memref<32x24xf16, 3>, memref<32x24xf32, 3>
    kdk.mma %b, %b into %d transpose_lhs : memref<32x24xf16, 3>, memref<32x24xf16, 3>, memref<24x24xf32, 3>
    %sub = memref.subview %b[0, 8] [16, 16] [1, 1] : memref<32x24xf16, 3> to memref<16x16xf16, strided<[24, 1], offset: 8>, 3>
    %sub2 = memref.subview %a[0, 4] [16, 16] [1, 1] : memref<32x32xf16, 3> to memref<16x16xf16, strided<[32, 1], offset: 4>, 3>
    %cs = memref.subview %c[0, 0] [16, 16] [1, 1] : memref<32x24xf32, 3> to memref<16x16xf32, strided<[24, 1]>, 3>
    kdk.mma %sub2, %sub into %cs transpose_lhs accumulate alpha = -1.0 : memref<16x16xf16, strided<[32, 1], offset: 4>, 3>, memref<16x16xf16, strided<[24, 1], offset: 8>, 3>, memref<16x16xf32, strided<[24, 1]>, 3>
    kdk.decayed_gram %a, %a, %g32 into %o32 mask = inclusive scale = 1.0 : memref<32x32xf16, 3>, memref<32x32xf16, 3>, memref<32x32xf32, 3>, memref<32x32xf32, 3>
    kdk.fill %e, 3.5 : memref<3x3xf32, 3>
    kdk.tri_inverse %o32 into %o32 : memref<32x32xf32, 3>, memref<32x32xf32, 3>
    kdk.barrier
    kdk.store_tile %c into %o[%c0] rows(%c32) row_stride(%c32) col_stride = 1 : memref<32x24xf32, 3>, memref<?xf32>
    return
  }
  func.func @big_block(%q: memref<?xf32> {kdk.arg = #kdk.tensor<"q">}, %o: memref<?xf32> {kdk.arg = #kdk.tensor<"o">})
      attributes {kdk.kernel, kdk.block_threads = 1024 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %c0 = arith.constant 0 : index
    %c8 = arith.constant 8 : index
    %a = kdk.alloc_tile : memref<8x8xf32, 3>
    %m = kdk.alloc_tile : memref<8x8xf32, 3>
    kdk.load_tile %q[%c0] rows(%c8) row_stride(%c8) col_stride = 1 into %a : memref<?xf32>, memref<8x8xf32, 3>
    kdk.barrier
    kdk.tri_inverse %a into %m : memref<8x8xf32, 3>, memref<8x8xf32, 3>
    kdk.l2norm_rows %a : memref<8x8xf32, 3>
    kdk.barrier
    kdk.store_tile %m into %o[%c0] rows(%c8) row_stride(%c8) col_stride = 1 : memref<8x8xf32, 3>, memref<?xf32>
    return
  }
}
)mlir";

// The backward's tile primitives (kdac_grad.cuh), which only kernels that
// use them include.
const char *kGradOps = R"mlir(
module attributes {kdk.chunk_size = 16 : i64} {
  func.func @grad_ops(%q: memref<?xf32> {kdk.arg = #kdk.tensor<"q">}, %o: memref<?xf32> {kdk.arg = #kdk.tensor<"o">})
      attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %c0 = arith.constant 0 : index
    %c16 = arith.constant 16 : index
    %a = kdk.alloc_tile : memref<16x32xf32, 3>
    %b = kdk.alloc_tile : memref<16x32xf32, 3>
    %c = kdk.alloc_tile : memref<16x32xf32, 3>
    %m = kdk.alloc_tile : memref<16x16xf32, 3>
    %t = kdk.alloc_tile : memref<32x16xf32, 3>
    %r = kdk.alloc_tile : memref<16xf32, 3>
    %v = kdk.alloc_tile : memref<32xf32, 3>
    %da = kdk.alloc_tile : memref<16x32xf32, 3>
    %db = kdk.alloc_tile : memref<16x32xf32, 3>
    %dr = kdk.alloc_tile : memref<16xf32, 3>
    %dg = kdk.alloc_tile : memref<16x32xf32, 3>
    kdk.load_tile %q[%c0] rows(%c16) row_stride(%c16) col_stride = 1 into %a : memref<?xf32>, memref<16x32xf32, 3>
    kdk.barrier
    kdk.add %a, %a into %b : memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<16x32xf32, 3>
    kdk.mul %a, %a into %c scale = 0.5 : memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<16x32xf32, 3>
    kdk.row_dot %a, %a into %r : memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<16xf32, 3>
    kdk.column_sum %a into %v : memref<16x32xf32, 3>, memref<32xf32, 3>
    kdk.mma %a, %a into %m transpose_rhs alpha = -1.0 : memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<16x16xf32, 3>
    kdk.mma %a, %m into %t transpose_lhs transpose_rhs accumulate : memref<16x32xf32, 3>, memref<16x16xf32, 3>, memref<32x16xf32, 3>
    kdk.barrier
    kdk.add %r, %r into %r : memref<16xf32, 3>, memref<16xf32, 3>, memref<16xf32, 3>
    kdk.add_to_last_row %b, %v : memref<16x32xf32, 3>, memref<32xf32, 3>
    kdk.tril %m mask = strict scale = -1.0 : memref<16x16xf32, 3>
    kdk.cumsum_rows %c reverse : memref<16x32xf32, 3>
    kdk.barrier
    kdk.decayed_gram_grad %m, %a, %b, %c row_scale(%r : memref<16xf32, 3>) into %da, %db, %dg drow_scale(%dr : memref<16xf32, 3>) mask = strict scale = 1.0 : memref<16x16xf32, 3>, memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<16x32xf32, 3>, memref<16x32xf32, 3>
    kdk.barrier
    kdk.store_tile %da into %o[%c0] rows(%c16) row_stride(%c16) col_stride = 1 : memref<16x32xf32, 3>, memref<?xf32>
    return
  }
}
)mlir";

const rt::Nvrtc &nvrtcOrDie() {
  rt::Expected<const rt::Nvrtc *> nvrtc = rt::Nvrtc::load();
  if (!nvrtc) {
    ADD_FAILURE() << "NVRTC must be loadable where the CUDA toolkit is "
                     "installed: "
                  << nvrtc.error();
    std::abort();
  }
  return **nvrtc;
}

/// Emits `ir` and compiles it to CUBIN for sm_80 and sm_90a.
void expectCompiles(const std::string &ir, const std::string &name) {
  test::EmitterHarness harness;
  mlir::FailureOr<EmittedCuda> emitted = harness.emit(ir);
  ASSERT_TRUE(succeeded(emitted)) << harness.diagnostics;
  for (const char *arch : {"sm_80", "sm_90a"}) {
    rt::Expected<rt::CompileOutput> output =
        nvrtcOrDie().compile(emitted->source, name + ".cu", arch);
    ASSERT_TRUE(output.ok()) << arch << ": " << output.error() << "\n"
                             << emitted->source;
    EXPECT_GT(output->cubin.size(), 4u) << arch;
    EXPECT_FALSE(output->ptx.empty()) << arch;
    for (const rt::KernelLaunch &kernel : emitted->launch.kernels)
      EXPECT_TRUE(contains(output->ptx, ".entry " + kernel.name))
          << arch << " lacks " << kernel.name;
  }
}

} // namespace

TEST(CudaEmitter, EveryOpCompilesWithNvrtcForSm80AndSm90a) {
  expectCompiles(kEveryOp, "every_op");
}

TEST(CudaEmitter, VariantsCompileWithNvrtcForSm80AndSm90a) {
  expectCompiles(kVariants, "variants");
}

TEST(CudaEmitter, GradOpsCompileWithNvrtcForSm80AndSm90a) {
  expectCompiles(kGradOps, "grad_ops");
  test::EmitterHarness harness;
  mlir::FailureOr<EmittedCuda> emitted = harness.emit(kGradOps);
  ASSERT_TRUE(succeeded(emitted)) << harness.diagnostics;
  for (const char *call :
       {"#include \"kdac/kdac_grad.cuh\"", "kdac::tileAdd<NT, 16, 32>(",
        "kdac::tileMul<NT, 16, 32>(", "kdac::rowDot<NT, 16, 32>(",
        "kdac::columnSum<NT, 16, 32>(",
        "kdac::tileMmaTransposedB<NT, 16, 16, 32, false, false>(",
        "kdac::tileMmaTransposedB<NT, 32, 16, 16, true, true>(",
        "kdac::tileAdd<NT, 16, 1>(", "kdac::addToLastRow<NT, 16, 32>(",
        "kdac::tril<NT, 16, false>(", "kdac::reverseCumsumRows<NT, 16, 32>(",
        "kdac::decayedGramGrad<NT, 16, 32, false>("})
    EXPECT_TRUE(contains(emitted->source, call))
        << "missing `" << call << "` in\n" << emitted->source;
  // The forward's kernels keep the smaller library.
  mlir::FailureOr<EmittedCuda> forward = harness.emit(kEveryOp);
  ASSERT_TRUE(succeeded(forward)) << harness.diagnostics;
  EXPECT_FALSE(contains(forward->source, "kdac_grad.cuh"));
}

TEST(CudaEmitter, EveryKdkOpMapsToItsDeviceFunction) {
  test::EmitterHarness harness;
  mlir::FailureOr<EmittedCuda> emitted = harness.emit(kEveryOp);
  ASSERT_TRUE(succeeded(emitted)) << harness.diagnostics;
  const std::string &source = emitted->source;
  for (const char *call :
       {"kdac::locateChunk(v0, T, cu_seqlens, 64ll)",
        "kdac::sequenceRange(", "(long long)blockIdx.y",
        "kdac::tileLoad<NT, 64, 128, 1>(q, ", "kdac::tileLoad<NT, 64, 1, 0>(beta, ",
        "kdac::tileStore<NT, 64, 128, 1>(", "kdac::tileConvert<NT, 64, 128>(",
        "kdac::tileFill<NT, 16, 16>(", "kdac::tileFill<NT, 128, 1>(",
        "kdac::l2normRows<NT, 64, 128>(", "kdac::sigmoidTile<NT, 64, 1>(",
        "kdac::gateActivation<NT, 64, 128, kdac::GateSoftplus, false>(",
        "kdac::gateActivation<NT, 64, 128, kdac::GateLowerBound, true>(",
        "-5.0f)", "kdac::cumsumRows<NT, 64, 128>(",
        "kdac::decayedGram<NT, 64, 128, false, 16>(",
        "kdac::decayedGram<NT, 64, 128, true, 0>(",
        "(const float *)nullptr, 0,", "kdac::triInverse<NT, 64>(",
        "kdac::tileMma<NT, 128, 128, 64, true, false>(",
        "kdac::tileMma<NT, 64, 128, 64, false, true>(",
        "kdac::tileMma<NT, 64, 64, 64, false, true>(", "2.0f);",
        "kdac::tileSub<NT, 64, 128>(", "kdac::addIdentity<NT, 64, true>(",
        "kdac::decayRows<NT, 64, 128, false>(",
        "kdac::decayRows<NT, 64, 128, true>(", "kdac::lastRowExp<NT, 64, 128>(",
        "kdac::scaleRows<NT, 128, 128>(", "__syncthreads();",
        "kdac::ceilDivSigned(", "kdac::ceilDivUnsigned(",
        "(unsigned long long)"})
    EXPECT_TRUE(contains(source, call)) << "missing `" << call << "` in\n"
                                        << source;
}

TEST(CudaEmitter, LaunchDescriptorFollowsTheAttributes) {
  test::EmitterHarness harness;
  mlir::FailureOr<EmittedCuda> emitted = harness.emit(kEveryOp);
  ASSERT_TRUE(succeeded(emitted)) << harness.diagnostics;
  const rt::LaunchDescriptor &launch = emitted->launch;
  EXPECT_EQ(launch.chunkSize, 64);
  // "u" appears in both kernels but is one buffer.
  ASSERT_EQ(launch.workspaces.size(), 2u);
  EXPECT_EQ(launch.workspaces[0].name, "w");
  EXPECT_EQ(launch.workspaces[0].bytesPerChunkSlot, 16384);
  EXPECT_EQ(launch.workspaces[1].name, "u");
  EXPECT_EQ(launch.workspaces[1].bytesPerChunkSlot, 32768);
  ASSERT_EQ(launch.kernels.size(), 2u);

  const rt::KernelLaunch &intra = launch.kernels[0];
  EXPECT_EQ(intra.name, "kda_intra");
  EXPECT_EQ(intra.blockThreads, 128);
  rt::RuntimeSizes sizes{/*B=*/1, /*T=*/1000, /*N=*/3, /*chunkSlots=*/19};
  EXPECT_EQ(intra.grid[0].evaluate(sizes), 19);
  EXPECT_EQ(intra.grid[1].evaluate(sizes), 4);
  EXPECT_EQ(intra.grid[2].evaluate(sizes), 1);
  // 3x64x128 bf16, 3x64x128 f32, 64 f32, 3x64x64 f32, 64x128 bf16,
  // 2x64x128 f32, 128 f32, 128x128 f32; each rounded up to 128 bytes.
  EXPECT_EQ(intra.dynamicSharedBytes, 3 * 16384 + 3 * 32768 + 256 +
                                          3 * 16384 + 16384 + 2 * 32768 + 512 +
                                          65536);
  ASSERT_EQ(intra.params.size(), 11u);
  EXPECT_EQ(intra.params[0].kind, rt::ParamKind::Tensor);
  EXPECT_EQ(intra.params[0].name, "q");
  EXPECT_EQ(intra.params[7].name, "cu_seqlens");
  EXPECT_EQ(intra.params[8].kind, rt::ParamKind::Workspace);
  EXPECT_EQ(intra.params[8].name, "w");
  EXPECT_EQ(intra.params[10].kind, rt::ParamKind::SizeT);

  const rt::KernelLaunch &inter = launch.kernels[1];
  EXPECT_EQ(inter.blockThreads, 256);
  EXPECT_EQ(inter.grid[0].evaluate(sizes), 3);
  EXPECT_EQ(inter.grid[2].evaluate(sizes), 2);
  EXPECT_EQ(inter.dynamicSharedBytes, 16384 + 8192 + 16384);
  ASSERT_EQ(inter.params.size(), 7u);
  EXPECT_EQ(inter.params[4].kind, rt::ParamKind::SizeT);
  EXPECT_EQ(inter.params[5].kind, rt::ParamKind::SizeN);
  EXPECT_EQ(inter.params[6].kind, rt::ParamKind::SizeB);

  // Only stored-to buffers lose const.
  const std::string &source = emitted->source;
  EXPECT_TRUE(contains(source, "const __nv_bfloat16 *__restrict__ q,"));
  EXPECT_TRUE(contains(source, "__nv_bfloat16 *__restrict__ ws_w,"));
  EXPECT_FALSE(contains(source, "const __nv_bfloat16 *__restrict__ ws_w"));
  EXPECT_TRUE(contains(source, "const float *__restrict__ ws_u, const float "
                               "*__restrict__ initial_state, __half "
                               "*__restrict__ o, float *__restrict__ "
                               "final_state, long long T, long long N, long "
                               "long B)"));
  EXPECT_TRUE(contains(source, "extern \"C\" __global__ void "
                               "__launch_bounds__(256) kda_inter("));
}

TEST(CudaEmitter, LaunchDescriptorTextIsStable) {
  rt::LaunchDescriptor launch;
  launch.chunkSize = 32;
  launch.workspaces.push_back({"h", 4096});
  rt::KernelLaunch kernel;
  kernel.name = "k0";
  kernel.grid[0] = {0, 1, 0, 0};
  kernel.grid[1] = {4, 0, 0, 0};
  kernel.grid[2] = {1, 0, 2, 0};
  kernel.blockThreads = 64;
  kernel.dynamicSharedBytes = 256;
  kernel.params = {{rt::ParamKind::Tensor, "q"},
                   {rt::ParamKind::Workspace, "h"},
                   {rt::ParamKind::SizeN, "N"}};
  launch.kernels.push_back(kernel);
  EXPECT_EQ(printLaunchDescriptor(launch),
            "chunk_size 32\n"
            "workspace \"h\" bytes_per_chunk_slot 4096\n"
            "kernel \"k0\" grid [chunk_slots, 4, 2*sequences + 1] "
            "block_threads 64 dynamic_shared_bytes 256\n"
            "  param tensor \"q\"\n"
            "  param workspace \"h\"\n"
            "  param size \"N\"\n");
}

TEST(CudaEmitter, SharedTilesAreCarvedAt128ByteOffsets) {
  test::EmitterHarness harness;
  mlir::FailureOr<EmittedCuda> emitted = harness.emit(R"mlir(
module attributes {kdk.chunk_size = 16 : i64} {
  func.func @carve() attributes {kdk.kernel, kdk.block_threads = 64 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %a = kdk.alloc_tile : memref<3x3xf32, 3>
    %b = kdk.alloc_tile : memref<8x8xbf16, 3>
    %c = kdk.alloc_tile : memref<100xf16, 3>
    %d = kdk.alloc_tile : memref<16x16xf32, 3>
    return
  }
}
)mlir");
  ASSERT_TRUE(succeeded(emitted)) << harness.diagnostics;
  const std::string &source = emitted->source;
  EXPECT_TRUE(contains(source, "reinterpret_cast<float *>(kdac_smem + 0)"));
  EXPECT_TRUE(
      contains(source, "reinterpret_cast<__nv_bfloat16 *>(kdac_smem + 128)"));
  EXPECT_TRUE(contains(source, "reinterpret_cast<__half *>(kdac_smem + 256)"));
  EXPECT_TRUE(contains(source, "reinterpret_cast<float *>(kdac_smem + 512)"));
  EXPECT_EQ(emitted->launch.kernels[0].dynamicSharedBytes, 512 + 1024);
  EXPECT_TRUE(contains(
      source, "extern __shared__ __align__(128) unsigned char kdac_smem[];"));
}

namespace {

struct ErrorCase {
  const char *name;
  const char *body;       ///< inside the kernel, or a whole module if `module`
  const char *message;    ///< expected substring of the diagnostics
  bool module = false;
  /// Caught by the kdk dialect's verifier as the module is read (the
  /// emitter only reads what it verified), not by the emitter.
  bool byVerifier = false;
};

const char *kErrorKernel = R"mlir(
module attributes {kdk.chunk_size = 64 : i64} {
  func.func @kernel(%q: memref<?xf32> {kdk.arg = #kdk.tensor<"q">}, %T: index {kdk.arg = #kdk.size<"T">})
      attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    %c0 = arith.constant 0 : index
    %a = kdk.alloc_tile : memref<64x64xf32, 3>
    %b = kdk.alloc_tile : memref<64x64xf32, 3>
    @body@
    return
  }
}
)mlir";

const ErrorCase kErrorCases[] = {
    {"UnsupportedArithOp",
     "%f = arith.constant 1.0 : f32\n %g = arith.addf %f, %f : f32",
     "'arith.addf' op is not supported by the CUDA emitter"},
    {"UnsupportedMemrefAlloc", "%m = memref.alloc() : memref<4xf32, 3>",
     "'memref.alloc' op is not supported by the CUDA emitter"},
    {"MmaOutOverlapsInput",
     "%s = memref.subview %a[0, 16] [32, 32] [1, 1] : memref<64x64xf32, 3> to "
     "memref<32x32xf32, strided<[64, 1], offset: 16>, 3>\n"
     "%t = memref.subview %a[0, 32] [32, 32] [1, 1] : memref<64x64xf32, 3> to "
     "memref<32x32xf32, strided<[64, 1], offset: 32>, 3>\n"
     "%u = memref.subview %b[0, 0] [32, 32] [1, 1] : memref<64x64xf32, 3> to "
     "memref<32x32xf32, strided<[64, 1]>, 3>\n"
     "kdk.mma %t, %u into %s : memref<32x32xf32, strided<[64, 1], offset: "
     "32>, 3>, memref<32x32xf32, strided<[64, 1]>, 3>, memref<32x32xf32, "
     "strided<[64, 1], offset: 16>, 3>",
     "has out overlapping lhs"},
    {"GramAnchorMustDivide",
     "kdk.decayed_gram %a, %a, %a into %b mask = strict scale = 1.0 "
     "anchor_block = 24 : memref<64x64xf32, 3>, memref<64x64xf32, 3>, "
     "memref<64x64xf32, 3>, memref<64x64xf32, 3>",
     "anchor_block 24 does not divide the 64 rows", false, true},
    {"ShapeMismatch",
     "%c = kdk.alloc_tile : memref<64x32xf32, 3>\n"
     "kdk.sub %a, %c into %b : memref<64x64xf32, 3>, memref<64x32xf32, 3>, "
     "memref<64x64xf32, 3>",
     "expects rhs of shape 64x64, got 64x32", false, true},
    {"StridedColumns",
     "%s = memref.subview %a[0, 0] [64, 32] [1, 2] : memref<64x64xf32, 3> to "
     "memref<64x32xf32, strided<[64, 2]>, 3>\n"
     "kdk.fill %s, 1.0 : memref<64x32xf32, strided<[64, 2]>, 3>",
     "needs contiguous rows (inner stride 1)", false, true},
    {"TileFromGlobalMemory",
     "kdk.load_tile %q[%c0] rows(%c0) row_stride(%c0) col_stride = 1 into %q "
     ": memref<?xf32>, memref<?xf32>",
     "is not a tile made by kdk.alloc_tile"},
    {"TileCarriedByLoop",
     "%c1 = arith.constant 1 : index\n"
     "%r = scf.for %i = %c0 to %c1 step %c1 iter_args(%t = %a) -> "
     "(memref<64x64xf32, 3>) {\n scf.yield %t : memref<64x64xf32, 3>\n}",
     "tiles cannot be carried by scf.for"},
    {"LowerboundNeedsBound",
     "kdk.gate_activation lowerbound %a head(%c0) rows(%c0) : memref<64x64xf32, 3>",
     "lowerbound needs a lower_bound", false, true},
    {"NoChunkSize",
     R"mlir(module {
  func.func @k() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    return
  }
})mlir",
     "the module needs a positive kdk.chunk_size", true},
    {"BadBlockThreads",
     R"mlir(module attributes {kdk.chunk_size = 64 : i64} {
  func.func @k() attributes {kdk.kernel, kdk.block_threads = 100 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    return
  }
})mlir",
     "kdk.block_threads must be a multiple of 32 in [32, 1024]", true, true},
    {"BadGridExtent",
     R"mlir(module attributes {kdk.chunk_size = 64 : i64} {
  func.func @k() attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<heads, 1, 1>} {
    return
  }
})mlir",
     "grid extent 'heads' is not a positive integer", true, true},
    {"ArgumentWithoutBinding",
     R"mlir(module attributes {kdk.chunk_size = 64 : i64} {
  func.func @k(%x: memref<?xf32>) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    return
  }
})mlir",
     "argument #0 of kernel @k needs a kdk.arg", true, true},
    {"UnknownTensorName",
     R"mlir(module attributes {kdk.chunk_size = 64 : i64} {
  func.func @k(%x: memref<?xf32> {kdk.arg = #kdk.tensor<"qq">}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    return
  }
})mlir",
     "#kdk.tensor \"qq\" is not a KDA tensor name", true, true},
    {"SharedMemoryArgument",
     R"mlir(module attributes {kdk.chunk_size = 64 : i64} {
  func.func @k(%x: memref<64xf32, 3> {kdk.arg = #kdk.tensor<"q">}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    return
  }
})mlir",
     "a buffer argument must be a memref<?xT> in global memory", true, true},
    {"WorkspaceSizesDisagree",
     R"mlir(module attributes {kdk.chunk_size = 64 : i64} {
  func.func @a(%x: memref<?xf32> {kdk.arg = #kdk.workspace<"h", bytes_per_slot = 64>}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    return
  }
  func.func @b(%x: memref<?xf32> {kdk.arg = #kdk.workspace<"h", bytes_per_slot = 128>}) attributes {kdk.kernel, kdk.block_threads = 128 : i64, kdk.grid = #kdk.grid<1, 1, 1>} {
    return
  }
})mlir",
     "workspace \"h\" has bytes_per_slot 128 here but 64 in @a", true,
     true},
    {"HelperFunction",
     R"mlir(module attributes {kdk.chunk_size = 64 : i64} {
  func.func @helper() {
    return
  }
})mlir",
     "'func.func' op is not supported by the CUDA emitter at module level",
     true},
};

class CudaEmitterErrors : public ::testing::TestWithParam<ErrorCase> {};

} // namespace

TEST_P(CudaEmitterErrors, FailsLoudlyAtTheOp) {
  const ErrorCase &errorCase = GetParam();
  std::string ir = errorCase.module
                       ? std::string(errorCase.body)
                       : test::fill(kErrorKernel, {{"body", errorCase.body}});
  test::EmitterHarness harness;
  mlir::FailureOr<EmittedCuda> emitted = harness.emit(ir);
  EXPECT_TRUE(failed(emitted)) << "emitted:\n"
                               << (succeeded(emitted) ? emitted->source : "");
  EXPECT_EQ(contains(harness.diagnostics, "parse error"), errorCase.byVerifier)
      << harness.diagnostics;
  EXPECT_TRUE(contains(harness.diagnostics, errorCase.message))
      << "diagnostics:\n"
      << harness.diagnostics;
}

INSTANTIATE_TEST_SUITE_P(
    All, CudaEmitterErrors, ::testing::ValuesIn(kErrorCases),
    [](const ::testing::TestParamInfo<ErrorCase> &info) {
      return std::string(info.param.name);
    });
