//===- CudaEmitterGpuTest.cpp - Emitted tile ops checked on a GPU ---------===//
//
// Labelled `gpu`: skips with "no CUDA driver/device: ..." where there is
// none. Each test writes a small kdk kernel (load inputs, one tile op, store
// outputs), emits and compiles it, launches it on poisoned outputs and
// compares every element with a CPU computation in double from exactly the
// (rounded) values the GPU saw.
//
//===----------------------------------------------------------------------===//
#include "GpuTestSupport.h"

using namespace kdac;
using namespace kdac::test;

namespace {

class EmittedTileOps : public EmittedKernelTest {};

} // namespace

//===----------------------------------------------------------------------===//
// Data movement.
//===----------------------------------------------------------------------===//

// Row-masked loads zero-fill, row-masked stores leave the rest untouched;
// the 16-byte path (f32, aligned), the converting 16-byte path (bf16 ->
// f32), the scalar path (misaligned offset and odd row stride), broadcast
// (col_stride 0), 1-D tiles and a store that converts to bf16.
TEST_F(EmittedTileOps, LoadAndStoreWithMasksBroadcastAndConversion) {
  const std::string f = tileType(64, 128, "f32");
  std::string body =
      "    %a = kdk.alloc_tile : " + f + "\n" +
      "    %b = kdk.alloc_tile : " + f + "\n" +
      "    %c = kdk.alloc_tile : " + tileType(64, 16, "f32") + "\n" +
      "    %v = kdk.alloc_tile : memref<64xf32, 3>\n" +
      "    %c256 = arith.constant 256 : index\n"
      "    %c130 = arith.constant 130 : index\n"
      "    %c3 = arith.constant 3 : index\n"
      // xf is 64 x 256: the left half, T rows.
      "    kdk.load_tile %xf[%c0] rows(%T) row_stride(%c256) col_stride = 1 "
      "into %a : memref<?xf32>, " + f + "\n" +
      // xb is 64 x 130 bf16 read from column 1: misaligned, scalar path.
      "    kdk.load_tile %xb[%c1] rows(%T) row_stride(%c130) col_stride = 1 "
      "into %b : memref<?xbf16>, " + f + "\n" +
      "    kdk.load_tile %xf[%c3] rows(%c64) row_stride(%c4) col_stride = 0 "
      "into %c : memref<?xf32>, " + tileType(64, 16, "f32") + "\n" +
      "    kdk.load_tile %xf[%c1] rows(%T) row_stride(%c3) col_stride = 1 "
      "into %v : memref<?xf32>, memref<64xf32, 3>\n" +
      "    kdk.barrier\n" + storeAll("a", f, "ya", "f32", 64, 128) +
      // Masked stores: rows >= T keep their poison.
      "    kdk.store_tile %a into %za[%c0] rows(%T) row_stride(%c128) "
      "col_stride = 1 : " + f + ", memref<?xbf16>\n" +
      storeAll("b", f, "yb", "f32", 64, 128) +
      storeAll("c", tileType(64, 16, "f32"), "yc", "f32", 64, 16) +
      "    kdk.store_tile %v into %yv[%c0] rows(%c64) row_stride(%c1) "
      "col_stride = 1 : memref<64xf32, 3>, memref<?xf32>\n";
  std::string ir = kernelModule(
      buffer("xf", "f32") + ", " + buffer("xb", "bf16") + ", " +
          buffer("ya", "f32") + ", " + buffer("za", "bf16") + ", " +
          buffer("yb", "f32") + ", " + buffer("yc", "f32") + ", " +
          buffer("yv", "f32") + ", %T: index {kdk.arg = #kdk.size<\"T\">}",
      body);

  const int T = 37;
  HostArray xf = makeArray(Elem::F32, uniform(64 * 256, -4, 4, 1));
  HostArray xb = makeArray(Elem::BF16, uniform(64 * 130 + 1, -4, 4, 2));
  rt::DeviceBuffer dxf = upload(xf), dxb = upload(xb);
  rt::DeviceBuffer ya = poisoned(64 * 128), za = poisoned(64 * 128, Elem::BF16),
                   yb = poisoned(64 * 128), yc = poisoned(64 * 16),
                   yv = poisoned(64);
  launch(ir, "kernel",
         {arg(dxf), arg(dxb), arg(ya), arg(za), arg(yb), arg(yc), arg(yv),
          KernelArg::size(T)});

  std::vector<double> refA(64 * 128), refB(64 * 128), refC(64 * 16), refV(64);
  for (int r = 0; r < 64; ++r) {
    for (int c = 0; c < 128; ++c) {
      refA[r * 128 + c] = r < T ? xf.values[r * 256 + c] : 0.0;
      refB[r * 128 + c] = r < T ? xb.values[1 + r * 130 + c] : 0.0;
    }
    for (int c = 0; c < 16; ++c)
      refC[r * 16 + c] = xf.values[3 + r * 4];
    refV[r] = r < T ? xf.values[1 + 3 * r] : 0.0;
  }
  expectClose(download(ya, 64 * 128), refA, near(refA, 0, 0), "f32 load");
  expectClose(download(yb, 64 * 128), refB, near(refB, 0, 0),
              "misaligned bf16 load");
  expectClose(download(yc, 64 * 16), refC, near(refC, 0, 0), "broadcast");
  expectClose(download(yv, 64), refV, near(refV, 0, 0), "1-D strided load");
  std::vector<float> zaGot = download(za, 64 * 128, Elem::BF16);
  std::vector<double> refZa(T * 128);
  for (int i = 0; i < T * 128; ++i)
    refZa[i] = bf16BitsToFloat(floatToBf16Bits(float(refA[i])));
  expectClose(std::vector<float>(zaGot.begin(), zaGot.begin() + T * 128),
              refZa, near(refZa, 0, 0), "bf16 store");
  size_t untouched = 0;
  for (size_t i = T * 128; i < zaGot.size(); ++i)
    untouched += std::isnan(zaGot[i]);
  EXPECT_EQ(untouched, zaGot.size() - T * 128)
      << "rows at or past `rows` must not be stored";
}

// Aligned bf16 global rows into an f32 tile (16-byte loads that convert) and
// back out through an f16 tile into f16 memory (converting 16-byte stores).
TEST_F(EmittedTileOps, VectorPathsConvertElementTypes) {
  const std::string f = tileType(32, 64, "f32"), h = tileType(32, 64, "f16");
  std::string body = "    %a = kdk.alloc_tile : " + f + "\n" +
                     "    %h = kdk.alloc_tile : " + h + "\n" +
                     loadAll("x", "bf16", "a", f, 32, 64) +
                     "    kdk.barrier\n"
                     "    kdk.convert %a into %h : " + f + ", " + h + "\n" +
                     "    kdk.barrier\n" + storeAll("h", h, "y", "f16", 32, 64);
  std::string ir = kernelModule(
      buffer("x", "bf16") + ", " + buffer("y", "f16"), body, 64);
  HostArray x = makeArray(Elem::BF16, uniform(32 * 64, 0.5f, 8, 3));
  rt::DeviceBuffer dx = upload(x), dy = poisoned(32 * 64, Elem::F16);
  launch(ir, "kernel", {arg(dx), arg(dy)});
  std::vector<double> ref(32 * 64);
  for (size_t i = 0; i < ref.size(); ++i)
    ref[i] = f16BitsToFloat(floatToF16Bits(x.values[i]));
  expectClose(download(dy, 32 * 64, Elem::F16), ref, near(ref, 0, 0),
              "bf16 -> f32 -> f16");
}

//===----------------------------------------------------------------------===//
// Products.
//===----------------------------------------------------------------------===//

namespace {

struct MmaCase {
  const char *name;
  Elem elem;
  int m, n, k;
  bool transpose, accumulate;
  double alpha;
  int threads;
  bool misaligned; ///< operands at an offset that rules out ldmatrix
};

class EmittedMma : public EmittedKernelTest,
                   public ::testing::WithParamInterface<MmaCase> {};

} // namespace

TEST_P(EmittedMma, MatchesCpu) {
  const MmaCase &p = GetParam();
  const std::string e = mlirName(p.elem);
  // A is stored rows x cols (K x M when transposed) inside a tile padded by
  // 8 columns and viewed at column `pad`.
  const int aRows = p.transpose ? p.k : p.m, aCols = p.transpose ? p.m : p.k;
  const int pad = p.misaligned ? (p.elem == Elem::F32 ? 1 : 4)
                               : (p.elem == Elem::F32 ? 4 : 8);
  const int padded = aCols + 8;
  std::string aView = fill("memref<@R@x@C@x@E@, strided<[@P@, 1], offset: @O@>, 3>",
                           {{"R", std::to_string(aRows)},
                            {"C", std::to_string(aCols)},
                            {"E", e},
                            {"P", std::to_string(padded)},
                            {"O", std::to_string(pad)}});
  std::string flags = std::string(p.transpose ? "transpose_lhs " : "") +
                      (p.accumulate ? "accumulate " : "") +
                      "alpha = " + std::to_string(p.alpha);
  std::string bType = tileType(p.k, p.n, e), cType = tileType(p.m, p.n, "f32");
  std::string body =
      "    %a0 = kdk.alloc_tile : " + tileType(aRows, padded, e) + "\n" +
      fill("    %a = memref.subview %a0[0, @O@] [@R@, @C@] [1, 1] : @T0@ to @V@\n",
           {{"O", std::to_string(pad)},
            {"R", std::to_string(aRows)},
            {"C", std::to_string(aCols)},
            {"T0", tileType(aRows, padded, e)},
            {"V", aView}}) +
      "    %b = kdk.alloc_tile : " + bType + "\n" +
      "    %c = kdk.alloc_tile : " + cType + "\n" +
      loadAll("x", e, "a", aView, aRows, aCols) +
      loadAll("y", e, "b", bType, p.k, p.n) +
      loadAll("z", "f32", "c", cType, p.m, p.n) + "    kdk.barrier\n" +
      "    kdk.mma %a, %b into %c " + flags + " : " + aView + ", " + bType +
      ", " + cType + "\n    kdk.barrier\n" +
      storeAll("c", cType, "z", "f32", p.m, p.n);
  std::string ir = kernelModule(buffer("x", e) + ", " + buffer("y", e) + ", " +
                                    buffer("z", "f32"),
                                body, p.threads);

  HostArray a = makeArray(p.elem, uniform(aRows * aCols, -1, 1, 11));
  HostArray b = makeArray(p.elem, uniform(p.k * p.n, -1, 1, 12));
  HostArray c = makeArray(Elem::F32, uniform(p.m * p.n, -1, 1, 13));
  // Keep f16 inputs in its normal range.
  for (HostArray *array : {&a, &b})
    for (float &value : array->values)
      if (std::fabs(value) < 1e-3f)
        value = 0.5f;
  rt::DeviceBuffer da = upload(a), db = upload(b), dc = upload(c);
  launch(ir, "kernel", {arg(da), arg(db), arg(dc)});

  std::vector<double> ref(p.m * p.n), magnitude(p.m * p.n);
  for (int i = 0; i < p.m; ++i)
    for (int j = 0; j < p.n; ++j) {
      double sum = 0, size = 0;
      for (int kk = 0; kk < p.k; ++kk) {
        double av = p.transpose ? a.values[kk * aCols + i] : a.values[i * aCols + kk];
        double product = av * b.values[kk * p.n + j];
        sum += product;
        size += std::fabs(product);
      }
      double base = p.accumulate ? c.values[i * p.n + j] : 0.0;
      ref[i * p.n + j] = p.alpha * sum + base;
      magnitude[i * p.n + j] = std::fabs(p.alpha) * size + std::fabs(base);
    }
  expectClose(download(dc, p.m * p.n), ref,
              [&](size_t i) { return 1e-6 + 2e-6 * magnitude[i]; }, p.name);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, EmittedMma,
    ::testing::Values(
        MmaCase{"bf16_64x64x64", Elem::BF16, 64, 64, 64, false, false, 1.0,
                128, false},
        MmaCase{"bf16_transpose_accumulate", Elem::BF16, 64, 128, 64, true,
                true, 0.5, 128, false},
        MmaCase{"f16_accumulate_256_threads", Elem::F16, 64, 64, 32, false,
                true, 1.0, 256, false},
        MmaCase{"bf16_more_warps_than_tiles", Elem::BF16, 16, 8, 16, false,
                false, 2.0, 256, false},
        MmaCase{"bf16_misaligned_gather", Elem::BF16, 32, 48, 32, false, true,
                1.0, 64, true},
        MmaCase{"bf16_misaligned_transpose", Elem::BF16, 32, 24, 48, true,
                false, -1.0, 96, true},
        MmaCase{"bf16_odd_shape_fma", Elem::BF16, 24, 40, 24, false, false,
                1.0, 64, false},
        MmaCase{"f32_64x64x64", Elem::F32, 64, 64, 64, false, false, 1.0, 128,
                false},
        MmaCase{"f32_transpose", Elem::F32, 64, 128, 64, true, true, 0.25,
                128, false},
        MmaCase{"f32_odd_shape", Elem::F32, 48, 40, 24, true, true, -1.5, 64,
                true}),
    [](const ::testing::TestParamInfo<MmaCase> &info) {
      return std::string(info.param.name);
    });

//===----------------------------------------------------------------------===//
// Decayed gram with strong decays.
//===----------------------------------------------------------------------===//

namespace {

struct GramCase {
  const char *name;
  Elem elem;
  bool inclusive;
  int anchor;
  bool rowScale;
  double scale;
};

class EmittedGram : public EmittedKernelTest,
                    public ::testing::WithParamInterface<GramCase> {};

} // namespace

// 64 rows, gates of -20 per step on half the channels: the cumsum reaches
// -1280, so any formulation through exp(gc_i) * exp(-gc_j) overflows. Every
// output must be finite and match the direct formula in double.
TEST_P(EmittedGram, FiniteAndMatchesCpuUnderStrongDecay) {
  const GramCase &p = GetParam();
  const int C = 64, D = 64;
  const std::string e = mlirName(p.elem);
  std::string x = tileType(C, D, e), g = tileType(C, D, "f32"),
              o = tileType(C, C, "f32");
  std::string rowScale =
      p.rowScale ? " row_scale(%r : memref<64xf32, 3>)" : "";
  std::string body =
      "    %a = kdk.alloc_tile : " + x + "\n" + "    %b = kdk.alloc_tile : " +
      x + "\n" + "    %g = kdk.alloc_tile : " + g + "\n" +
      "    %r = kdk.alloc_tile : memref<64xf32, 3>\n" +
      "    %o = kdk.alloc_tile : " + o + "\n" + loadAll("xa", e, "a", x, C, D) +
      loadAll("xb", e, "b", x, C, D) + loadAll("xg", "f32", "g", g, C, D) +
      "    kdk.load_tile %xr[%c0] rows(%c64) row_stride(%c1) col_stride = 1 "
      "into %r : memref<?xf32>, memref<64xf32, 3>\n" +
      "    kdk.barrier\n" + "    kdk.decayed_gram %a, %b, %g" + rowScale +
      " into %o mask = " + (p.inclusive ? "inclusive" : "strict") +
      " scale = " + std::to_string(p.scale) + " anchor_block = " +
      std::to_string(p.anchor) + " : " + x + ", " + x + ", " + g + ", " + o +
      "\n    kdk.barrier\n" + storeAll("o", o, "y", "f32", C, C);
  std::string ir = kernelModule(buffer("xa", e) + ", " + buffer("xb", e) +
                                    ", " + buffer("xg", "f32") + ", " +
                                    buffer("xr", "f32") + ", " +
                                    buffer("y", "f32"),
                                body);

  HostArray a = makeArray(p.elem, uniform(C * D, -1, 1, 21));
  HostArray b = makeArray(p.elem, uniform(C * D, -1, 1, 22));
  std::vector<float> steps = uniform(C * D, -1, 0, 23);
  std::vector<float> gc(C * D);
  for (int d = 0; d < D; ++d) {
    float sum = 0;
    for (int t = 0; t < C; ++t) {
      sum += d % 2 == 0 ? -20.0f : steps[t * D + d];
      gc[t * D + d] = sum;
    }
  }
  HostArray gcArray = makeArray(Elem::F32, gc);
  HostArray r = makeArray(Elem::F32, uniform(C, 0.1f, 1, 24));
  rt::DeviceBuffer da = upload(a), db = upload(b), dg = upload(gcArray),
                   dr = upload(r), dy = poisoned(C * C);
  launch(ir, "kernel", {arg(da), arg(db), arg(dg), arg(dr), arg(dy)});

  std::vector<float> got = download(dy, C * C);
  std::vector<double> ref(C * C, 0.0), magnitude(C * C, 0.0);
  for (int i = 0; i < C; ++i)
    for (int j = 0; j <= i; ++j) {
      if (j == i && !p.inclusive)
        continue;
      double sum = 0, size = 0;
      for (int d = 0; d < D; ++d) {
        double term = double(a.values[i * D + d]) * b.values[j * D + d] *
                      std::exp(double(gc[i * D + d]) - gc[j * D + d]);
        sum += term;
        size += std::fabs(term);
      }
      double factor = p.scale * (p.rowScale ? r.values[i] : 1.0);
      ref[i * C + j] = factor * sum;
      magnitude[i * C + j] = std::fabs(factor) * size;
    }
  size_t nonFinite = 0;
  for (float value : got)
    nonFinite += !std::isfinite(value);
  EXPECT_EQ(nonFinite, 0u) << "inf/NaN in the gram";
  expectClose(got, ref,
              [&](size_t i) { return 1e-30 + 2e-5 * magnitude[i]; }, p.name);
}

INSTANTIATE_TEST_SUITE_P(
    Masks, EmittedGram,
    ::testing::Values(
        GramCase{"strict_direct", Elem::BF16, false, 0, true, 1.0},
        GramCase{"strict_anchored", Elem::BF16, false, 16, true, 1.0},
        GramCase{"inclusive_direct", Elem::BF16, true, 0, false, 0.125},
        GramCase{"inclusive_anchored", Elem::BF16, true, 16, false, 0.125},
        GramCase{"inclusive_anchored_f32_block8", Elem::F32, true, 8, true,
                 0.5}),
    [](const ::testing::TestParamInfo<GramCase> &info) {
      return std::string(info.param.name);
    });

//===----------------------------------------------------------------------===//
// UT inverse.
//===----------------------------------------------------------------------===//

namespace {
struct InverseCase {
  const char *name;
  int n, threads;
  bool inPlace;
};
class EmittedInverse : public EmittedKernelTest,
                       public ::testing::WithParamInterface<InverseCase> {};
} // namespace

TEST_P(EmittedInverse, InvertsUnitLowerTriangular) {
  const InverseCase &p = GetParam();
  const int n = p.n;
  std::string t = tileType(n, n, "f32");
  std::string body = "    %a = kdk.alloc_tile : " + t + "\n" +
                     "    %m = kdk.alloc_tile : " + t + "\n" +
                     loadAll("x", "f32", "a", t, n, n) + "    kdk.barrier\n" +
                     (p.inPlace ? "    kdk.tri_inverse %a into %a : "
                                : "    kdk.tri_inverse %a into %m : ") +
                     t + ", " + t + "\n    kdk.barrier\n" +
                     storeAll(p.inPlace ? "a" : "m", t, "y", "f32", n, n);
  std::string ir =
      kernelModule(buffer("x", "f32") + ", " + buffer("y", "f32"), body,
                   p.threads);
  // Strictly lower A like beta * k k^T: the upper part holds garbage the
  // inverse must ignore.
  HostArray a = makeArray(Elem::F32, uniform(n * n, -0.2f, 0.2f, 31));
  for (int i = 0; i < n; ++i)
    a.values[i * n + i] = 7.0f;
  rt::DeviceBuffer dx = upload(a), dy = poisoned(n * n);
  launch(ir, "kernel", {arg(dx), arg(dy)});

  std::vector<double> m(n * n, 0.0);
  double largest = 0;
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < n; ++c) {
      double value = c == i ? 1.0 : 0.0;
      for (int j = 0; j < i; ++j)
        value -= double(a.values[i * n + j]) * m[j * n + c];
      m[i * n + c] = value;
      largest = std::max(largest, std::fabs(value));
    }
  expectClose(download(dy, n * n), m,
              [&](size_t) { return 1e-5 * std::max(1.0, largest); }, p.name);
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, EmittedInverse,
    ::testing::Values(InverseCase{"n64_t128", 64, 128, false},
                      InverseCase{"n64_t32_in_place", 64, 32, true},
                      InverseCase{"n16_t256", 16, 256, false}),
    [](const ::testing::TestParamInfo<InverseCase> &info) {
      return std::string(info.param.name);
    });
