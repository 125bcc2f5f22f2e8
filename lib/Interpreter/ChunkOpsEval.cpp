//===- ChunkOpsEval.cpp - The per-chunk algebra of kda --------------------===//
//
// The small-matrix ops of a chunk loop body (DESIGN.md section 2), each
// evaluated as its definition reads, so that any rewrite of a body (blocked
// or Neumann inverses, anchored decays) is checked against plain algebra.
// Every operand shape is checked: bodies written by hand or by a buggy pass
// must fail here with a message, not read out of bounds.
//
//===----------------------------------------------------------------------===//
#include "Evaluator.h"

using namespace mlir;
using namespace kdac::interp;

/// Fails unless \p t is a matrix; \p what names the operand.
template <typename T>
static llvm::Error expectMatrix(Operation *op, StringRef what,
                                const Tensor<T> &t) {
  if (t.rank() == 2)
    return llvm::Error::success();
  return opError(op, what + " has shape " + shapeString(t.shape) +
                         ", expected a matrix");
}

template <typename T>
static llvm::Error expectSquare(Operation *op, StringRef what,
                                const Tensor<T> &t) {
  if (t.rank() == 2 && t.dim(0) == t.dim(1))
    return llvm::Error::success();
  return opError(op, what + " has shape " + shapeString(t.shape) +
                         ", expected a square matrix");
}

/// (I + A)^-1 for strictly lower-triangular A, row by row:
/// M[i, :] = e_i - sum_{j < i} A[i, j] M[j, :]. Entries on or above the
/// diagonal of A are ignored, as the op's definition implies.
template <typename T> static Tensor<T> unitLowerInverse(const Tensor<T> &a) {
  const int64_t c = a.dim(0);
  Tensor<T> m = Tensor<T>::zeros({c, c});
  for (int64_t i = 0; i < c; ++i) {
    m.at(i, i) = T(1);
    for (int64_t j = 0; j < i; ++j) {
      T aij = a.at(i, j);
      for (int64_t col = 0; col <= j; ++col)
        m.at(i, col) -= aij * m.at(j, col);
    }
  }
  return m;
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::CumsumOp op, Env<T> &env) {
  Tensor<T> out = env[op.getInput()];
  if (out.rank() != 1 && out.rank() != 2)
    return opError(op, "input has shape " + shapeString(out.shape) +
                           ", expected [C] or [C, K]");
  const int64_t rows = out.dim(0), width = out.rank() == 2 ? out.dim(1) : 1;
  for (int64_t i = 1; i < rows; ++i)
    for (int64_t d = 0; d < width; ++d)
      out.data[i * width + d] += out.data[(i - 1) * width + d];
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::DecayedGramOp op, Env<T> &env) {
  const Tensor<T> &lhs = env[op.getLhs()], &rhs = env[op.getRhs()],
                  &gc = env[op.getGc()];
  if (llvm::Error e = expectMatrix(op, "lhs", lhs))
    return e;
  if (llvm::Error e = expectShape(op, "rhs", rhs.shape, lhs.shape))
    return e;
  if (llvm::Error e = expectShape(op, "gc", gc.shape, lhs.shape))
    return e;
  const int64_t C = lhs.dim(0), D = lhs.dim(1);
  const Tensor<T> *rowScale =
      op.getRowScale() ? &env[op.getRowScale()] : nullptr;
  if (rowScale)
    if (llvm::Error e = expectShape(op, "row_scale", rowScale->shape, {C}))
      return e;
  const int64_t block = op.getAnchorBlock();
  if (block < 0 || (block > 0 && C % block != 0))
    return opError(op, "anchor_block " + llvm::Twine(block) +
                           " does not divide the chunk size " + llvm::Twine(C));
  const bool inclusive = op.getMask() == kda::CausalMask::inclusive;
  const T scale = op.getScale() ? T(op.getScale()->convertToDouble()) : T(1);

  Tensor<T> a = Tensor<T>::zeros({C, C});
  auto direct = [&](int64_t i, int64_t j) {
    T acc = 0;
    for (int64_t d = 0; d < D; ++d)
      acc += lhs.at(i, d) * rhs.at(j, d) * std::exp(gc.at(i, d) - gc.at(j, d));
    return acc;
  };
  // Without anchors every kept entry is direct; with them only the diagonal
  // blocks are, and the rest are products of factors bounded by 1 (for
  // non-positive gates), which is what keeps fp32 finite for any gate.
  const int64_t span = block > 0 ? block : C;
  for (int64_t i = 0; i < C; ++i) {
    const int64_t blockStart = i - i % span;
    for (int64_t j = blockStart; j < i + (inclusive ? 1 : 0); ++j)
      a.at(i, j) = direct(i, j);
  }
  if (block > 0) {
    std::vector<T> anchor(D), left(D);
    Tensor<T> right = Tensor<T>::zeros({C, D});
    for (int64_t start = block; start < C; start += block) {
      for (int64_t d = 0; d < D; ++d)
        anchor[d] = gc.at(start - 1, d);
      for (int64_t j = 0; j < start; ++j)
        for (int64_t d = 0; d < D; ++d)
          right.at(j, d) = rhs.at(j, d) * std::exp(anchor[d] - gc.at(j, d));
      for (int64_t i = start; i < start + block; ++i) {
        for (int64_t d = 0; d < D; ++d)
          left[d] = lhs.at(i, d) * std::exp(gc.at(i, d) - anchor[d]);
        for (int64_t j = 0; j < start; ++j) {
          T acc = 0;
          for (int64_t d = 0; d < D; ++d)
            acc += left[d] * right.at(j, d);
          a.at(i, j) = acc;
        }
      }
    }
  }
  for (int64_t i = 0; i < C; ++i) {
    T r = scale * (rowScale ? rowScale->data[i] : T(1));
    for (int64_t j = 0; j < C; ++j)
      a.at(i, j) *= r;
  }
  env.bind(op.getResult(), std::move(a));
  return llvm::Error::success();
}

/// kda.ut_inverse and kda.forward_substitution compute the same matrix;
/// they differ only in how a kernel would schedule it.
template <typename T>
static llvm::Error evaluateUnitLowerInverse(Operation *op, Env<T> &env) {
  const Tensor<T> &a = env[op->getOperand(0)];
  if (llvm::Error e = expectSquare(op, "input", a))
    return e;
  env.bind(op->getResult(0), unitLowerInverse(a));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::UTInverseOp op, Env<T> &env) {
  return evaluateUnitLowerInverse<T>(op, env);
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ForwardSubstitutionOp op, Env<T> &env) {
  return evaluateUnitLowerInverse<T>(op, env);
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::MatmulOp op, Env<T> &env) {
  const Tensor<T> &a = env[op.getLhs()], &b = env[op.getRhs()];
  if (llvm::Error e = expectMatrix(op, "lhs", a))
    return e;
  if (llvm::Error e = expectMatrix(op, "rhs", b))
    return e;
  const bool transposeA = op.getTransposeLhs(), transposeB = op.getTransposeRhs();
  const int64_t inner = transposeA ? a.dim(0) : a.dim(1);
  if (inner != (transposeB ? b.dim(1) : b.dim(0)))
    return opError(op, "contracts " + shapeString(a.shape) +
                           (transposeA ? " (transposed)" : "") + " with " +
                           shapeString(b.shape) +
                           (transposeB ? " (transposed)" : ""));
  Tensor<T> c = matmul(a, b, transposeA, transposeB);
  const T scale = T(op.getScale().convertToDouble());
  if (scale != T(1))
    for (T &x : c.data)
      x *= scale;
  env.bind(op.getResult(), std::move(c));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::AddIdentityOp op, Env<T> &env) {
  Tensor<T> out = env[op.getInput()];
  if (llvm::Error e = expectSquare(op, "input", out))
    return e;
  const T sign = op.getNegate() ? T(-1) : T(1);
  for (int64_t i = 0; i < out.dim(0); ++i)
    for (int64_t j = 0; j < out.dim(1); ++j)
      out.at(i, j) = (i == j ? T(1) : T(0)) + sign * out.at(i, j);
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::SubOp op, Env<T> &env) {
  Tensor<T> out = env[op.getLhs()];
  const Tensor<T> &rhs = env[op.getRhs()];
  if (llvm::Error e = expectShape(op, "rhs", rhs.shape, out.shape))
    return e;
  for (size_t i = 0; i < out.data.size(); ++i)
    out.data[i] -= rhs.data[i];
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

/// Fails unless a rows x cols block at (row, col) lies inside \p m.
template <typename T>
static llvm::Error expectBlockInside(Operation *op, const Tensor<T> &m,
                                     int64_t row, int64_t col, int64_t rows,
                                     int64_t cols) {
  if (row >= 0 && col >= 0 && row + rows <= m.dim(0) && col + cols <= m.dim(1))
    return llvm::Error::success();
  return opError(op, "block " + shapeString({rows, cols}) + " at (" +
                         llvm::Twine(row) + ", " + llvm::Twine(col) +
                         ") does not fit in " + shapeString(m.shape));
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ExtractBlockOp op, Env<T> &env) {
  const Tensor<T> &in = env[op.getInput()];
  if (llvm::Error e = expectMatrix(op, "input", in))
    return e;
  llvm::Expected<SmallVector<int64_t>> shape =
      staticShape(op, op.getResult().getType());
  if (!shape)
    return shape.takeError();
  if (shape->size() != 2)
    return opError(op, "result must be a matrix");
  const int64_t row = op.getRow(), col = op.getCol();
  const int64_t rows = (*shape)[0], cols = (*shape)[1];
  if (llvm::Error e = expectBlockInside(op, in, row, col, rows, cols))
    return e;
  Tensor<T> out = Tensor<T>::zeros(*shape);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      out.at(i, j) = in.at(row + i, col + j);
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::InsertBlockOp op, Env<T> &env) {
  const Tensor<T> &block = env[op.getBlock()];
  Tensor<T> out = env[op.getDest()];
  if (llvm::Error e = expectMatrix(op, "block", block))
    return e;
  if (llvm::Error e = expectMatrix(op, "dest", out))
    return e;
  const int64_t row = op.getRow(), col = op.getCol();
  if (llvm::Error e =
          expectBlockInside(op, out, row, col, block.dim(0), block.dim(1)))
    return e;
  for (int64_t i = 0; i < block.dim(0); ++i)
    for (int64_t j = 0; j < block.dim(1); ++j)
      out.at(row + i, col + j) = block.at(i, j);
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ZeroOp op, Env<T> &env) {
  llvm::Expected<SmallVector<int64_t>> shape =
      staticShape(op, op.getResult().getType());
  if (!shape)
    return shape.takeError();
  env.bind(op.getResult(), Tensor<T>::zeros(*shape));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::WYOp op, Env<T> &env) {
  const Tensor<T> &m = env[op.getM()], &k = env[op.getK()], &v = env[op.getV()],
                  &gc = env[op.getGc()], &beta = env[op.getBeta()];
  if (llvm::Error e = expectSquare(op, "M", m))
    return e;
  const int64_t C = m.dim(0);
  if (llvm::Error e = expectMatrix(op, "k", k))
    return e;
  if (llvm::Error e = expectMatrix(op, "v", v))
    return e;
  if (llvm::Error e = expectShape(op, "k", k.shape, {C, k.dim(1)}))
    return e;
  if (llvm::Error e = expectShape(op, "gc", gc.shape, k.shape))
    return e;
  if (llvm::Error e = expectShape(op, "v", v.shape, {C, v.dim(1)}))
    return e;
  if (llvm::Error e = expectShape(op, "beta", beta.shape, {C}))
    return e;
  Tensor<T> kScaled = k, vScaled = v;
  for (int64_t j = 0; j < C; ++j) {
    for (int64_t d = 0; d < k.dim(1); ++d)
      kScaled.at(j, d) = beta.data[j] * k.at(j, d) * std::exp(gc.at(j, d));
    for (int64_t d = 0; d < v.dim(1); ++d)
      vScaled.at(j, d) = beta.data[j] * v.at(j, d);
  }
  env.bind(op.getW(), matmul(m, kScaled, false));
  env.bind(op.getU(), matmul(m, vScaled, false));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ScaleRowsOp op, Env<T> &env) {
  Tensor<T> out = env[op.getInput()];
  const Tensor<T> &r = env[op.getRowScale()];
  if (out.rank() == 0)
    return opError(op, "needs an input of rank >= 1");
  const int64_t rows = out.dim(0);
  if (llvm::Error e = expectShape(op, "row_scale", r.shape, {rows}))
    return e;
  const int64_t width = rows ? int64_t(out.data.size()) / rows : 0;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t d = 0; d < width; ++d)
      out.data[i * width + d] *= r.data[i];
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::StateApplyOp op, Env<T> &env) {
  const Tensor<T> &u = env[op.getU()], &w = env[op.getW()],
                  &s = env[op.getState()];
  if (llvm::Error e = expectMatrix(op, "state", s))
    return e;
  const int64_t K = s.dim(0), V = s.dim(1);
  if (llvm::Error e = expectMatrix(op, "u", u))
    return e;
  const int64_t C = u.dim(0);
  if (llvm::Error e = expectShape(op, "u", u.shape, {C, V}))
    return e;
  if (llvm::Error e = expectShape(op, "w", w.shape, {C, K}))
    return e;
  Tensor<T> ws = matmul(w, s, false);
  Tensor<T> out = u;
  for (size_t i = 0; i < out.data.size(); ++i)
    out.data[i] -= ws.data[i];
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

/// o = qg S + Aqk v', shared by kda.output (which decays q first) and
/// kda.decayed_output, so the split stage computes the loop's numbers.
template <typename T>
static Tensor<T> decayedOutput(const Tensor<T> &qg, const Tensor<T> &s,
                               const Tensor<T> &aqk, const Tensor<T> &values) {
  Tensor<T> out = matmul(qg, s, false);
  Tensor<T> intra = matmul(aqk, values, false);
  for (size_t i = 0; i < out.data.size(); ++i)
    out.data[i] += intra.data[i];
  return out;
}

/// S' = Diag(glast) S + kg^T v', shared by kda.state_update and
/// kda.decayed_state_update.
template <typename T>
static Tensor<T> decayedStateUpdate(const Tensor<T> &s, const Tensor<T> &kg,
                                    const Tensor<T> &glast,
                                    const Tensor<T> &values) {
  Tensor<T> out = matmul(kg, values, /*transposeA=*/true);
  for (int64_t d = 0; d < s.dim(0); ++d)
    for (int64_t j = 0; j < s.dim(1); ++j)
      out.at(d, j) += glast.data[d] * s.at(d, j);
  return out;
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::OutputOp op, Env<T> &env) {
  const Tensor<T> &q = env[op.getQ()], &gc = env[op.getGc()],
                  &s = env[op.getState()], &aqk = env[op.getAqk()],
                  &values = env[op.getValues()];
  if (llvm::Error e = expectMatrix(op, "state", s))
    return e;
  const int64_t K = s.dim(0), V = s.dim(1);
  if (llvm::Error e = expectMatrix(op, "q", q))
    return e;
  const int64_t C = q.dim(0);
  if (llvm::Error e = expectShape(op, "q", q.shape, {C, K}))
    return e;
  if (llvm::Error e = expectShape(op, "gc", gc.shape, {C, K}))
    return e;
  if (llvm::Error e = expectShape(op, "Aqk", aqk.shape, {C, C}))
    return e;
  if (llvm::Error e = expectShape(op, "values", values.shape, {C, V}))
    return e;
  const T scale = T(op.getScale().convertToDouble());
  Tensor<T> qDecayed = q;
  for (int64_t i = 0; i < C; ++i)
    for (int64_t d = 0; d < K; ++d)
      qDecayed.at(i, d) = scale * q.at(i, d) * std::exp(gc.at(i, d));
  env.bind(op.getResult(), decayedOutput(qDecayed, s, aqk, values));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::StateUpdateOp op, Env<T> &env) {
  const Tensor<T> &s = env[op.getState()], &k = env[op.getK()],
                  &gc = env[op.getGc()], &values = env[op.getValues()];
  if (llvm::Error e = expectMatrix(op, "state", s))
    return e;
  const int64_t K = s.dim(0), V = s.dim(1);
  if (llvm::Error e = expectMatrix(op, "k", k))
    return e;
  const int64_t C = k.dim(0);
  if (C == 0)
    return opError(op, "needs at least one row");
  if (llvm::Error e = expectShape(op, "k", k.shape, {C, K}))
    return e;
  if (llvm::Error e = expectShape(op, "gc", gc.shape, {C, K}))
    return e;
  if (llvm::Error e = expectShape(op, "values", values.shape, {C, V}))
    return e;
  // The last row's cumsum is the whole chunk's decay; padded rows have g = 0,
  // so in a tail chunk it equals the last real row's.
  Tensor<T> kDecayed = k;
  for (int64_t i = 0; i < C; ++i)
    for (int64_t d = 0; d < K; ++d)
      kDecayed.at(i, d) = k.at(i, d) * std::exp(gc.at(C - 1, d) - gc.at(i, d));
  Tensor<T> decay = Tensor<T>::zeros({K});
  for (int64_t d = 0; d < K; ++d)
    decay.data[d] = std::exp(gc.at(C - 1, d));
  env.bind(op.getResult(), decayedStateUpdate(s, kDecayed, decay, values));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// The values kda-chunk-split moves from the map to the scan, and the scan's
// products that read them: the same arithmetic as kda.output and
// kda.state_update (decayedOutput, decayedStateUpdate), so the split stage
// reproduces the chunk loop's numbers exactly.
//===----------------------------------------------------------------------===//

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::DecayRowsOp op, Env<T> &env) {
  const Tensor<T> &x = env[op.getInput()], &gc = env[op.getGc()];
  if (llvm::Error e = expectMatrix(op, "the input", x))
    return e;
  const int64_t C = x.dim(0), K = x.dim(1);
  if (C == 0)
    return opError(op, "needs at least one row");
  if (llvm::Error e = expectShape(op, "gc", gc.shape, {C, K}))
    return e;
  Tensor<T> out = x;
  if (op.getToLast()) {
    for (int64_t i = 0; i < C; ++i)
      for (int64_t d = 0; d < K; ++d)
        out.at(i, d) = x.at(i, d) * std::exp(gc.at(C - 1, d) - gc.at(i, d));
  } else {
    const T scale = T(op.getScale().convertToDouble());
    for (int64_t i = 0; i < C; ++i)
      for (int64_t d = 0; d < K; ++d)
        out.at(i, d) = scale * x.at(i, d) * std::exp(gc.at(i, d));
  }
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::LastRowExpOp op, Env<T> &env) {
  const Tensor<T> &gc = env[op.getGc()];
  if (llvm::Error e = expectMatrix(op, "gc", gc))
    return e;
  const int64_t C = gc.dim(0), K = gc.dim(1);
  if (C == 0)
    return opError(op, "needs at least one row");
  Tensor<T> out = Tensor<T>::zeros({K});
  for (int64_t d = 0; d < K; ++d)
    out.data[d] = std::exp(gc.at(C - 1, d));
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::DecayedOutputOp op, Env<T> &env) {
  const Tensor<T> &qg = env[op.getQg()], &s = env[op.getState()],
                  &aqk = env[op.getAqk()], &values = env[op.getValues()];
  if (llvm::Error e = expectMatrix(op, "state", s))
    return e;
  const int64_t K = s.dim(0), V = s.dim(1);
  if (llvm::Error e = expectMatrix(op, "qg", qg))
    return e;
  const int64_t C = qg.dim(0);
  if (llvm::Error e = expectShape(op, "qg", qg.shape, {C, K}))
    return e;
  if (llvm::Error e = expectShape(op, "Aqk", aqk.shape, {C, C}))
    return e;
  if (llvm::Error e = expectShape(op, "values", values.shape, {C, V}))
    return e;
  env.bind(op.getResult(), decayedOutput(qg, s, aqk, values));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::DecayedStateUpdateOp op, Env<T> &env) {
  const Tensor<T> &s = env[op.getState()], &kg = env[op.getKg()],
                  &glast = env[op.getGlast()], &values = env[op.getValues()];
  if (llvm::Error e = expectMatrix(op, "state", s))
    return e;
  const int64_t K = s.dim(0), V = s.dim(1);
  if (llvm::Error e = expectMatrix(op, "kg", kg))
    return e;
  const int64_t C = kg.dim(0);
  if (llvm::Error e = expectShape(op, "kg", kg.shape, {C, K}))
    return e;
  if (llvm::Error e = expectShape(op, "glast", glast.shape, {K}))
    return e;
  if (llvm::Error e = expectShape(op, "values", values.shape, {C, V}))
    return e;
  env.bind(op.getResult(), decayedStateUpdate(s, kg, glast, values));
  return llvm::Error::success();
}

template struct kdac::interp::Evaluator<double>;
template struct kdac::interp::Evaluator<float>;
