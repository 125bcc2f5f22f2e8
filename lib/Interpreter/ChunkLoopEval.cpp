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
llvm::Error kdac::interp::inChunk(llvm::Error e, int64_t n, int64_t hv,
                           int64_t chunk) {
  return llvm::make_error<llvm::StringError>(
      "in chunk " + std::to_string(chunk) + " of sequence " +
          std::to_string(n) + ", value head " + std::to_string(hv) + ": " +
          llvm::toString(std::move(e)),
      llvm::inconvertibleErrorCode());
}

template <typename T>
ChunkTiles<T> kdac::interp::gatherChunk(const SequenceTensors<T> &in,
                                        bool channel, int64_t hv, int64_t start,
                                        int64_t rows, int64_t C) {
  const int64_t H = in.geo.H, HV = in.geo.HV, K = in.geo.K, V = in.geo.V;
  const int64_t h = hv / (HV / H);
  ChunkTiles<T> c{Tensor<T>::zeros({C, K}), Tensor<T>::zeros({C, K}),
                  Tensor<T>::zeros({C, V}), Tensor<T>::zeros({C, K}),
                  Tensor<T>::zeros({C})};
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = start + r;
    for (int64_t d = 0; d < K; ++d) {
      c.q.at(r, d) = in.q->data[(t * H + h) * K + d];
      c.k.at(r, d) = in.k->data[(t * H + h) * K + d];
      if (in.g)
        c.g.at(r, d) = channel ? in.g->data[(t * HV + hv) * K + d]
                               : in.g->data[t * HV + hv];
    }
    for (int64_t d = 0; d < V; ++d)
      c.v.at(r, d) = in.v->data[(t * HV + hv) * V + d];
    c.beta.data[r] = in.beta->data[t * HV + hv];
  }
  return c;
}

template <typename T>
void kdac::interp::bindChunkTiles(Block &body, ChunkTiles<T> tiles,
                                  Env<T> &env) {
  env.bind(body.getArgument(kda::ChunkLoopOp::kQ), std::move(tiles.q));
  env.bind(body.getArgument(kda::ChunkLoopOp::kK), std::move(tiles.k));
  env.bind(body.getArgument(kda::ChunkLoopOp::kV), std::move(tiles.v));
  env.bind(body.getArgument(kda::ChunkLoopOp::kG), std::move(tiles.g));
  env.bind(body.getArgument(kda::ChunkLoopOp::kBeta), std::move(tiles.beta));
}

template ChunkTiles<double> kdac::interp::gatherChunk(
    const SequenceTensors<double> &, bool, int64_t, int64_t, int64_t, int64_t);
template ChunkTiles<float> kdac::interp::gatherChunk(
    const SequenceTensors<float> &, bool, int64_t, int64_t, int64_t, int64_t);
template void kdac::interp::bindChunkTiles(Block &, ChunkTiles<double>,
                                           Env<double> &);
template void kdac::interp::bindChunkTiles(Block &, ChunkTiles<float>,
                                           Env<float> &);

std::vector<SequenceChunks>
kdac::interp::chunksOf(const SequenceGeometry &geo, int64_t C,
                       int64_t &numSlots) {
  std::vector<SequenceChunks> chunks(geo.N);
  numSlots = 0;
  for (int64_t n = 0; n < geo.N; ++n) {
    chunks[n].firstSlot = numSlots;
    for (int64_t start = geo.bos[n]; start < geo.eos[n]; start += C)
      chunks[n].starts.push_back(start);
    numSlots += int64_t(chunks[n].starts.size());
  }
  return chunks;
}

template <typename T>
llvm::Error kdac::interp::runForwardChunk(Block &body, ChunkTiles<T> tiles,
                                          Tensor<T> &state, const Env<T> &env,
                                          Tensor<T> *o,
                                          std::vector<Tensor<T>> prepared) {
  auto yield = dyn_cast<kda::YieldOp>(body.getTerminator());
  const unsigned numArgs = kda::ChunkLoopOp::kNumBodyArgs + prepared.size();
  if (!yield || body.getNumArguments() != numArgs)
    return opError(body.getParentOp(),
                   "expects a body of " + llvm::Twine(numArgs) +
                       " arguments ending in kda.yield");
  const int64_t C = tiles.q.dim(0), K = state.dim(0), V = state.dim(1);
  Env<T> chunkEnv(&env);
  bindChunkTiles(body, std::move(tiles), chunkEnv);
  chunkEnv.bind(body.getArgument(kda::ChunkLoopOp::kState), std::move(state));
  for (auto [i, tile] : llvm::enumerate(prepared))
    chunkEnv.bind(body.getArgument(kda::ChunkLoopOp::kNumBodyArgs + i),
                  std::move(tile));
  for (Operation &inner : body.without_terminator())
    if (llvm::Error e = Evaluator<T>::evaluateOp(&inner, chunkEnv))
      return e;
  const Tensor<T> *yo = chunkEnv.lookup(yield.getO());
  const Tensor<T> *ys = chunkEnv.lookup(yield.getState());
  if (!yo || !ys || yo->isInteger || ys->isInteger)
    return opError(yield, "yields a value the body did not compute");
  if (llvm::Error e = expectShape(yield, "o", yo->shape, {C, V}))
    return e;
  if (llvm::Error e = expectShape(yield, "state", ys->shape, {K, V}))
    return e;
  if (o)
    *o = *yo;
  state = *ys;
  return llvm::Error::success();
}

template llvm::Error kdac::interp::runForwardChunk(Block &, ChunkTiles<double>,
                                                   Tensor<double> &,
                                                   const Env<double> &,
                                                   Tensor<double> *,
                                                   std::vector<Tensor<double>>);
template llvm::Error kdac::interp::runForwardChunk(Block &, ChunkTiles<float>,
                                                   Tensor<float> &,
                                                   const Env<float> &,
                                                   Tensor<float> *,
                                                   std::vector<Tensor<float>>);

template <typename T>
llvm::Error kdac::interp::expectSlotTiles(Operation *op, StringRef what,
                                          ValueRange values, Block &body,
                                          unsigned firstArg, const Env<T> &env,
                                          int64_t numSlots, int64_t hv) {
  for (auto [i, value] : llvm::enumerate(values)) {
    const Tensor<T> &all = env[value];
    auto tileShape =
        cast<RankedTensorType>(body.getArgument(firstArg + i).getType())
            .getShape();
    SmallVector<int64_t> want = {numSlots, hv};
    want.append(tileShape.begin(), tileShape.end());
    if (all.isInteger)
      return opError(op, "expects " + what + " of floats");
    if (llvm::Error e = expectShape(op, what, all.shape, want))
      return e;
  }
  return llvm::Error::success();
}

template llvm::Error kdac::interp::expectSlotTiles(Operation *, StringRef,
                                                   ValueRange, Block &,
                                                   unsigned,
                                                   const Env<double> &,
                                                   int64_t, int64_t);
template llvm::Error kdac::interp::expectSlotTiles(Operation *, StringRef,
                                                   ValueRange, Block &,
                                                   unsigned,
                                                   const Env<float> &,
                                                   int64_t, int64_t);

template <typename T>
std::vector<Tensor<T>> kdac::interp::slotTiles(ValueRange values,
                                               const Env<T> &env, int64_t slot,
                                               int64_t hv) {
  std::vector<Tensor<T>> tiles;
  for (Value value : values) {
    const Tensor<T> &all = env[value];
    Tensor<T> tile = Tensor<T>::zeros(ArrayRef(all.shape).drop_front(2));
    const int64_t elements = int64_t(tile.data.size());
    auto from = all.data.begin() + (slot * all.shape[1] + hv) * elements;
    std::copy(from, from + elements, tile.data.begin());
    tiles.push_back(std::move(tile));
  }
  return tiles;
}

template std::vector<Tensor<double>>
kdac::interp::slotTiles(ValueRange, const Env<double> &, int64_t, int64_t);
template std::vector<Tensor<float>>
kdac::interp::slotTiles(ValueRange, const Env<float> &, int64_t, int64_t);

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ChunkLoopOp op, Env<T> &env) {
  llvm::Expected<SequenceTensors<T>> inputs = readSequenceTensors(op, env);
  if (!inputs)
    return inputs.takeError();
  const Tensor<T> *initial = inputs->initial;
  const SequenceGeometry &geo = inputs->geo;
  const int64_t HV = geo.HV, K = geo.K, V = geo.V;
  const int64_t C = op.getChunkSize();
  if (C <= 0)
    return opError(op, "needs a positive chunk_size, got " + llvm::Twine(C));
  Block &body = op.getBody().front();
  const bool channel = op.getGate() == kda::GateGranularity::channel;
  Tensor<T> o = Tensor<T>::zeros({geo.B, geo.T, HV, V});
  Tensor<T> finalState = Tensor<T>::zeros(geo.stateShape());
  for (int64_t n = 0; n < geo.N; ++n) {
    for (int64_t hv = 0; hv < HV; ++hv) {
      const int64_t slot = (n * HV + hv) * K * V;
      Tensor<T> S = readStateSlot(initial, geo, slot);
      for (int64_t start = geo.bos[n], chunk = 0; start < geo.eos[n];
           start += C, ++chunk) {
        const int64_t rows = std::min(C, geo.eos[n] - start);
        Tensor<T> chunkOut;
        if (llvm::Error e = runForwardChunk(
                body, gatherChunk(*inputs, channel, hv, start, rows, C), S,
                env, &chunkOut))
          return inChunk(std::move(e), n, hv, chunk);
        scatterOutputRows(chunkOut, start, rows, hv, geo, o);
      }
      writeStateSlot(S, geo, slot, finalState);
    }
  }
  env.bind(op.getO(), std::move(o));
  if (op.getFinalState())
    env.bind(op.getFinalState(), std::move(finalState));
  return llvm::Error::success();
}

template struct kdac::interp::Evaluator<double>;
template struct kdac::interp::Evaluator<float>;
