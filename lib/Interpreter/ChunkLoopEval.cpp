//===- ChunkLoopEval.cpp - kda.chunk_loop ---------------------------------===//
//
// The loop over sequences, value heads and chunks that kda-chunk produces.
// It gathers each chunk into the body's small f32 operands, zero-padding the
// rows past the end of the sequence (the op's contract: zero rows leave the
// state and the real rows unchanged), runs the body in a fresh child
// environment, scatters the real output rows and carries the state.
//
//===----------------------------------------------------------------------===//
#include "Evaluator.h"

using namespace mlir;
using namespace kdac::interp;

/// Prefixes an error from the body with the chunk it happened in.
static llvm::Error inChunk(llvm::Error e, int64_t n, int64_t hv,
                           int64_t chunk) {
  return llvm::make_error<llvm::StringError>(
      "in chunk " + std::to_string(chunk) + " of sequence " +
          std::to_string(n) + ", value head " + std::to_string(hv) + ": " +
          llvm::toString(std::move(e)),
      llvm::inconvertibleErrorCode());
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ChunkLoopOp op, Env<T> &env) {
  llvm::Expected<SequenceTensors<T>> inputs = readSequenceTensors(op, env);
  if (!inputs)
    return inputs.takeError();
  const Tensor<T> &qIn = *inputs->q, &kIn = *inputs->k, &vIn = *inputs->v,
                  &betaIn = *inputs->beta;
  const Tensor<T> *gIn = inputs->g, *initial = inputs->initial;
  const SequenceGeometry &geo = inputs->geo;
  const int64_t H = geo.H, HV = geo.HV, K = geo.K, V = geo.V;
  const int64_t C = op.getChunkSize();
  if (C <= 0)
    return opError(op, "needs a positive chunk_size, got " + llvm::Twine(C));

  Block &body = op.getBody().front();
  if (body.getNumArguments() != kda::ChunkLoopOp::kNumBodyArgs)
    return opError(op, "expects a body with 6 arguments");
  auto yield = dyn_cast<kda::YieldOp>(body.getTerminator());
  if (!yield)
    return opError(op, "expects the body to end in kda.yield");

  const bool channel = op.getGate() == kda::GateGranularity::channel;
  const int64_t groupSize = HV / H;
  Tensor<T> o = Tensor<T>::zeros({geo.B, geo.T, HV, V});
  Tensor<T> finalState = Tensor<T>::zeros(geo.stateShape());
  for (int64_t n = 0; n < geo.N; ++n) {
    for (int64_t hv = 0; hv < HV; ++hv) {
      const int64_t h = hv / groupSize;
      const int64_t slot = (n * HV + hv) * K * V;
      Tensor<T> S = Tensor<T>::zeros({K, V});
      if (initial)
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < V; ++j)
            S.at(i, j) = initial->data[slot + geo.stateIndex(i, j)];

      for (int64_t start = geo.bos[n], chunk = 0; start < geo.eos[n];
           start += C, ++chunk) {
        const int64_t rows = std::min(C, geo.eos[n] - start);
        Tensor<T> q = Tensor<T>::zeros({C, K}), k = Tensor<T>::zeros({C, K}),
                  v = Tensor<T>::zeros({C, V}), g = Tensor<T>::zeros({C, K}),
                  beta = Tensor<T>::zeros({C});
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t t = start + r;
          for (int64_t d = 0; d < K; ++d) {
            q.at(r, d) = qIn.data[(t * H + h) * K + d];
            k.at(r, d) = kIn.data[(t * H + h) * K + d];
            if (gIn)
              g.at(r, d) = channel ? gIn->data[(t * HV + hv) * K + d]
                                   : gIn->data[t * HV + hv];
          }
          for (int64_t d = 0; d < V; ++d)
            v.at(r, d) = vIn.data[(t * HV + hv) * V + d];
          beta.data[r] = betaIn.data[t * HV + hv];
        }

        Env<T> chunkEnv(&env);
        chunkEnv.bind(body.getArgument(kda::ChunkLoopOp::kQ), std::move(q));
        chunkEnv.bind(body.getArgument(kda::ChunkLoopOp::kK), std::move(k));
        chunkEnv.bind(body.getArgument(kda::ChunkLoopOp::kV), std::move(v));
        chunkEnv.bind(body.getArgument(kda::ChunkLoopOp::kG), std::move(g));
        chunkEnv.bind(body.getArgument(kda::ChunkLoopOp::kBeta),
                      std::move(beta));
        chunkEnv.bind(body.getArgument(kda::ChunkLoopOp::kState), std::move(S));
        for (Operation &inner : body.without_terminator())
          if (llvm::Error e = evaluateOp(&inner, chunkEnv))
            return inChunk(std::move(e), n, hv, chunk);

        const Tensor<T> *yo = chunkEnv.lookup(yield.getO());
        const Tensor<T> *ys = chunkEnv.lookup(yield.getState());
        if (!yo || !ys || yo->isInteger || ys->isInteger)
          return opError(yield, "yields a value the body did not compute");
        if (llvm::Error e = expectShape(yield, "o", yo->shape, {C, V}))
          return e;
        if (llvm::Error e = expectShape(yield, "state", ys->shape, {K, V}))
          return e;
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t d = 0; d < V; ++d)
            o.data[((start + r) * HV + hv) * V + d] = yo->at(r, d);
        S = *ys;
      }

      for (int64_t i = 0; i < K; ++i)
        for (int64_t j = 0; j < V; ++j)
          finalState.data[slot + geo.stateIndex(i, j)] = S.at(i, j);
    }
  }
  env.bind(op.getO(), std::move(o));
  if (op.getFinalState())
    env.bind(op.getFinalState(), std::move(finalState));
  return llvm::Error::success();
}

template struct kdac::interp::Evaluator<double>;
template struct kdac::interp::Evaluator<float>;
