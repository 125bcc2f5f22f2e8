//===- GradOpsEval.cpp - The adjoint ops of kda ---------------------------===//
//
// Each adjoint op evaluated as the derivative of its forward op's definition
// reads (the formulas are in KDAGradOps.td), so that the chunked backward a
// pass derives is checked, to rounding, against the fp64 recurrence's
// reverse mode in lib/Reference. Operand shapes are checked against the
// verified static types before any indexing.
//
//===----------------------------------------------------------------------===//
#include "Evaluator.h"

using namespace mlir;
using namespace kdac::interp;

/// Fails unless every operand with a static type holds that shape: the
/// verifier checked the types, this checks that the values follow them.
template <typename T>
static llvm::Error checkStaticOperands(Operation *op, const Env<T> &env) {
  for (auto [i, operand] : llvm::enumerate(op->getOperands())) {
    auto type = dyn_cast<RankedTensorType>(operand.getType());
    if (!type || !type.hasStaticShape())
      continue;
    if (llvm::Error e = expectShape(op, "operand #" + std::to_string(i),
                                    env[operand].shape, type.getShape()))
      return e;
  }
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::AddOp op, Env<T> &env) {
  const Tensor<T> &a = env[op.getLhs()], &b = env[op.getRhs()];
  if (llvm::Error e = expectShape(op, "rhs", b.shape, a.shape))
    return e;
  Tensor<T> out = a;
  for (size_t i = 0; i < out.data.size(); ++i)
    out.data[i] += b.data[i];
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ReverseCumsumOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  Tensor<T> out = env[op.getInput()];
  const int64_t rows = out.dim(0), width = out.rank() == 2 ? out.dim(1) : 1;
  for (int64_t i = rows - 2; i >= 0; --i)
    for (int64_t d = 0; d < width; ++d)
      out.data[i * width + d] += out.data[(i + 1) * width + d];
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::DecayedGramGradOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  const Tensor<T> &dA = env[op.getDA()], &a = env[op.getLhs()],
                  &b = env[op.getRhs()], &gc = env[op.getGc()];
  const Tensor<T> *r = op.getRowScale() ? &env[op.getRowScale()] : nullptr;
  const int64_t C = a.dim(0), D = a.dim(1);
  const bool inclusive = op.getMask() == kda::CausalMask::inclusive;
  const T s = op.getScale() ? T(op.getScale()->convertToDouble()) : T(1);
  Tensor<T> da = Tensor<T>::zeros({C, D}), db = Tensor<T>::zeros({C, D}),
            dgc = Tensor<T>::zeros({C, D}), dr = Tensor<T>::zeros({C});
  for (int64_t i = 0; i < C; ++i)
    for (int64_t j = 0; j < i + (inclusive ? 1 : 0); ++j) {
      const T base = dA.at(i, j) * s;
      const T c = base * (r ? r->data[i] : T(1));
      T dot = 0;
      for (int64_t d = 0; d < D; ++d) {
        const T e = std::exp(gc.at(i, d) - gc.at(j, d));
        const T term = a.at(i, d) * b.at(j, d) * e;
        dot += term;
        da.at(i, d) += c * b.at(j, d) * e;
        db.at(j, d) += c * a.at(i, d) * e;
        dgc.at(i, d) += c * term;
        dgc.at(j, d) -= c * term;
      }
      dr.data[i] += base * dot;
    }
  env.bind(op.getGrads()[0], std::move(da));
  env.bind(op.getGrads()[1], std::move(db));
  env.bind(op.getGrads()[2], std::move(dgc));
  if (r)
    env.bind(op.getGrads()[3], std::move(dr));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::UTInverseGradOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  const Tensor<T> &m = env[op.getM()], &dM = env[op.getDM()];
  // dM = -M dA M, so dA = -M^T dM M^T; only A's strictly lower part exists.
  Tensor<T> dA = matmul(matmul(m, dM, true, false), m, false, true);
  const int64_t C = m.dim(0);
  for (int64_t i = 0; i < C; ++i)
    for (int64_t j = 0; j < C; ++j)
      dA.at(i, j) = j < i ? -dA.at(i, j) : T(0);
  env.bind(op.getResult(), std::move(dA));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::WYGradOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  const Tensor<T> &m = env[op.getM()], &k = env[op.getK()], &v = env[op.getV()],
                  &gc = env[op.getGc()], &beta = env[op.getBeta()],
                  &dw = env[op.getDw()], &du = env[op.getDu()];
  const int64_t C = k.dim(0), K = k.dim(1), V = v.dim(1);
  // w = M Kb, u = M Vb with Kb = beta k exp(gc), Vb = beta v (rows).
  Tensor<T> kb = k, vb = v;
  for (int64_t i = 0; i < C; ++i) {
    for (int64_t d = 0; d < K; ++d)
      kb.at(i, d) = beta.data[i] * k.at(i, d) * std::exp(gc.at(i, d));
    for (int64_t d = 0; d < V; ++d)
      vb.at(i, d) = beta.data[i] * v.at(i, d);
  }
  Tensor<T> dM = matmul(dw, kb, false, true);
  Tensor<T> fromU = matmul(du, vb, false, true);
  for (size_t i = 0; i < dM.data.size(); ++i)
    dM.data[i] += fromU.data[i];
  Tensor<T> dkb = matmul(m, dw, true, false), dvb = matmul(m, du, true, false);
  Tensor<T> dk = Tensor<T>::zeros({C, K}), dgc = Tensor<T>::zeros({C, K}),
            dv = Tensor<T>::zeros({C, V}), dbeta = Tensor<T>::zeros({C});
  for (int64_t i = 0; i < C; ++i) {
    for (int64_t d = 0; d < K; ++d) {
      const T e = std::exp(gc.at(i, d));
      dk.at(i, d) = dkb.at(i, d) * beta.data[i] * e;
      dgc.at(i, d) = dkb.at(i, d) * kb.at(i, d);
      dbeta.data[i] += dkb.at(i, d) * k.at(i, d) * e;
    }
    for (int64_t d = 0; d < V; ++d) {
      dv.at(i, d) = dvb.at(i, d) * beta.data[i];
      dbeta.data[i] += dvb.at(i, d) * v.at(i, d);
    }
  }
  env.bind(op.getDM(), std::move(dM));
  env.bind(op.getDk(), std::move(dk));
  env.bind(op.getDv(), std::move(dv));
  env.bind(op.getDgc(), std::move(dgc));
  env.bind(op.getDbeta(), std::move(dbeta));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::StateApplyGradOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  const Tensor<T> &w = env[op.getW()], &s = env[op.getState()],
                  &dvalues = env[op.getDvalues()];
  Tensor<T> dw = matmul(dvalues, s, false, true);
  Tensor<T> ds = matmul(w, dvalues, true, false);
  for (T &x : dw.data)
    x = -x;
  for (T &x : ds.data)
    x = -x;
  env.bind(op.getDu(), dvalues);
  env.bind(op.getDw(), std::move(dw));
  env.bind(op.getDstate(), std::move(ds));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::OutputGradOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  const Tensor<T> &q = env[op.getQ()], &gc = env[op.getGc()],
                  &s = env[op.getState()], &aqk = env[op.getAqk()],
                  &values = env[op.getValues()], &dO = env[op.getDO()];
  const T scale = T(op.getScale().convertToDouble());
  const int64_t C = q.dim(0), K = q.dim(1);
  // o = scale (q exp(gc)) S + Aqk v'.
  Tensor<T> qd = q;
  for (int64_t i = 0; i < C; ++i)
    for (int64_t d = 0; d < K; ++d)
      qd.at(i, d) = q.at(i, d) * std::exp(gc.at(i, d));
  Tensor<T> dqd = matmul(dO, s, false, true);
  Tensor<T> dq = Tensor<T>::zeros({C, K}), dgc = Tensor<T>::zeros({C, K});
  for (int64_t i = 0; i < C; ++i)
    for (int64_t d = 0; d < K; ++d) {
      const T g = scale * dqd.at(i, d);
      dq.at(i, d) = g * std::exp(gc.at(i, d));
      dgc.at(i, d) = g * qd.at(i, d);
    }
  Tensor<T> ds = matmul(qd, dO, true, false);
  for (T &x : ds.data)
    x *= scale;
  env.bind(op.getDq(), std::move(dq));
  env.bind(op.getDgc(), std::move(dgc));
  env.bind(op.getDstate(), std::move(ds));
  env.bind(op.getDAqk(), matmul(dO, values, false, true));
  env.bind(op.getDvalues(), matmul(aqk, dO, true, false));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::StateUpdateGradOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  const Tensor<T> &s = env[op.getState()], &k = env[op.getK()],
                  &gc = env[op.getGc()], &values = env[op.getValues()],
                  &dnext = env[op.getDresult()];
  const int64_t C = k.dim(0), K = k.dim(1), V = s.dim(1);
  // S' = Diag(exp(gc_last)) S + Kd^T v' with Kd = k exp(gc_last - gc).
  Tensor<T> kd = k;
  for (int64_t i = 0; i < C; ++i)
    for (int64_t d = 0; d < K; ++d)
      kd.at(i, d) = k.at(i, d) * std::exp(gc.at(C - 1, d) - gc.at(i, d));
  Tensor<T> ds = dnext;
  for (int64_t d = 0; d < K; ++d) {
    const T decay = std::exp(gc.at(C - 1, d));
    for (int64_t j = 0; j < V; ++j)
      ds.at(d, j) *= decay;
  }
  Tensor<T> dkd = matmul(values, dnext, false, true); // [C, K]
  Tensor<T> dk = Tensor<T>::zeros({C, K}), dgc = Tensor<T>::zeros({C, K});
  for (int64_t i = 0; i < C; ++i)
    for (int64_t d = 0; d < K; ++d) {
      const T term = dkd.at(i, d) * kd.at(i, d);
      dk.at(i, d) = dkd.at(i, d) * std::exp(gc.at(C - 1, d) - gc.at(i, d));
      dgc.at(i, d) -= term;
      dgc.at(C - 1, d) += term;
    }
  for (int64_t d = 0; d < K; ++d) {
    T dot = 0;
    for (int64_t j = 0; j < V; ++j)
      dot += s.at(d, j) * dnext.at(d, j);
    dgc.at(C - 1, d) += std::exp(gc.at(C - 1, d)) * dot;
  }
  env.bind(op.getDstate(), std::move(ds));
  env.bind(op.getDk(), std::move(dk));
  env.bind(op.getDgc(), std::move(dgc));
  env.bind(op.getDvalues(), matmul(kd, dnext, false, false));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ScaleRowsGradOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  const Tensor<T> &x = env[op.getInput()], &r = env[op.getRowScale()],
                  &dy = env[op.getDresult()];
  const int64_t C = x.dim(0), D = x.dim(1);
  Tensor<T> dx = dy, dr = Tensor<T>::zeros({C});
  for (int64_t i = 0; i < C; ++i)
    for (int64_t d = 0; d < D; ++d) {
      dx.at(i, d) = dy.at(i, d) * r.data[i];
      dr.data[i] += dy.at(i, d) * x.at(i, d);
    }
  env.bind(op.getDinput(), std::move(dx));
  env.bind(op.getDrowScale(), std::move(dr));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// Primitives of the decomposed backward
//===----------------------------------------------------------------------===//

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::MulOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  Tensor<T> out = env[op.getLhs()];
  const Tensor<T> &b = env[op.getRhs()];
  const T s = T(op.getScale().convertToDouble());
  for (size_t i = 0; i < out.data.size(); ++i)
    out.data[i] = s * out.data[i] * b.data[i];
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::RowDotOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  const Tensor<T> &a = env[op.getLhs()], &b = env[op.getRhs()];
  Tensor<T> out = Tensor<T>::zeros({a.dim(0)});
  for (int64_t i = 0; i < a.dim(0); ++i)
    for (int64_t d = 0; d < a.dim(1); ++d)
      out.data[i] += a.at(i, d) * b.at(i, d);
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ColumnSumOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  const Tensor<T> &x = env[op.getInput()];
  Tensor<T> out = Tensor<T>::zeros({x.dim(1)});
  for (int64_t i = 0; i < x.dim(0); ++i)
    for (int64_t d = 0; d < x.dim(1); ++d)
      out.data[d] += x.at(i, d);
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::AddToLastRowOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  Tensor<T> out = env[op.getInput()];
  const Tensor<T> &row = env[op.getRow()];
  const int64_t last = out.dim(0) - 1;
  for (int64_t d = 0; d < out.dim(1); ++d)
    out.at(last, d) += row.data[d];
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::TrilOp op, Env<T> &env) {
  if (llvm::Error e = checkStaticOperands(op, env))
    return e;
  Tensor<T> out = env[op.getInput()];
  const bool inclusive = op.getMask() == kda::CausalMask::inclusive;
  const T s = T(op.getScale().convertToDouble());
  for (int64_t i = 0; i < out.dim(0); ++i)
    for (int64_t j = 0; j < out.dim(1); ++j)
      out.at(i, j) = (j < i || (inclusive && j == i)) ? s * out.at(i, j) : T(0);
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

//===----------------------------------------------------------------------===//
// The prologue's adjoints
//===----------------------------------------------------------------------===//

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::L2NormGradOp op, Env<T> &env) {
  const Tensor<T> &x = env[op.getInput()], &dy = env[op.getDresult()];
  if (llvm::Error e = expectShape(op, "the cotangent", dy.shape, x.shape))
    return e;
  Tensor<T> dx = dy;
  const int64_t width = x.shape.back();
  // y = x / n with n = sqrt(|x|^2 + eps): dx = (dy - y (y . dy)) / n.
  for (size_t row = 0; width > 0 && row < x.data.size(); row += width) {
    T ss = 0, ydy = 0;
    for (int64_t i = 0; i < width; ++i)
      ss += x.data[row + i] * x.data[row + i];
    const T n = std::sqrt(ss + T(1e-6));
    for (int64_t i = 0; i < width; ++i)
      ydy += x.data[row + i] / n * dy.data[row + i];
    for (int64_t i = 0; i < width; ++i)
      dx.data[row + i] = (dy.data[row + i] - x.data[row + i] / n * ydy) / n;
  }
  env.bind(op.getResult(), std::move(dx));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::SigmoidGradOp op, Env<T> &env) {
  const Tensor<T> &x = env[op.getInput()], &dy = env[op.getDresult()];
  if (llvm::Error e = expectShape(op, "the cotangent", dy.shape, x.shape))
    return e;
  Tensor<T> dx = dy;
  for (size_t i = 0; i < dx.data.size(); ++i)
    dx.data[i] *= sigmoid(x.data[i]) * sigmoid(-x.data[i]);
  env.bind(op.getResult(), std::move(dx));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::GateActivationGradOp op, Env<T> &env) {
  const Tensor<T> &g = env[op.getInput()], &dy = env[op.getDresult()];
  if (g.rank() != 3 && g.rank() != 4)
    return opError(op, "input has shape " + shapeString(g.shape) +
                           ", expected [B, T, HV, K] or [B, T, HV]");
  if (llvm::Error e = expectShape(op, "the cotangent", dy.shape, g.shape))
    return e;
  const bool channel = g.rank() == 4;
  const int64_t HV = g.dim(2), K = channel ? g.dim(3) : 1;
  const Tensor<T> *aLog = op.getALog() ? &env[op.getALog()] : nullptr;
  const Tensor<T> *dtBias = op.getDtBias() ? &env[op.getDtBias()] : nullptr;
  if (aLog)
    if (llvm::Error e = expectShape(op, "A_log", aLog->shape, {HV}))
      return e;
  if (dtBias)
    if (llvm::Error e = expectShape(op, "dt_bias", dtBias->shape, {HV * K}))
      return e;
  const bool softplusGate = op.getActivation() == kda::GateActivation::softplus;
  if (!softplusGate && !op.getLowerBoundAttr())
    return opError(op, "activation lowerbound needs a lower_bound");
  const T lb = softplusGate ? T(0) : T(op.getLowerBoundAttr().getValueAsDouble());
  Tensor<T> dg = g, dALog = Tensor<T>::zeros({HV}),
            dDtBias = Tensor<T>::zeros({HV * K});
  const int64_t rows = g.dim(0) * g.dim(1);
  for (int64_t t = 0; t < rows; ++t)
    for (int64_t hv = 0; hv < HV; ++hv) {
      const T a = aLog ? std::exp(aLog->data[hv]) : T(1);
      for (int64_t e = 0; e < K; ++e) {
        const int64_t at = (t * HV + hv) * K + e;
        const T x = g.data[at] + (dtBias ? dtBias->data[hv * K + e] : T(0));
        T dydx, dydALog;
        if (softplusGate) {
          // y = -a softplus(x); softplus' is 1 past PyTorch's threshold 20.
          dydx = -a * (x > T(20) ? T(1) : sigmoid(x));
          dydALog = -a * softplus(x);
        } else {
          // y = lb sigmoid(a x).
          dydx = lb * sigmoid(a * x) * sigmoid(-a * x) * a;
          dydALog = dydx * x;
        }
        dg.data[at] = dy.data[at] * dydx;
        dDtBias.data[hv * K + e] += dy.data[at] * dydx;
        dALog.data[hv] += dy.data[at] * dydALog;
      }
    }
  unsigned next = 0;
  env.bind(op.getGrads()[next++], std::move(dg));
  if (aLog)
    env.bind(op.getGrads()[next++], std::move(dALog));
  if (dtBias)
    env.bind(op.getGrads()[next++], std::move(dDtBias));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::GroupSumOp op, Env<T> &env) {
  const Tensor<T> &in = env[op.getInput()];
  auto type = op.getResult().getType();
  if (in.rank() != 4)
    return opError(op, "input has shape " + shapeString(in.shape) +
                           ", expected [B, T, HV, D]");
  const int64_t B = in.dim(0), T_ = in.dim(1), HV = in.dim(2), D = in.dim(3);
  const int64_t H = type.getDimSize(2);
  if (H <= 0 || HV % H != 0)
    return opError(op, "H = " + llvm::Twine(H) + " does not divide HV = " +
                           llvm::Twine(HV));
  const int64_t group = HV / H;
  Tensor<T> out = Tensor<T>::zeros({B, T_, H, D});
  for (int64_t t = 0; t < B * T_; ++t)
    for (int64_t hv = 0; hv < HV; ++hv)
      for (int64_t d = 0; d < D; ++d)
        out.data[(t * H + hv / group) * D + d] += in.data[(t * HV + hv) * D + d];
  env.bind(op.getResult(), std::move(out));
  return llvm::Error::success();
}

template struct kdac::interp::Evaluator<double>;
template struct kdac::interp::Evaluator<float>;
