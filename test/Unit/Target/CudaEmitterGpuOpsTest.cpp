//===- CudaEmitterGpuOpsTest.cpp - Prologue, element-wise, geometry ops ---===//
//
// Labelled `gpu` with CudaEmitterGpuTest.cpp (one binary). Scalar results
// (locate_chunk, sequence_range, arith) leave a kernel through tiles: each
// value v selects ramp[v] = v + 1 with a one-row load_tile, so the host reads
// v back and a zero-filled or unwritten slot cannot pass for a value.
//
//===----------------------------------------------------------------------===//
#include "GpuTestSupport.h"

#include <algorithm>

using namespace kdac;
using namespace kdac::test;

namespace {

class EmittedPrologueOps : public EmittedKernelTest {};
class EmittedGeometry : public EmittedKernelTest {};

/// Loads ramp[value] into element `index` of the 1-D f32 tile %info.
std::string scalarOut(int index, const std::string &value, int length) {
  std::string view = "memref<1xf32, strided<[1], offset: " +
                     std::to_string(index) + ">, 3>";
  return fill("    %sv@I@ = memref.subview %info[@I@] [1] [1] : memref<@L@xf32, "
              "3> to @V@\n"
              "    kdk.load_tile %ramp[@X@] rows(%c1) row_stride(%c1) "
              "col_stride = 1 into %sv@I@ : memref<?xf32>, @V@\n",
              {{"I", std::to_string(index)},
               {"L", std::to_string(length)},
               {"V", view},
               {"X", value}});
}

HostArray ramp(int count) {
  std::vector<float> values(count);
  for (int i = 0; i < count; ++i)
    values[i] = float(i + 1);
  return makeArray(Elem::F32, values);
}

/// Values read back through the ramp (NaN where nothing was written).
std::vector<double> decodeRamp(const std::vector<float> &got) {
  std::vector<double> values;
  for (float value : got)
    values.push_back(double(value) - 1.0);
  return values;
}

} // namespace

//===----------------------------------------------------------------------===//
// Prologue math.
//===----------------------------------------------------------------------===//

TEST_F(EmittedPrologueOps, CumsumRows) {
  for (int threads : {128, 64}) {
    std::string t = tileType(64, 128, "f32");
    std::string ir = kernelModule(
        buffer("x", "f32"),
        "    %a = kdk.alloc_tile : " + t + "\n" + loadAll("x", "f32", "a", t, 64, 128) +
            "    kdk.barrier\n    kdk.cumsum_rows %a : " + t +
            "\n    kdk.barrier\n" + storeAll("a", t, "x", "f32", 64, 128),
        threads);
    HostArray x = makeArray(Elem::F32, uniform(64 * 128, -1, 0.2f, 41));
    rt::DeviceBuffer dx = upload(x);
    launch(ir, "kernel", {arg(dx)});
    std::vector<double> ref(64 * 128);
    for (int c = 0; c < 128; ++c) {
      float sum = 0;
      for (int r = 0; r < 64; ++r)
        ref[r * 128 + c] = sum += x.values[r * 128 + c];
    }
    expectClose(download(dx, 64 * 128), ref, near(ref, 1e-6, 1e-6),
                "cumsum, " + std::to_string(threads) + " threads");
  }
}

TEST_F(EmittedPrologueOps, L2NormRows) {
  for (auto [rows, cols] : {std::pair<int, int>{64, 128}, {16, 40}}) {
    std::string t = tileType(rows, cols, "f32");
    std::string ir = kernelModule(
        buffer("x", "f32"),
        "    %a = kdk.alloc_tile : " + t + "\n" +
            loadAll("x", "f32", "a", t, rows, cols) +
            "    kdk.barrier\n    kdk.l2norm_rows %a : " + t +
            "\n    kdk.barrier\n" + storeAll("a", t, "x", "f32", rows, cols));
    HostArray x = makeArray(Elem::F32, uniform(rows * cols, -3, 3, 42));
    for (int c = 0; c < cols; ++c)
      x.values[c] = 0.0f; // an all-zero row: only eps keeps it finite
    rt::DeviceBuffer dx = upload(x);
    launch(ir, "kernel", {arg(dx)});
    std::vector<double> ref(rows * cols);
    for (int r = 0; r < rows; ++r) {
      double sum = 0;
      for (int c = 0; c < cols; ++c)
        sum += double(x.values[r * cols + c]) * x.values[r * cols + c];
      for (int c = 0; c < cols; ++c)
        ref[r * cols + c] = x.values[r * cols + c] / std::sqrt(sum + 1e-6);
    }
    expectClose(download(dx, rows * cols), ref, near(ref, 2e-6, 1e-7),
                "l2norm " + std::to_string(rows) + "x" + std::to_string(cols));
  }
}

TEST_F(EmittedPrologueOps, SigmoidOnMatricesAndVectors) {
  std::string t = tileType(64, 32, "f32"), v = "memref<64xf32, 3>";
  std::string ir = kernelModule(
      buffer("x", "f32") + ", " + buffer("y", "f32"),
      "    %a = kdk.alloc_tile : " + t + "\n    %b = kdk.alloc_tile : " + v +
          "\n" + loadAll("x", "f32", "a", t, 64, 32) +
          "    kdk.load_tile %y[%c0] rows(%c64) row_stride(%c1) col_stride = 1 "
          "into %b : memref<?xf32>, " + v + "\n    kdk.barrier\n" +
          "    kdk.sigmoid %a rows(%c64) : " + t +
          "\n    kdk.sigmoid %b rows(%c64) : " + v +
          "\n    kdk.barrier\n" + storeAll("a", t, "x", "f32", 64, 32) +
          "    kdk.store_tile %b into %y[%c0] rows(%c64) row_stride(%c1) "
          "col_stride = 1 : " + v + ", memref<?xf32>\n");
  HostArray x = makeArray(Elem::F32, uniform(64 * 32, -30, 30, 43));
  x.values[0] = -200.0f;
  x.values[1] = 200.0f;
  x.values[2] = 0.0f;
  HostArray y = makeArray(Elem::F32, uniform(64, -8, 8, 44));
  rt::DeviceBuffer dx = upload(x), dy = upload(y);
  launch(ir, "kernel", {arg(dx), arg(dy)});
  auto sigmoid = [](double z) { return 1.0 / (1.0 + std::exp(-z)); };
  std::vector<double> refX, refY;
  for (float value : x.values)
    refX.push_back(sigmoid(value));
  for (float value : y.values)
    refY.push_back(sigmoid(value));
  expectClose(download(dx, 64 * 32), refX, near(refX, 1e-6, 1e-30), "2-D");
  expectClose(download(dy, 64), refY, near(refY, 1e-6, 1e-30), "1-D");
}

TEST_F(EmittedPrologueOps, GateActivations) {
  const int H = 4, K = 32;
  std::string t = tileType(64, K, "f32");
  std::string body = "    %c2 = arith.constant 2 : index\n";
  for (int i = 0; i < 4; ++i)
    body += "    %t" + std::to_string(i) + " = kdk.alloc_tile : " + t + "\n" +
            loadAll("x", "f32", "t" + std::to_string(i), t, 64, K);
  body += "    kdk.barrier\n"
          "    kdk.gate_activation softplus %t0 head(%c2) rows(%c64) A_log(%alog : "
          "memref<?xf32>) dt_bias(%dtb : memref<?xf32>) : " + t + "\n" +
          "    kdk.gate_activation lowerbound %t1 head(%c1) rows(%c64) A_log(%alog : "
          "memref<?xf32>) dt_bias(%dth : memref<?xbf16>) lower_bound = -5.0 "
          "per_head : " + t + "\n" +
          "    kdk.gate_activation lowerbound %t2 head(%c0) rows(%c64) lower_bound = "
          "-2.5 : " + t + "\n" +
          "    kdk.gate_activation softplus %t3 head(%c0) rows(%c64) : " + t + "\n" +
          "    kdk.barrier\n";
  for (int i = 0; i < 4; ++i)
    body += storeAll("t" + std::to_string(i), t, "y" + std::to_string(i),
                     "f32", 64, K);
  std::string ir = kernelModule(
      buffer("x", "f32") + ", " + buffer("alog", "f32") + ", " +
          buffer("dtb", "f32") + ", " + buffer("dth", "bf16") + ", " +
          buffer("y0", "f32") + ", " + buffer("y1", "f32") + ", " +
          buffer("y2", "f32") + ", " + buffer("y3", "f32"),
      body);
  // Raw gates across softplus' linear threshold at 20.
  HostArray x = makeArray(Elem::F32, uniform(64 * K, -30, 30, 45));
  HostArray aLog = makeArray(Elem::F32, uniform(H, -1, 1, 46));
  HostArray dtBias = makeArray(Elem::F32, uniform(H * K, -2, 2, 47));
  HostArray dtHead = makeArray(Elem::BF16, uniform(H, -2, 2, 48));
  rt::DeviceBuffer dx = upload(x), da = upload(aLog), db = upload(dtBias),
                   dh = upload(dtHead);
  std::vector<rt::DeviceBuffer> outs;
  for (int i = 0; i < 4; ++i)
    outs.push_back(poisoned(64 * K));
  launch(ir, "kernel",
         {arg(dx), arg(da), arg(db), arg(dh), arg(outs[0]), arg(outs[1]),
          arg(outs[2]), arg(outs[3])});

  auto softplus = [](double y) { return y > 20 ? y : std::log1p(std::exp(y)); };
  auto sigmoid = [](double z) { return 1.0 / (1.0 + std::exp(-z)); };
  std::vector<double> ref[4];
  for (int r = 0; r < 64; ++r)
    for (int c = 0; c < K; ++c) {
      double value = x.values[r * K + c];
      ref[0].push_back(-std::exp(double(aLog.values[2])) *
                       softplus(value + dtBias.values[2 * K + c]));
      ref[1].push_back(-5.0 * sigmoid(std::exp(double(aLog.values[1])) *
                                      (value + dtHead.values[1])));
      ref[2].push_back(-2.5 * sigmoid(value));
      ref[3].push_back(-softplus(value));
    }
  const char *names[] = {"softplus per channel", "lowerbound per head",
                         "lowerbound without A_log", "plain softplus"};
  for (int i = 0; i < 4; ++i)
    expectClose(download(outs[i], 64 * K), ref[i], near(ref[i], 4e-6, 1e-7),
                names[i]);
}

//===----------------------------------------------------------------------===//
// Element-wise chunk math.
//===----------------------------------------------------------------------===//

TEST_F(EmittedPrologueOps, ElementwiseOps) {
  const int R = 64, D = 32;
  std::string t = tileType(R, D, "f32"), sq = tileType(32, 32, "f32"),
              vr = "memref<64xf32, 3>", vd = "memref<32xf32, 3>",
              tb = tileType(R, D, "bf16"), th = tileType(R, D, "f16"),
              small = tileType(16, 8, "f32");
  std::string column =
      "memref<16xf32, strided<[8], offset: 3>, 3>";
  std::string body =
      "    %x = kdk.alloc_tile : " + t + "\n    %y = kdk.alloc_tile : " + t +
      "\n    %g = kdk.alloc_tile : " + t + "\n    %r = kdk.alloc_tile : " + vr +
      "\n    %q = kdk.alloc_tile : " + sq + "\n    %o1 = kdk.alloc_tile : " + t +
      "\n    %o2 = kdk.alloc_tile : " + sq + "\n    %o3 = kdk.alloc_tile : " +
      sq + "\n    %o4 = kdk.alloc_tile : " + tb + "\n    %o5 = kdk.alloc_tile : " +
      t + "\n    %o6 = kdk.alloc_tile : " + vd + "\n    %o7 = kdk.alloc_tile : " +
      t + "\n    %o8 = kdk.alloc_tile : " + small +
      "\n    %h = kdk.alloc_tile : " + th + "\n    %o9 = kdk.alloc_tile : " + t +
      "\n" + loadAll("ix", "f32", "x", t, R, D) +
      loadAll("iy", "f32", "y", t, R, D) + loadAll("ig", "f32", "g", t, R, D) +
      loadAll("ix", "f32", "q", sq, 32, 32) +
      loadAll("ix", "f32", "o7", t, R, D) +
      "    kdk.load_tile %ir[%c0] rows(%c64) row_stride(%c1) col_stride = 1 "
      "into %r : memref<?xf32>, " + vr + "\n" +
      "    kdk.fill %o8, 2.5 : " + small + "\n" +
      "    kdk.barrier\n" +
      "    kdk.sub %x, %y into %o1 : " + t + ", " + t + ", " + t + "\n" +
      "    kdk.add_identity %q into %o2 : " + sq + ", " + sq + "\n" +
      "    kdk.add_identity %q into %o3 negate : " + sq + ", " + sq + "\n" +
      "    kdk.decay_rows %x, %g row_scale(%r : " + vr +
      ") into %o4 scale = 0.5 : " + t + ", " + t + ", " + tb + "\n" +
      "    kdk.decay_rows %x, %g into %o5 to_last : " + t + ", " + t + ", " +
      t + "\n" + "    kdk.last_row_exp %g into %o6 : " + t + ", " + vd + "\n" +
      "    kdk.scale_rows %o7, %r : " + t + ", " + vr + "\n" +
      "    %col = memref.subview %o8[0, 3] [16, 1] [1, 1] : " + small +
      " to " + column + "\n" + "    kdk.convert %x into %h : " + t + ", " +
      th + "\n" + "    kdk.barrier\n" + "    kdk.fill %col, -1.0 : " + column +
      "\n" + "    kdk.convert %h into %o9 : " + th + ", " + t + "\n" +
      "    kdk.barrier\n" + storeAll("o1", t, "y1", "f32", R, D) +
      storeAll("o2", sq, "y2", "f32", 32, 32) +
      storeAll("o3", sq, "y3", "f32", 32, 32) +
      storeAll("o4", tb, "y4", "f32", R, D) +
      storeAll("o5", t, "y5", "f32", R, D) +
      "    kdk.store_tile %o6 into %y6[%c0] rows(%c32) row_stride(%c1) "
      "col_stride = 1 : " + vd + ", memref<?xf32>\n" +
      storeAll("o7", t, "y7", "f32", R, D) +
      storeAll("o8", small, "y8", "f32", 16, 8) +
      storeAll("o9", t, "y9", "f32", R, D);
  std::string args = buffer("ix", "f32") + ", " + buffer("iy", "f32") + ", " +
                     buffer("ig", "f32") + ", " + buffer("ir", "f32");
  for (int i = 1; i <= 9; ++i)
    args += ", " + buffer("y" + std::to_string(i), "f32");
  std::string ir = kernelModule(args, body);

  HostArray x = makeArray(Elem::F32, uniform(R * D, 0.1f, 4, 51));
  HostArray y = makeArray(Elem::F32, uniform(R * D, -4, 4, 52));
  std::vector<float> steps = uniform(R * D, -1, 0, 53), gc(R * D);
  for (int c = 0; c < D; ++c) {
    float sum = 0;
    for (int r = 0; r < R; ++r)
      gc[r * D + c] = sum += steps[r * D + c];
  }
  HostArray g = makeArray(Elem::F32, gc);
  HostArray rs = makeArray(Elem::F32, uniform(R, 0.1f, 1, 54));
  rt::DeviceBuffer dx = upload(x), dy = upload(y), dg = upload(g),
                   dr = upload(rs);
  const size_t counts[] = {0, size_t(R * D), 32 * 32, 32 * 32, size_t(R * D),
                           size_t(R * D), 32, size_t(R * D), 16 * 8,
                           size_t(R * D)};
  std::vector<rt::DeviceBuffer> outs;
  std::vector<KernelArg> launchArgs = {arg(dx), arg(dy), arg(dg), arg(dr)};
  for (int i = 1; i <= 9; ++i)
    outs.push_back(poisoned(counts[i]));
  for (const rt::DeviceBuffer &out : outs)
    launchArgs.push_back(arg(out));
  launch(ir, "kernel", launchArgs);

  std::vector<double> ref[10];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < D; ++c) {
      int i = r * D + c;
      double xv = x.values[i];
      ref[1].push_back(xv - y.values[i]);
      ref[4].push_back(bf16BitsToFloat(floatToBf16Bits(
          float(0.5 * rs.values[r] * xv * std::exp(double(gc[i]))))));
      ref[5].push_back(xv * std::exp(double(gc[(R - 1) * D + c]) - gc[i]));
      ref[7].push_back(xv * rs.values[r]);
      ref[9].push_back(f16BitsToFloat(floatToF16Bits(x.values[i])));
    }
  for (int r = 0; r < 32; ++r)
    for (int c = 0; c < 32; ++c) {
      double identity = r == c ? 1.0 : 0.0, a = x.values[r * D + c];
      ref[2].push_back(identity + a);
      ref[3].push_back(identity - a);
    }
  for (int c = 0; c < D; ++c)
    ref[6].push_back(std::exp(double(gc[(R - 1) * D + c])));
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 8; ++c)
      ref[8].push_back(c == 3 ? -1.0 : 2.5);
  const char *names[] = {"",          "sub",       "add_identity",
                         "negate",    "decay_rows (bf16 out)",
                         "decay_rows to_last", "last_row_exp",
                         "scale_rows", "fill + column fill", "convert"};
  for (int i = 1; i <= 9; ++i) {
    // decay_rows rounds to bf16 on the device: allow one bf16 ulp there.
    double relative = i == 4 ? 8e-3 : 2e-6;
    expectClose(download(outs[i - 1], counts[i]), ref[i],
                near(ref[i], relative, 1e-30), names[i]);
  }
}

//===----------------------------------------------------------------------===//
// Work decomposition and scalar code.
//===----------------------------------------------------------------------===//

namespace {

/// locate_chunk per slot: (sequence, batch, start, rows) and the chunk's
/// token ids, for valid slots only.
std::string locateModule(const std::string &cuType, bool varlen) {
  std::string cu = varlen ? " cu_seqlens(%cu : memref<?x" + cuType + ">)" : "";
  std::string body =
      "    %slot = kdk.block_id 0\n"
      "    %valid, %seq, %batch, %start, %rows = kdk.locate_chunk %slot "
      "T(%T)" + cu + " chunk_size = 16\n"
      "    %info = kdk.alloc_tile : memref<4xf32, 3>\n"
      "    %t = kdk.alloc_tile : memref<16xf32, 3>\n"
      "    scf.if %valid {\n" +
      scalarOut(0, "%seq", 4) + scalarOut(1, "%batch", 4) +
      scalarOut(2, "%start", 4) + scalarOut(3, "%rows", 4) +
      "    kdk.load_tile %ramp[%start] rows(%rows) row_stride(%c1) col_stride "
      "= 1 into %t : memref<?xf32>, memref<16xf32, 3>\n"
      "    kdk.barrier\n"
      "    %o4 = arith.muli %slot, %c4 : index\n"
      "    kdk.store_tile %info into %out[%o4] rows(%c4) row_stride(%c1) "
      "col_stride = 1 : memref<4xf32, 3>, memref<?xf32>\n"
      "    %o16 = arith.muli %slot, %c16 : index\n"
      "    kdk.store_tile %t into %tok[%o16] rows(%c16) row_stride(%c1) "
      "col_stride = 1 : memref<16xf32, 3>, memref<?xf32>\n"
      "    }\n";
  return kernelModule(buffer("ramp", "f32") + ", %cu: memref<?x" + cuType +
                          "> {kdk.arg = #kdk.tensor<\"cu_seqlens\">}, " +
                          buffer("out", "f32") + ", " + buffer("tok", "f32") +
                          ", %T: index {kdk.arg = #kdk.size<\"T\">}",
                      body, 64, 16, "#kdk.grid<chunk_slots, 1, 1>");
}

/// The expected (sequence, batch, start, rows) of each slot, or none.
using Location = std::optional<std::vector<int64_t>>;

} // namespace

TEST_F(EmittedGeometry, LocateChunk) {
  struct Variant {
    const char *name;
    std::string cuType;
    bool varlen;
    int64_t T;
    std::vector<int64_t> cu;
    std::vector<Location> expected;
  };
  std::vector<Location> dense;
  for (int64_t slot = 0; slot < 9; ++slot) {
    int64_t start = (slot % 3) * 16;
    dense.push_back(std::vector<int64_t>{slot / 3, slot / 3, start,
                                         std::min<int64_t>(16, 40 - start)});
  }
  // Segments of 5, 0, 32 and 13 tokens; the grid over-covers by N = 4.
  std::vector<Location> packed = {
      std::vector<int64_t>{0, 0, 0, 5}, std::vector<int64_t>{2, 0, 5, 16},
      std::vector<int64_t>{2, 0, 21, 16}, std::vector<int64_t>{3, 0, 37, 13},
      std::nullopt, std::nullopt, std::nullopt, std::nullopt};
  std::vector<Variant> variants = {
      {"batched", "i64", false, 40, {0}, dense},
      {"varlen i64", "i64", true, 50, {0, 5, 5, 37, 50}, packed},
      {"varlen i32", "i32", true, 50, {0, 5, 5, 37, 50}, packed}};
  for (const Variant &variant : variants) {
    SCOPED_TRACE(variant.name);
    const int slots = int(variant.expected.size());
    rt::DeviceBuffer dramp = upload(ramp(128));
    rt::DeviceBuffer dcu =
        variant.cuType == "i64"
            ? uploadRaw(variant.cu)
            : uploadRaw(std::vector<int32_t>(variant.cu.begin(), variant.cu.end()));
    rt::DeviceBuffer dout = poisoned(slots * 4), dtok = poisoned(slots * 16);
    launch(locateModule(variant.cuType, variant.varlen), "kernel",
           {arg(dramp), arg(dcu), arg(dout), arg(dtok),
            KernelArg::size(variant.T)},
           {unsigned(slots), 1, 1});
    std::vector<double> info = decodeRamp(download(dout, slots * 4));
    std::vector<float> tokens = download(dtok, slots * 16);
    for (int slot = 0; slot < slots; ++slot) {
      const Location &location = variant.expected[slot];
      if (!location) {
        for (int i = 0; i < 4; ++i)
          EXPECT_TRUE(std::isnan(info[slot * 4 + i]))
              << "invalid slot " << slot << " was written";
        continue;
      }
      for (int i = 0; i < 4; ++i)
        EXPECT_EQ(info[slot * 4 + i], double((*location)[i]))
            << "slot " << slot << " result " << i;
      for (int r = 0; r < 16; ++r) {
        double expected = r < (*location)[3] ? double((*location)[2] + r + 1) : 0.0;
        EXPECT_EQ(tokens[slot * 16 + r], expected)
            << "slot " << slot << " row " << r;
      }
    }
  }
}

TEST_F(EmittedGeometry, SequenceRange) {
  for (bool varlen : {true, false}) {
    SCOPED_TRACE(varlen ? "varlen" : "batched");
    std::string cu = varlen ? " cu_seqlens(%cu : memref<?xi64>)" : "";
    std::string body =
        "    %seq = kdk.block_id 0\n"
        "    %b, %s, %l, %n, %f = kdk.sequence_range %seq T(%T)" + cu +
        " chunk_size = 16\n"
        "    %info = kdk.alloc_tile : memref<5xf32, 3>\n" +
        scalarOut(0, "%b", 5) + scalarOut(1, "%s", 5) + scalarOut(2, "%l", 5) +
        scalarOut(3, "%n", 5) + scalarOut(4, "%f", 5) +
        "    kdk.barrier\n"
        "    %c5 = arith.constant 5 : index\n"
        "    %o = arith.muli %seq, %c5 : index\n"
        "    kdk.store_tile %info into %out[%o] rows(%c5) row_stride(%c1) "
        "col_stride = 1 : memref<5xf32, 3>, memref<?xf32>\n";
    std::string ir = kernelModule(
        buffer("ramp", "f32") +
            ", %cu: memref<?xi64> {kdk.arg = #kdk.tensor<\"cu_seqlens\">}, " +
            buffer("out", "f32") + ", %T: index {kdk.arg = #kdk.size<\"T\">}",
        body, 32, 16, "#kdk.grid<sequences, 1, 1>");
    std::vector<std::vector<int64_t>> expected =
        varlen ? std::vector<std::vector<int64_t>>{{0, 0, 5, 1, 0},
                                                   {0, 5, 0, 0, 1},
                                                   {0, 5, 32, 2, 1},
                                                   {0, 37, 13, 1, 3}}
               : std::vector<std::vector<int64_t>>{{0, 0, 40, 3, 0},
                                                   {1, 0, 40, 3, 3},
                                                   {2, 0, 40, 3, 6}};
    int64_t T = varlen ? 50 : 40;
    const int sequences = int(expected.size());
    rt::DeviceBuffer dramp = upload(ramp(128));
    rt::DeviceBuffer dcu = uploadRaw(std::vector<int64_t>{0, 5, 5, 37, 50});
    rt::DeviceBuffer dout = poisoned(sequences * 5);
    launch(ir, "kernel",
           {arg(dramp), arg(dcu), arg(dout), KernelArg::size(T)},
           {unsigned(sequences), 1, 1});
    std::vector<double> got = decodeRamp(download(dout, sequences * 5));
    for (int s = 0; s < sequences; ++s)
      for (int i = 0; i < 5; ++i)
        EXPECT_EQ(got[s * 5 + i], double(expected[s][i]))
            << "sequence " << s << " result " << i;
  }
}

// Integer arith, scf.for with permuted iter_args and scf.if with a result,
// evaluated per thread on the GPU with T = 50.
TEST_F(EmittedGeometry, ScalarArithAndControlFlow) {
  std::string body = R"mlir(
    %c7 = arith.constant 7 : index
    %c10 = arith.constant 10 : index
    %c40 = arith.constant 40 : index
    %info = kdk.alloc_tile : memref<16xf32, 3>
    %a = arith.ceildivsi %T, %c16 : index
    %b = arith.ceildivui %T, %c16 : index
    %c = arith.divui %T, %c7 : index
    %d = arith.remui %T, %c7 : index
    %e = arith.minsi %T, %c16 : index
    %f = arith.maxui %T, %c16 : index
    %neg = arith.subi %c0, %T : index
    %h0 = arith.ceildivsi %neg, %c16 : index
    %h = arith.addi %h0, %c10 : index
    %j0 = arith.remsi %neg, %c7 : index
    %j = arith.addi %j0, %c10 : index
    %isneg = arith.cmpi slt, %neg, %c0 : index
    %l = arith.select %isneg, %c, %d : index
    %narrow = arith.index_cast %T : index to i32
    %m = arith.index_castui %narrow : i32 to index
    %x:2 = scf.for %i = %c0 to %T step %c16 iter_args(%p = %c0, %q = %c1) -> (index, index) {
      %next = arith.addi %q, %i : index
      scf.yield %next, %p : index, index
    }
    %big = arith.cmpi sgt, %T, %c40 : index
    %y = scf.if %big -> (index) {
      scf.yield %c7 : index
    } else {
      scf.yield %c10 : index
    }
    %ult = arith.cmpi ult, %neg, %T : index
    %z = arith.select %ult, %c1, %c4 : index
    %w = arith.maxsi %neg, %c0 : index
    %v = arith.minui %neg, %T : index
)mlir";
  const char *values[] = {"%a", "%b", "%c",   "%d",   "%e", "%f", "%h", "%j",
                          "%l", "%m", "%x#0", "%x#1", "%y", "%z", "%w", "%v"};
  for (int i = 0; i < 16; ++i)
    body += scalarOut(i, values[i], 16);
  body += "    kdk.barrier\n"
          "    kdk.store_tile %info into %out[%c0] rows(%c16) row_stride(%c1) "
          "col_stride = 1 : memref<16xf32, 3>, memref<?xf32>\n";
  std::string ir = kernelModule(buffer("ramp", "f32") + ", " +
                                    buffer("out", "f32") +
                                    ", %T: index {kdk.arg = #kdk.size<\"T\">}",
                                body, 32);
  rt::DeviceBuffer dramp = upload(ramp(128)), dout = poisoned(16);
  launch(ir, "kernel", {arg(dramp), arg(dout), KernelArg::size(50)});
  // ceil(50/16) twice, 50/7, 50%7, min, max, ceil(-50/16)+10, -50%7+10,
  // select(true), i32 round trip, the loop's (x, y) after i = 0,16,32,48,
  // the if, unsigned -50 < 50 is false, max(-50, 0), unsigned min.
  std::vector<double> expected = {4, 4, 7,  1,  16, 50, 7, 9,
                                  7, 50, 64, 33, 7,  4,  0, 50};
  std::vector<double> got = decodeRamp(download(dout, 16));
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(got[i], expected[i]) << "value " << i << " (" << values[i] << ")";
}
