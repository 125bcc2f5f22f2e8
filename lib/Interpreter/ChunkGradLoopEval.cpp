//===- ChunkGradLoopEval.cpp - kda.chunk_grad_loop ------------------------===//
//
// The backward chunk loop: per sequence and value head, the forward region
// runs over the chunks to give each one's entering state (kept here; a
// kernel may save or recompute them), then the backward region runs on the
// chunks in reverse, carrying the state's cotangent from dht (or zero) back
// to dh0. Tiles are gathered and zero-padded as kda.chunk_loop's are, and
// only the real rows' gradients are scattered back.
//
//===----------------------------------------------------------------------===//
#include "Evaluator.h"

using namespace mlir;
using namespace kdac::interp;

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::RecurrenceGradOp op, Env<T> &env) {
  return opError(op, "is interpreted after kda-chunk (the chunked stage); the "
                     "fp64 oracle (lib/Reference) is its token-by-token form");
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ChunkGradLoopOp op, Env<T> &env) {
  llvm::Expected<SequenceTensors<T>> inputs = readSequenceTensors(op, env);
  if (!inputs)
    return inputs.takeError();
  const SequenceGeometry &geo = inputs->geo;
  const int64_t B = geo.B, T_ = geo.T, HV = geo.HV, K = geo.K, V = geo.V;
  const int64_t C = op.getChunkSize();
  if (C <= 0)
    return opError(op, "needs a positive chunk_size, got " + llvm::Twine(C));
  const Tensor<T> &dO = env[op.getDOut()];
  if (llvm::Error e = expectShape(op, "do", dO.shape, {B, T_, HV, V}))
    return e;
  const Tensor<T> *dht = op.getDht() ? &env[op.getDht()] : nullptr;
  if (dht)
    if (llvm::Error e = expectShape(op, "dht", dht->shape, geo.stateShape()))
      return e;
  if (op.getBackward().empty())
    return opError(op, "has no backward body yet: run kda-chunk-adjoint");
  Block &forward = op.getForward().front(), &backward = op.getBackward().front();
  auto yield = dyn_cast<kda::GradYieldOp>(backward.getTerminator());
  if (!yield ||
      backward.getNumArguments() != kda::ChunkGradLoopOp::kNumBackwardArgs)
    return opError(op, "expects a backward body of 8 arguments ending in "
                       "kda.grad_yield");

  const bool channel = op.getGate() == kda::GateGranularity::channel;
  Tensor<T> dq = Tensor<T>::zeros({B, T_, HV, K}), dk = dq;
  Tensor<T> dv = Tensor<T>::zeros({B, T_, HV, V});
  Tensor<T> dg = inputs->g ? Tensor<T>::zeros(inputs->g->shape) : Tensor<T>();
  Tensor<T> dbeta = Tensor<T>::zeros({B, T_, HV});
  Tensor<T> dh0 = Tensor<T>::zeros(geo.stateShape());
  for (int64_t n = 0; n < geo.N; ++n) {
    for (int64_t hv = 0; hv < HV; ++hv) {
      const int64_t slot = (n * HV + hv) * K * V;
      std::vector<int64_t> starts;
      std::vector<Tensor<T>> entering;
      Tensor<T> S = readStateSlot(inputs->initial, geo, slot);
      for (int64_t start = geo.bos[n]; start < geo.eos[n]; start += C) {
        starts.push_back(start);
        entering.push_back(S);
        const int64_t rows = std::min(C, geo.eos[n] - start);
        if (llvm::Error e = runForwardChunk(
                forward, gatherChunk(*inputs, channel, hv, start, rows, C), S,
                env, static_cast<Tensor<T> *>(nullptr)))
          return inChunk(std::move(e), n, hv, int64_t(starts.size()) - 1);
      }

      Tensor<T> dS = readStateSlot(dht, geo, slot);
      for (int64_t chunk = int64_t(starts.size()) - 1; chunk >= 0; --chunk) {
        const int64_t start = starts[chunk];
        const int64_t rows = std::min(C, geo.eos[n] - start);
        Env<T> chunkEnv(&env);
        bindChunkTiles(backward,
                       gatherChunk(*inputs, channel, hv, start, rows, C),
                       chunkEnv);
        Tensor<T> dOChunk = Tensor<T>::zeros({C, V});
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t d = 0; d < V; ++d)
            dOChunk.at(r, d) = dO.data[((start + r) * HV + hv) * V + d];
        using Arg = kda::ChunkGradLoopOp::BackwardArg;
        chunkEnv.bind(backward.getArgument(Arg::kState),
                      std::move(entering[chunk]));
        chunkEnv.bind(backward.getArgument(Arg::kDO), std::move(dOChunk));
        chunkEnv.bind(backward.getArgument(Arg::kDNextState), std::move(dS));
        for (Operation &inner : backward.without_terminator())
          if (llvm::Error e = evaluateOp(&inner, chunkEnv))
            return inChunk(std::move(e), n, hv, chunk);

        SmallVector<const Tensor<T> *, 6> y;
        for (Value value : yield.getOperands()) {
          const Tensor<T> *t = chunkEnv.lookup(value);
          if (!t || t->isInteger)
            return opError(yield, "yields a value the body did not compute");
          y.push_back(t);
        }
        const SmallVector<int64_t, 2> shapes[] = {{C, K}, {C, K}, {C, V},
                                                  {C, K}, {C},    {K, V}};
        for (auto [t, shape] : llvm::zip(y, shapes))
          if (llvm::Error e = expectShape(yield, "a gradient", t->shape, shape))
            return e;
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t t = start + r;
          for (int64_t d = 0; d < K; ++d) {
            dq.data[(t * HV + hv) * K + d] = y[0]->at(r, d);
            dk.data[(t * HV + hv) * K + d] = y[1]->at(r, d);
            if (inputs->g && channel)
              dg.data[(t * HV + hv) * K + d] = y[3]->at(r, d);
            else if (inputs->g)
              dg.data[t * HV + hv] += y[3]->at(r, d); // broadcast over K
          }
          for (int64_t d = 0; d < V; ++d)
            dv.data[(t * HV + hv) * V + d] = y[2]->at(r, d);
          dbeta.data[t * HV + hv] = y[4]->data[r];
        }
        dS = *y[5];
      }
      writeStateSlot(dS, geo, slot, dh0);
    }
  }
  unsigned next = 0;
  for (Tensor<T> *grad : {&dq, &dk, &dv})
    env.bind(op.getGrads()[next++], std::move(*grad));
  if (inputs->g)
    env.bind(op.getGrads()[next++], std::move(dg));
  env.bind(op.getGrads()[next++], std::move(dbeta));
  if (inputs->initial)
    env.bind(op.getGrads()[next++], std::move(dh0));
  return llvm::Error::success();
}

template struct kdac::interp::Evaluator<double>;
template struct kdac::interp::Evaluator<float>;
