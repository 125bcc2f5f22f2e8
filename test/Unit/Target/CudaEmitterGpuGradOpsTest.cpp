//===- CudaEmitterGpuGradOpsTest.cpp - The backward's tile ops on the GPU -===//
//
// Labelled `gpu` with CudaEmitterGpuTest.cpp (one binary). Every tile op the
// backward's primitives lower to (kdac_grad.cuh), emitted and launched, each
// checked against its definition in double: add, mul, row_dot, column_sum,
// add_to_last_row, tril, reverse cumsum, mma with transpose_rhs and
// decayed_gram_grad with and without a row scale.
//
//===----------------------------------------------------------------------===//
#include "GpuTestSupport.h"

#include <cmath>

using namespace kdac;
using namespace kdac::test;

namespace {

class EmittedGradOps : public EmittedKernelTest {};

constexpr int C = 16, D = 32;

std::string vector(int n) { return "memref<" + std::to_string(n) + "xf32, 3>"; }

std::string storeVector(const std::string &tile, int n, const std::string &dst) {
  return "    %n_" + tile + " = arith.constant " + std::to_string(n) +
         " : index\n    kdk.store_tile %" + tile + " into %" + dst +
         "[%c0] rows(%n_" + tile + ") row_stride(%c1) col_stride = 1 : " +
         vector(n) + ", memref<?xf32>\n";
}

std::string loadVector(const std::string &src, int n, const std::string &tile) {
  return "    %ln_" + tile + " = arith.constant " + std::to_string(n) +
         " : index\n    kdk.load_tile %" + src + "[%c0] rows(%ln_" + tile +
         ") row_stride(%c1) col_stride = 1 into %" + tile +
         " : memref<?xf32>, " + vector(n) + "\n";
}

/// The definition of kda.decayed_gram_grad (as the interpreter states it).
void decayedGramGradRef(const std::vector<float> &dA, const std::vector<float> &a,
                        const std::vector<float> &b, const std::vector<float> &gc,
                        const std::vector<float> *r, bool inclusive, double s,
                        std::vector<double> &da, std::vector<double> &db,
                        std::vector<double> &dgc, std::vector<double> &dr) {
  da.assign(C * D, 0), db.assign(C * D, 0), dgc.assign(C * D, 0), dr.assign(C, 0);
  for (int i = 0; i < C; ++i)
    for (int j = 0; j < i + (inclusive ? 1 : 0); ++j) {
      double base = dA[i * C + j] * s, c = base * (r ? (*r)[i] : 1.0), dot = 0;
      for (int d = 0; d < D; ++d) {
        double e = std::exp(double(gc[i * D + d]) - gc[j * D + d]);
        double term = double(a[i * D + d]) * b[j * D + d] * e;
        dot += term;
        da[i * D + d] += c * b[j * D + d] * e;
        db[j * D + d] += c * a[i * D + d] * e;
        dgc[i * D + d] += c * term;
        dgc[j * D + d] -= c * term;
      }
      dr[i] += base * dot;
    }
}

} // namespace

TEST_F(EmittedGradOps, EveryPrimitiveMatchesItsDefinition) {
  const std::string t = tileType(C, D, "f32"), sq = tileType(C, C, "f32"),
                    tt = tileType(D, C, "f32");
  struct Out {
    const char *name;
    std::string type;
    int rows, cols;
  };
  const std::vector<Out> outs = {
      {"add", t, C, D},        {"mul", t, C, D},       {"rowdot", vector(C), C, 1},
      {"colsum", vector(D), D, 1}, {"lastrow", t, C, D}, {"trils", sq, C, C},
      {"trili", sq, C, C},     {"rcumsum", t, C, D},   {"mmant", sq, C, C},
      {"mmatt", tt, D, C},     {"da", t, C, D},        {"db", t, C, D},
      {"dgc", t, C, D},        {"dr", vector(C), C, 1}, {"da2", t, C, D},
      {"db2", t, C, D},        {"dgc2", t, C, D}};
  std::string body = "    %x = kdk.alloc_tile : " + t +
                     "\n    %y = kdk.alloc_tile : " + t +
                     "\n    %g = kdk.alloc_tile : " + t +
                     "\n    %m = kdk.alloc_tile : " + sq +
                     "\n    %r = kdk.alloc_tile : " + vector(C) +
                     "\n    %v = kdk.alloc_tile : " + vector(D) + "\n";
  for (const Out &o : outs)
    body += "    %" + std::string(o.name) + " = kdk.alloc_tile : " + o.type + "\n";
  body += loadAll("ix", "f32", "x", t, C, D) + loadAll("iy", "f32", "y", t, C, D) +
          loadAll("ig", "f32", "g", t, C, D) + loadAll("im", "f32", "m", sq, C, C) +
          loadVector("ir", C, "r") + loadVector("iv", D, "v") +
          loadAll("ix", "f32", "lastrow", t, C, D) +
          loadAll("im", "f32", "trils", sq, C, C) +
          loadAll("im", "f32", "trili", sq, C, C) +
          loadAll("iy", "f32", "rcumsum", t, C, D) + "    kdk.barrier\n";
  body += "    kdk.add %x, %y into %add : " + t + ", " + t + ", " + t + "\n" +
          "    kdk.mul %x, %y into %mul scale = 0.5 : " + t + ", " + t + ", " + t + "\n" +
          "    kdk.row_dot %x, %y into %rowdot : " + t + ", " + t + ", " + vector(C) + "\n" +
          "    kdk.column_sum %x into %colsum : " + t + ", " + vector(D) + "\n" +
          "    kdk.add_to_last_row %lastrow, %v : " + t + ", " + vector(D) + "\n" +
          "    kdk.tril %trils mask = strict scale = -1.0 : " + sq + "\n" +
          "    kdk.tril %trili mask = inclusive : " + sq + "\n" +
          "    kdk.cumsum_rows %rcumsum reverse : " + t + "\n" +
          "    kdk.mma %x, %y into %mmant transpose_rhs alpha = -1.0 : " + t + ", " + t + ", " + sq + "\n" +
          "    kdk.mma %x, %m into %mmatt transpose_lhs transpose_rhs : " + t + ", " + sq + ", " + tt + "\n" +
          "    kdk.decayed_gram_grad %m, %x, %y, %g row_scale(%r : " + vector(C) +
          ") into %da, %db, %dgc drow_scale(%dr : " + vector(C) +
          ") mask = strict scale = 0.7 : " + sq + ", " + t + ", " + t + ", " + t +
          ", " + t + ", " + t + ", " + t + "\n" +
          "    kdk.decayed_gram_grad %m, %x, %y, %g into %da2, %db2, %dgc2 mask = "
          "inclusive scale = 1.0 : " + sq + ", " + t + ", " + t + ", " + t + ", " +
          t + ", " + t + ", " + t + "\n" + "    kdk.barrier\n";
  std::string args = buffer("ix", "f32") + ", " + buffer("iy", "f32") + ", " +
                     buffer("ig", "f32") + ", " + buffer("im", "f32") + ", " +
                     buffer("ir", "f32") + ", " + buffer("iv", "f32");
  for (const Out &o : outs) {
    std::string y = std::string("y") + o.name;
    args += ", " + buffer(y, "f32");
    body += o.cols == 1 ? storeVector(o.name, o.rows, y)
                        : storeAll(o.name, o.type, y, "f32", o.rows, o.cols);
  }
  std::string ir = kernelModule(args, body);

  HostArray x = makeArray(Elem::F32, uniform(C * D, -1, 1, 61));
  HostArray y = makeArray(Elem::F32, uniform(C * D, -1, 1, 62));
  HostArray m = makeArray(Elem::F32, uniform(C * C, -1, 1, 63));
  HostArray r = makeArray(Elem::F32, uniform(C, 0.1f, 1, 64));
  HostArray v = makeArray(Elem::F32, uniform(D, -1, 1, 65));
  std::vector<float> steps = uniform(C * D, -1, 0, 66), gc(C * D);
  for (int c = 0; c < D; ++c) {
    float sum = 0;
    for (int i = 0; i < C; ++i)
      gc[i * D + c] = sum += steps[i * D + c];
  }
  HostArray g = makeArray(Elem::F32, gc);
  rt::DeviceBuffer dx = upload(x), dy = upload(y), dg = upload(g),
                   dm = upload(m), dr = upload(r), dv = upload(v);
  std::vector<rt::DeviceBuffer> got;
  std::vector<KernelArg> launchArgs = {arg(dx), arg(dy), arg(dg),
                                       arg(dm), arg(dr), arg(dv)};
  for (const Out &o : outs)
    got.push_back(poisoned(size_t(o.rows) * o.cols));
  for (const rt::DeviceBuffer &buffer : got)
    launchArgs.push_back(arg(buffer));
  launch(ir, "kernel", launchArgs);

  const std::vector<float> &X = x.values, &Y = y.values, &M = m.values;
  std::map<std::string, std::vector<double>> ref;
  for (int i = 0; i < C; ++i) {
    double dot = 0;
    for (int d = 0; d < D; ++d) {
      ref["add"].push_back(double(X[i * D + d]) + Y[i * D + d]);
      ref["mul"].push_back(0.5 * X[i * D + d] * Y[i * D + d]);
      ref["lastrow"].push_back(X[i * D + d] + (i == C - 1 ? v.values[d] : 0.0));
      double below = 0;
      for (int j = i; j < C; ++j)
        below += Y[j * D + d];
      ref["rcumsum"].push_back(below);
      dot += double(X[i * D + d]) * Y[i * D + d];
    }
    ref["rowdot"].push_back(dot);
    for (int j = 0; j < C; ++j) {
      ref["trils"].push_back(j < i ? -M[i * C + j] : 0.0);
      ref["trili"].push_back(j <= i ? M[i * C + j] : 0.0);
      double p = 0;
      for (int d = 0; d < D; ++d)
        p += double(X[i * D + d]) * Y[j * D + d];
      ref["mmant"].push_back(-p);
    }
  }
  for (int d = 0; d < D; ++d) {
    double sum = 0;
    for (int i = 0; i < C; ++i)
      sum += X[i * D + d];
    ref["colsum"].push_back(sum);
    for (int j = 0; j < C; ++j) { // (x^T m^T)[d, j] = sum_i x[i, d] m[j, i]
      double p = 0;
      for (int i = 0; i < C; ++i)
        p += double(X[i * D + d]) * M[j * C + i];
      ref["mmatt"].push_back(p);
    }
  }
  decayedGramGradRef(M, X, Y, gc, &r.values, false, 0.7, ref["da"], ref["db"],
                     ref["dgc"], ref["dr"]);
  std::vector<double> unusedDr;
  decayedGramGradRef(M, X, Y, gc, nullptr, true, 1.0, ref["da2"], ref["db2"],
                     ref["dgc2"], unusedDr);
  for (size_t i = 0; i < outs.size(); ++i) {
    const std::vector<double> &want = ref[outs[i].name];
    expectClose(download(got[i], want.size()), want, near(want, 1e-5, 1e-5),
                outs[i].name);
  }
}
