//===- ChunkLoopTest.cpp - Hand-written chunkwise modules vs the oracle ---===//
//
// Modules whose @kda_forward is the element-wise prologue plus a
// kda.chunk_loop stating DESIGN.md section 2's per-chunk algebra, written
// here by hand (independently of the kda-chunk pass, which must produce the
// same form). Agreement with the token-by-token oracle at rounding level, for
// tails, varlen boundaries, GVA and both layouts, proves the chunk loop's
// semantics (gather, zero padding, state carry, scatter); variants of the
// body (anchored decays, blocked and Neumann inverses, the additive rule)
// exercise the remaining body ops.
//
//===----------------------------------------------------------------------===//
#include "TestUtil.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"

#include "llvm/Support/raw_ostream.h"

#include <sstream>

using namespace kdac;

namespace {

enum class Body { Basic, Blocked, Neumann, Additive };

struct ChunkForm {
  int64_t C = 16;
  Body body = Body::Basic;
  int64_t anchorBlock = 0; // decayed_gram's anchor_block
};

std::string dimStr(int64_t d) {
  return d == kDynamic ? "?" : std::to_string(d);
}

/// tensor<AxBx...xf32> with kDynamic printed as '?'.
std::string ty(std::initializer_list<int64_t> shape,
               const char *element = "f32") {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += dimStr(d) + "x";
  return s + element + ">";
}

std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s;
}

/// The per-chunk body (after the block's arguments, up to the yield).
std::string chunkBody(const KernelSpec &spec, const ChunkForm &form) {
  const int64_t C = form.C, K = spec.K, V = spec.V;
  const std::string cK = ty({C, K}), cV = ty({C, V}), cC = ty({C, C}),
                    c1 = ty({C}), kv = ty({K, V}),
                    scale = num(spec.effectiveScale());
  const std::string anchor =
      form.anchorBlock ? " anchor_block = " + std::to_string(form.anchorBlock)
                       : "";
  std::ostringstream b;
  b << "  %gc = kda.cumsum %cg : " << cK << "\n";
  b << "  %aqk = kda.decayed_gram %cq, %ck, %gc mask = inclusive scale = "
    << scale << anchor << " : " << cK << " -> " << cC << "\n";
  if (form.body == Body::Additive) {
    // S' = D S + (k * decay)^T (beta v); o = scale (q * exp(gc)) S + Aqk (beta
    // v).
    b << "  %vp = kda.scale_rows %cv, %cb : " << cV << ", " << c1 << "\n";
  } else {
    b << "  %akk = kda.decayed_gram %ck, %ck, %gc row_scale(%cb : " << c1
      << ") mask = strict" << anchor << " : " << cK << " -> " << cC << "\n";
    std::string m = "%m";
    if (form.body == Body::Basic) {
      b << "  %m = kda.ut_inverse %akk : " << cC << "\n";
    } else if (form.body == Body::Blocked) {
      // Two diagonal blocks by forward substitution and the off-diagonal one
      // as -M22 A21 M11, assembled with insert_block.
      const int64_t h = C / 2;
      const std::string hh = ty({h, h});
      b << "  %a11 = kda.extract_block %akk[0, 0] : " << cC << " -> " << hh
        << "\n";
      b << "  %a21 = kda.extract_block %akk[" << h << ", 0] : " << cC << " -> "
        << hh << "\n";
      b << "  %a22 = kda.extract_block %akk[" << h << ", " << h << "] : " << cC
        << " -> " << hh << "\n";
      b << "  %m11 = kda.forward_substitution %a11 : " << hh << "\n";
      b << "  %m22 = kda.forward_substitution %a22 : " << hh << "\n";
      b << "  %t1 = kda.matmul %a21, %m11 : " << hh << ", " << hh << " -> "
        << hh << "\n";
      b << "  %t2 = kda.matmul %m22, %t1 : " << hh << ", " << hh << " -> " << hh
        << "\n";
      b << "  %zh = kda.zero : " << hh << "\n";
      b << "  %m21 = kda.sub %zh, %t2 : " << hh << "\n";
      b << "  %z = kda.zero : " << cC << "\n";
      b << "  %mA = kda.insert_block %m11 into %z[0, 0] : " << hh << " into "
        << cC << "\n";
      b << "  %mB = kda.insert_block %m21 into %mA[" << h << ", 0] : " << hh
        << " into " << cC << "\n";
      b << "  %m = kda.insert_block %m22 into %mB[" << h << ", " << h
        << "] : " << hh << " into " << cC << "\n";
    } else {
      // Neumann: X = I - A (I - A (...)) has every power of the nilpotent A
      // up to C - 1, so it is (I + A)^-1 exactly; then X (I + A) X = X
      // exercises add_identity without negate.
      b << "  %x0 = kda.add_identity %akk negate : " << cC << "\n";
      for (int64_t n = 1; n <= C - 2; ++n) {
        b << "  %p" << n << " = kda.matmul %akk, %x" << n - 1 << " : " << cC
          << ", " << cC << " -> " << cC << "\n";
        b << "  %x" << n << " = kda.add_identity %p" << n << " negate : " << cC
          << "\n";
      }
      const std::string x = "%x" + std::to_string(C - 2);
      b << "  %ia = kda.add_identity %akk : " << cC << "\n";
      b << "  %xi = kda.matmul " << x << ", %ia : " << cC << ", " << cC
        << " -> " << cC << "\n";
      b << "  %m = kda.matmul %xi, " << x << " : " << cC << ", " << cC << " -> "
        << cC << "\n";
    }
    b << "  %w, %u = kda.wy " << m << ", %ck, %cv, %gc, %cb : " << cC << ", "
      << cK << ", " << cV << ", " << c1 << "\n";
    std::string u = "%u";
    if (form.body == Body::Blocked) {
      // u = M (beta v) again, through scale_rows and matmul.
      b << "  %bv = kda.scale_rows %cv, %cb : " << cV << ", " << c1 << "\n";
      b << "  %ub = kda.matmul %m, %bv : " << cC << ", " << cV << " -> " << cV
        << "\n";
      u = "%ub";
    } else if (form.body == Body::Neumann) {
      // u - 0 with the zero defined above the loop: bodies may read outer
      // values.
      b << "  %un = kda.sub %u, %zv : " << cV << "\n";
      u = "%un";
    }
    b << "  %vp = kda.state_apply " << u << ", %w, %cs : " << cV << ", " << cK
      << ", " << kv << "\n";
  }
  b << "  %co = kda.output %cq, %gc, %cs, %aqk, %vp scale = " << scale << " : "
    << cK << ", " << kv << ", " << cC << " -> " << cV << "\n";
  b << "  %cs1 = kda.state_update %cs, %ck, %gc, %vp : " << kv << ", " << cK
    << ", " << cV << "\n";
  b << "  kda.yield %co, %cs1 : " << cV << ", " << kv << "\n";
  return b.str();
}

/// The whole module: @kda_forward with buildRecurrenceModule's signature for
/// \p spec (f32 everywhere), the prologue ops its fused options need, and a
/// chunk loop of \p form. The Basic body is the canonical form of DESIGN.md
/// section 2 that kda-chunk is to produce.
std::string chunkModule(const KernelSpec &spec, const ChunkForm &form) {
  const int64_t B = spec.B, T = spec.T, H = spec.H, HV = spec.HV, K = spec.K,
                V = spec.V, C = form.C;
  const bool channel = spec.gate == GateGranularity::Channel;
  const bool kvLayout = spec.stateLayout == StateLayout::KV;
  const int64_t N = spec.varlen ? kDynamic : B;
  const std::string qkT = ty({B, T, H, K}), vT = ty({B, T, HV, V}),
                    bT = ty({B, T, HV}),
                    gT = channel ? ty({B, T, HV, K}) : ty({B, T, HV}),
                    sT = ty({N, HV, kvLayout ? K : V, kvLayout ? V : K}),
                    aT = ty({HV}), dT = ty({channel ? HV * K : HV}),
                    cuT = ty({kDynamic}, "i64");
  const bool gated = spec.gate != GateGranularity::None;

  std::vector<std::string> args = {"%q: " + qkT, "%k: " + qkT, "%v: " + vT};
  if (gated)
    args.push_back("%g: " + gT);
  args.push_back("%beta: " + bT);
  if (spec.hasALog)
    args.push_back("%alog: " + aT);
  if (spec.hasDtBias)
    args.push_back("%dtb: " + dT);
  if (spec.hasInitialState)
    args.push_back("%s0: " + sT);
  if (spec.varlen)
    args.push_back("%cu: " + cuT);

  std::ostringstream m;
  m << "func.func @kda_forward(";
  for (size_t i = 0; i < args.size(); ++i)
    m << (i ? ", " : "") << args[i];
  m << ") -> (" << vT << (spec.hasFinalState ? ", " + sT : "") << ") {\n";

  std::string q = "%q", k = "%k", g = "%g", beta = "%beta";
  if (spec.qkL2Norm) {
    m << "%qn = kda.l2norm %q : " << qkT << " -> " << qkT << "\n";
    m << "%kn = kda.l2norm %k : " << qkT << " -> " << qkT << "\n";
    q = "%qn", k = "%kn";
  }
  if (spec.activation != GateActivation::None) {
    m << "%ga = kda.gate_activation "
      << (spec.activation == GateActivation::Softplus ? "softplus"
                                                      : "lowerbound")
      << " %g";
    if (spec.hasALog)
      m << " A_log(%alog : " << aT << ")";
    if (spec.hasDtBias)
      m << " dt_bias(%dtb : " << dT << ")";
    if (spec.lowerBound)
      m << " lower_bound = " << num(*spec.lowerBound);
    m << " : " << gT << " -> " << gT << "\n";
    g = "%ga";
  }
  if (spec.betaSigmoid) {
    m << "%bs = kda.sigmoid %beta : " << bT << " -> " << bT << "\n";
    beta = "%bs";
  }

  std::vector<std::string> operandTypes = {qkT, qkT, vT};
  m << (spec.hasFinalState ? "%o, %s" : "%o") << " = kda.chunk_loop q(" << q
    << ") k(" << k << ") v(%v)";
  if (gated) {
    m << " g(" << g << ")";
    operandTypes.push_back(gT);
  }
  m << " beta(" << beta << ")";
  operandTypes.push_back(bT);
  if (spec.hasInitialState) {
    m << " initial_state(%s0)";
    operandTypes.push_back(sT);
  }
  if (spec.varlen) {
    m << " cu_seqlens(%cu)";
    operandTypes.push_back(cuT);
  }
  m << " chunk_size = " << C << " gate = "
    << (spec.gate == GateGranularity::Channel  ? "channel"
        : spec.gate == GateGranularity::Scalar ? "scalar"
                                               : "none");
  if (!kvLayout)
    m << " layout = vk";
  m << " : (";
  for (size_t i = 0; i < operandTypes.size(); ++i)
    m << (i ? ", " : "") << operandTypes[i];
  m << ") -> " << (spec.hasFinalState ? "(" + vT + ", " + sT + ")" : vT)
    << " {\n";
  m << "^bb0(%cq: " << ty({C, K}) << ", %ck: " << ty({C, K})
    << ", %cv: " << ty({C, V}) << ", %cg: " << ty({C, K})
    << ", %cb: " << ty({C}) << ", %cs: " << ty({K, V}) << "):\n";
  m << chunkBody(spec, form) << "}\n";
  m << "return "
    << (spec.hasFinalState ? "%o, %s : " + vT + ", " + sT : "%o : " + vT)
    << "\n}\n";
  std::string text = m.str();
  if (form.body == Body::Neumann) {
    // %zv: the CxV zero the Neumann body reads from above the loop.
    size_t at = text.find(") {\n") + 4;
    text.insert(at, "%zv = kda.zero : " + ty({C, V}) + "\n");
  }
  return text;
}

/// Channel-gated KDA, delta rule, f32 everywhere, initial and final state,
/// GVA (H = 1, HV = 2).
KernelSpec chunkSpec(int64_t B, int64_t T) {
  KernelSpec s;
  s.B = B;
  s.T = T;
  s.H = 1;
  s.HV = 2;
  s.K = 16;
  s.V = 16;
  s.dtype = s.gateDType = s.betaDType = DType::F32;
  s.hasInitialState = s.hasFinalState = true;
  return s;
}

struct ChunkCase {
  std::string name;
  KernelSpec spec;
  ChunkForm form;
  std::vector<int64_t> seqLens;
  double tolF32 = 1e-4;
};

std::vector<ChunkCase> chunkCases() {
  std::vector<ChunkCase> cases;
  for (int64_t C : {16, 32})
    for (int64_t T : {1, 17, 40})
      cases.push_back({"C" + std::to_string(C) + "_T" + std::to_string(T),
                       chunkSpec(2, T), ChunkForm{C}});
  {
    KernelSpec s = chunkSpec(1, kDynamic);
    s.varlen = true;
    s.HV = 4;
    s.H = 2;
    cases.push_back({"varlen_C16", s, ChunkForm{16}, {1, 16, 0, 33, 1, 17}});
  }
  {
    KernelSpec s = chunkSpec(kDynamic, kDynamic);
    s.stateLayout = StateLayout::VK;
    s.V = 8;
    cases.push_back({"dynamic_vk_C16", s, ChunkForm{16}});
  }
  {
    KernelSpec s = chunkSpec(2, 40);
    s.hasInitialState = s.hasFinalState = false;
    cases.push_back({"no_states_C16", s, ChunkForm{16}});
  }
  {
    KernelSpec s = chunkSpec(2, 40);
    s.qkL2Norm = s.betaSigmoid = true;
    s.activation = GateActivation::LowerBound;
    s.lowerBound = -5.0;
    s.hasALog = s.hasDtBias = true;
    cases.push_back({"prologue_lowerbound_C16", s, ChunkForm{16}});
  }
  {
    KernelSpec s = chunkSpec(2, 40);
    s.gate = GateGranularity::Scalar;
    s.activation = GateActivation::Softplus;
    s.hasALog = s.hasDtBias = true;
    cases.push_back({"prologue_scalar_softplus_C32", s, ChunkForm{32}});
  }
  {
    KernelSpec s = chunkSpec(2, 40);
    s.gate = GateGranularity::None;
    cases.push_back({"gate_none_C16", s, ChunkForm{16}});
  }
  {
    KernelSpec s = chunkSpec(2, 40);
    s.update = UpdateRule::Additive;
    cases.push_back({"additive_C16", s, ChunkForm{16, Body::Additive}});
  }
  {
    KernelSpec s = chunkSpec(2, 70);
    s.K = 64;
    s.V = 32;
    cases.push_back({"k64_C32", s, ChunkForm{32}});
  }
  cases.push_back(
      {"anchored_C32_N16", chunkSpec(2, 40), ChunkForm{32, Body::Basic, 16}});
  {
    // The strongest gate the spec allows, over chunks of 64: cumsums fall to
    // about -160, where splitting exp(gc_i - gc_j) into exp(gc_i) exp(-gc_j)
    // would overflow fp32; the anchored split (factors <= 1) stays accurate.
    KernelSpec s = chunkSpec(1, 150);
    s.activation = GateActivation::LowerBound;
    s.lowerBound = -5.0;
    s.hasDtBias = true;
    cases.push_back(
        {"anchored_strong_gate_C64_N16", s, ChunkForm{64, Body::Basic, 16}});
  }
  cases.push_back(
      {"blocked_inverse_C32", chunkSpec(2, 40), ChunkForm{32, Body::Blocked}});
  cases.push_back(
      {"neumann_inverse_C16", chunkSpec(2, 40), ChunkForm{16, Body::Neumann}});
  return cases;
}

class ChunkLoopTest : public ::testing::TestWithParam<ChunkCase> {};

} // namespace

TEST_P(ChunkLoopTest, MatchesOracle) {
  const ChunkCase &cc = GetParam();
  int64_t B = cc.spec.varlen ? 1 : (cc.spec.B == kDynamic ? 2 : cc.spec.B);
  int64_t T = cc.spec.T == kDynamic ? 37 : cc.spec.T;
  if (cc.spec.varlen) {
    T = 0;
    for (int64_t len : cc.seqLens)
      T += len;
  }
  KdaCase c = makeRandomCase(cc.spec, B, T, cc.seqLens, /*seed=*/11);
  ASSERT_TRUE(c.expected.has_value());

  mlir::MLIRContext ctx;
  test::loadKdacDialects(ctx);
  std::string text = chunkModule(cc.spec, cc.form);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(text, &ctx, cc.name);
  ASSERT_TRUE(module) << text;
  test::expectMatchesOracle(*module, c, cc.name, 1e-10, cc.tolF32);
}

INSTANTIATE_TEST_SUITE_P(Interpreter, ChunkLoopTest,
                         ::testing::ValuesIn(chunkCases()),
                         [](const ::testing::TestParamInfo<ChunkCase> &info) {
                           return info.param.name;
                         });

namespace {

/// A body that is no attention at all: S' = S - q^T v, o = 0. Its outputs
/// are easy to compute by hand, and a transpose_lhs that were ignored, rows
/// that were not zero-padded or a state that was not carried would all show.
const char *kTransposeModule = R"mlir(
func.func @kda_forward(%q: tensor<1x19x1x4xf32>, %k: tensor<1x19x1x4xf32>,
                       %v: tensor<1x19x1x3xf32>, %beta: tensor<1x19x1xf32>,
                       %s0: tensor<1x1x4x3xf32>)
    -> (tensor<1x19x1x3xf32>, tensor<1x1x4x3xf32>) {
  %o, %s = kda.chunk_loop q(%q) k(%k) v(%v) beta(%beta) initial_state(%s0)
      chunk_size = 8 gate = none
      : (tensor<1x19x1x4xf32>, tensor<1x19x1x4xf32>, tensor<1x19x1x3xf32>,
         tensor<1x19x1xf32>, tensor<1x1x4x3xf32>)
      -> (tensor<1x19x1x3xf32>, tensor<1x1x4x3xf32>) {
  ^bb0(%cq: tensor<8x4xf32>, %ck: tensor<8x4xf32>, %cv: tensor<8x3xf32>,
       %cg: tensor<8x4xf32>, %cb: tensor<8xf32>, %cs: tensor<4x3xf32>):
    %z = kda.zero : tensor<8x3xf32>
    %p = kda.matmul %cq, %cv transpose_lhs
        : tensor<8x4xf32>, tensor<8x3xf32> -> tensor<4x3xf32>
    %s1 = kda.sub %cs, %p : tensor<4x3xf32>
    kda.yield %z, %s1 : tensor<8x3xf32>, tensor<4x3xf32>
  }
  return %o, %s : tensor<1x19x1x3xf32>, tensor<1x1x4x3xf32>
}
)mlir";

KernelSpec transposeSpec() {
  KernelSpec s;
  s.B = 1;
  s.T = 19;
  s.H = s.HV = 1;
  s.K = 4;
  s.V = 3;
  s.gate = GateGranularity::None;
  s.dtype = s.gateDType = s.betaDType = DType::F32;
  s.hasInitialState = s.hasFinalState = true;
  return s;
}

} // namespace

TEST(ChunkLoop, TransposedMatmulAndStateCarry) {
  KernelSpec spec = transposeSpec();
  KdaCase c = makeRandomCase(spec, 1, 19, {}, 3);
  mlir::MLIRContext ctx;
  test::loadKdacDialects(ctx);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(kTransposeModule, &ctx);
  ASSERT_TRUE(module);
  llvm::Expected<KdaOutputs> out = interpret(*module, spec, c.inputs);
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());

  std::vector<double> want = c.inputs.initialState;
  for (int64_t t = 0; t < 19; ++t)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 3; ++j)
        want[i * 3 + j] -= c.inputs.q[t * 4 + i] * c.inputs.v[t * 3 + j];
  EXPECT_LE(relativeError(out->finalState, want), 1e-14);
  EXPECT_EQ(out->o, std::vector<double>(19 * 3, 0.0));
}

TEST(ChunkLoop, OutOfRangeBlockIsALocatedVerifierError) {
  std::string text = kTransposeModule;
  // A block that runs off the end of the 8x4 chunk: the verifier refuses it
  // with its location before the interpreter could read past the tile.
  std::string bad = "    %x = kda.extract_block %cq[6, 0] : tensor<8x4xf32> "
                    "-> tensor<4x4xf32>\n";
  text.insert(text.find("    %z = kda.zero"), bad);
  mlir::MLIRContext ctx;
  test::loadKdacDialects(ctx);
  std::string error;
  mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &d) {
    llvm::raw_string_ostream os(error);
    os << d.getLocation() << ": " << d.str();
    return mlir::success();
  });
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(text, &ctx, "bad.mlir");
  EXPECT_FALSE(module);
  EXPECT_NE(error.find("bad.mlir"), std::string::npos) << error;
  EXPECT_NE(error.find("expects the 4x4 block at (6, 0) to lie inside the "
                       "8x4 matrix"),
            std::string::npos)
      << error;
}
