//===- ChunkGradLoopEval.cpp - The backward chunk loops -------------------===//
//
// kda.chunk_grad_loop: per sequence and value head, the forward region runs
// over the chunks to give each one's entering state, then the backward
// region runs on the chunks in reverse, carrying the state's cotangent from
// dht (or zero) back to dh0. Its split form: kda.chunk_states (the forward
// scan), kda.chunk_state_grads (the reverse scan of the cotangent) and
// kda.chunk_grad_map (every chunk on its own), which exchange per-chunk-slot
// states. Tiles are gathered and zero-padded as kda.chunk_loop's are, and
// only the real rows' gradients are scattered back.
//
//===----------------------------------------------------------------------===//
#include "Evaluator.h"

using namespace mlir;
using namespace kdac::interp;

namespace {

/// A backward body's yields for one chunk: dq, dk, dv, dg, dbeta, dstate.
template <typename T> struct ChunkGrads {
  Tensor<T> dq, dk, dv, dg, dbeta, dstate;
};

/// Accumulates one chunk's real rows into the loop's gradient tensors.
template <typename T> struct GradScatter {
  Tensor<T> dq, dk, dv, dg, dbeta;
  bool hasGate = false, channel = false;

  GradScatter(const SequenceGeometry &geo, const Tensor<T> *g, bool channel)
      : dq(Tensor<T>::zeros({geo.B, geo.T, geo.HV, geo.K})), dk(dq),
        dv(Tensor<T>::zeros({geo.B, geo.T, geo.HV, geo.V})),
        dg(g ? Tensor<T>::zeros(g->shape) : Tensor<T>()),
        dbeta(Tensor<T>::zeros({geo.B, geo.T, geo.HV})), hasGate(g),
        channel(channel) {}

  void add(const ChunkGrads<T> &y, const SequenceGeometry &geo, int64_t hv,
           int64_t start, int64_t rows) {
    const int64_t HV = geo.HV, K = geo.K, V = geo.V;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t t = start + r;
      for (int64_t d = 0; d < K; ++d) {
        dq.data[(t * HV + hv) * K + d] = y.dq.at(r, d);
        dk.data[(t * HV + hv) * K + d] = y.dk.at(r, d);
        if (hasGate && channel)
          dg.data[(t * HV + hv) * K + d] = y.dg.at(r, d);
        else if (hasGate)
          dg.data[t * HV + hv] += y.dg.at(r, d); // broadcast over K
      }
      for (int64_t d = 0; d < V; ++d)
        dv.data[(t * HV + hv) * V + d] = y.dv.at(r, d);
      dbeta.data[t * HV + hv] = y.dbeta.data[r];
    }
  }

  /// Binds dq, dk, dv, [dg], dbeta to the first results of \p results.
  unsigned bind(ResultRange results, Env<T> &env) {
    unsigned next = 0;
    for (Tensor<T> *grad : {&dq, &dk, &dv})
      env.bind(results[next++], std::move(*grad));
    if (hasGate)
      env.bind(results[next++], std::move(dg));
    env.bind(results[next++], std::move(dbeta));
    return next;
  }
};

/// The rows [start, start + rows) of do for value head hv, zero-padded.
template <typename T>
Tensor<T> doRows(const Tensor<T> &dO, const SequenceGeometry &geo, int64_t hv,
                 int64_t start, int64_t rows, int64_t C) {
  Tensor<T> tile = Tensor<T>::zeros({C, geo.V});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t d = 0; d < geo.V; ++d)
      tile.at(r, d) = dO.data[((start + r) * geo.HV + hv) * geo.V + d];
  return tile;
}

/// Runs a backward body on one chunk.
template <typename T>
llvm::Expected<ChunkGrads<T>>
runBackwardChunk(Block &body, ChunkTiles<T> tiles, Tensor<T> state,
                 Tensor<T> dO, Tensor<T> dNextState, const Env<T> &env,
                 std::vector<Tensor<T>> prepared = {}) {
  auto yield = dyn_cast<kda::GradYieldOp>(body.getTerminator());
  const unsigned numArgs =
      kda::ChunkGradLoopOp::kNumBackwardArgs + prepared.size();
  if (!yield || body.getNumArguments() != numArgs)
    return opError(body.getParentOp(),
                   "expects a backward body of " + llvm::Twine(numArgs) +
                       " arguments ending in kda.grad_yield");
  const int64_t C = tiles.q.dim(0), K = state.dim(0), V = state.dim(1);
  Env<T> chunkEnv(&env);
  bindChunkTiles(body, std::move(tiles), chunkEnv);
  using Arg = kda::ChunkGradLoopOp::BackwardArg;
  chunkEnv.bind(body.getArgument(Arg::kState), std::move(state));
  chunkEnv.bind(body.getArgument(Arg::kDO), std::move(dO));
  chunkEnv.bind(body.getArgument(Arg::kDNextState), std::move(dNextState));
  for (auto [i, tile] : llvm::enumerate(prepared))
    chunkEnv.bind(body.getArgument(kda::ChunkGradLoopOp::kNumBackwardArgs + i),
                  std::move(tile));
  for (Operation &inner : body.without_terminator())
    if (llvm::Error e = Evaluator<T>::evaluateOp(&inner, chunkEnv))
      return std::move(e);
  SmallVector<Tensor<T>, 6> y;
  const SmallVector<int64_t, 2> shapes[] = {{C, K}, {C, K}, {C, V},
                                            {C, K}, {C},    {K, V}};
  for (auto [value, shape] : llvm::zip(yield.getOperands(), shapes)) {
    const Tensor<T> *t = chunkEnv.lookup(value);
    if (!t || t->isInteger)
      return opError(yield, "yields a value the body did not compute");
    if (llvm::Error e = expectShape(yield, "a gradient", t->shape, shape))
      return std::move(e);
    y.push_back(*t);
  }
  return ChunkGrads<T>{y[0], y[1], y[2], y[3], y[4], y[5]};
}

/// One slot of [slots, HV, K, V] per-chunk states, as a K x V matrix.
template <typename T>
Tensor<T> slotState(const Tensor<T> &states, const SequenceGeometry &geo,
                    int64_t slot, int64_t hv) {
  Tensor<T> S = Tensor<T>::zeros({geo.K, geo.V});
  const int64_t base = (slot * geo.HV + hv) * geo.K * geo.V;
  std::copy(states.data.begin() + base,
            states.data.begin() + base + geo.K * geo.V, S.data.begin());
  return S;
}

template <typename T>
void setSlotState(Tensor<T> &states, const SequenceGeometry &geo, int64_t slot,
                  int64_t hv, const Tensor<T> &S) {
  std::copy(S.data.begin(), S.data.end(),
            states.data.begin() + (slot * geo.HV + hv) * geo.K * geo.V);
}

/// Checks per-slot states against the geometry.
template <typename T>
llvm::Error expectSlotStates(Operation *op, StringRef name, const Tensor<T> &t,
                             const SequenceGeometry &geo, int64_t numSlots) {
  return expectShape(op, name, t.shape, {numSlots, geo.HV, geo.K, geo.V});
}

} // namespace

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
  const int64_t C = op.getChunkSize();
  if (C <= 0)
    return opError(op, "needs a positive chunk_size, got " + llvm::Twine(C));
  const Tensor<T> &dO = env[op.getDOut()];
  if (llvm::Error e =
          expectShape(op, "do", dO.shape, {geo.B, geo.T, geo.HV, geo.V}))
    return e;
  const Tensor<T> *dht = op.getDht() ? &env[op.getDht()] : nullptr;
  if (dht)
    if (llvm::Error e = expectShape(op, "dht", dht->shape, geo.stateShape()))
      return e;
  if (op.getBackward().empty())
    return opError(op, "has no backward body yet: run kda-chunk-adjoint");
  Block &forward = op.getForward().front(), &backward = op.getBackward().front();

  const bool channel = op.getGate() == kda::GateGranularity::channel;
  GradScatter<T> grads(geo, inputs->g, channel);
  Tensor<T> dh0 = Tensor<T>::zeros(geo.stateShape());
  int64_t numSlots = 0;
  std::vector<SequenceChunks> chunks = chunksOf(geo, C, numSlots);
  for (int64_t n = 0; n < geo.N; ++n) {
    for (int64_t hv = 0; hv < geo.HV; ++hv) {
      const int64_t slot = (n * geo.HV + hv) * geo.K * geo.V;
      const std::vector<int64_t> &starts = chunks[n].starts;
      std::vector<Tensor<T>> entering;
      Tensor<T> S = readStateSlot(inputs->initial, geo, slot);
      for (int64_t start : starts) {
        entering.push_back(S);
        const int64_t rows = std::min(C, geo.eos[n] - start);
        if (llvm::Error e = runForwardChunk(
                forward, gatherChunk(*inputs, channel, hv, start, rows, C), S,
                env, static_cast<Tensor<T> *>(nullptr)))
          return inChunk(std::move(e), n, hv, int64_t(entering.size()) - 1);
      }
      Tensor<T> dS = readStateSlot(dht, geo, slot);
      for (int64_t chunk = int64_t(starts.size()) - 1; chunk >= 0; --chunk) {
        const int64_t start = starts[chunk];
        const int64_t rows = std::min(C, geo.eos[n] - start);
        llvm::Expected<ChunkGrads<T>> y = runBackwardChunk(
            backward, gatherChunk(*inputs, channel, hv, start, rows, C),
            std::move(entering[chunk]), doRows(dO, geo, hv, start, rows, C),
            std::move(dS), env);
        if (!y)
          return inChunk(y.takeError(), n, hv, chunk);
        grads.add(*y, geo, hv, start, rows);
        dS = std::move(y->dstate);
      }
      writeStateSlot(dS, geo, slot, dh0);
    }
  }
  unsigned next = grads.bind(op.getGrads(), env);
  if (inputs->initial)
    env.bind(op.getGrads()[next], std::move(dh0));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ChunkStatesOp op, Env<T> &env) {
  llvm::Expected<SequenceTensors<T>> inputs = readSequenceTensors(op, env);
  if (!inputs)
    return inputs.takeError();
  const SequenceGeometry &geo = inputs->geo;
  const int64_t C = op.getChunkSize();
  if (C <= 0)
    return opError(op, "needs a positive chunk_size, got " + llvm::Twine(C));
  const bool channel = op.getGate() == kda::GateGranularity::channel;
  int64_t numSlots = 0;
  std::vector<SequenceChunks> chunks = chunksOf(geo, C, numSlots);
  if (llvm::Error e = expectSlotTiles(op, "a prepared value", op.getPrepared(),
                                      op.getBody().front(),
                                      kda::ChunkLoopOp::kNumBodyArgs, env,
                                      numSlots, geo.HV))
    return e;
  Tensor<T> states = Tensor<T>::zeros({numSlots, geo.HV, geo.K, geo.V});
  for (int64_t n = 0; n < geo.N; ++n)
    for (int64_t hv = 0; hv < geo.HV; ++hv) {
      Tensor<T> S =
          readStateSlot(inputs->initial, geo, (n * geo.HV + hv) * geo.K * geo.V);
      for (auto [chunk, start] : llvm::enumerate(chunks[n].starts)) {
        const int64_t at = chunks[n].firstSlot + chunk;
        setSlotState(states, geo, at, hv, S);
        const int64_t rows = std::min(C, geo.eos[n] - start);
        if (llvm::Error e = runForwardChunk(
                op.getBody().front(),
                gatherChunk(*inputs, channel, hv, start, rows, C), S, env,
                static_cast<Tensor<T> *>(nullptr),
                slotTiles(op.getPrepared(), env, at, hv)))
          return inChunk(std::move(e), n, hv, chunk);
      }
    }
  env.bind(op.getStates(), std::move(states));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ChunkStateGradsOp op, Env<T> &env) {
  llvm::Expected<SequenceTensors<T>> inputs =
      readSequenceTensors(op, env, Value());
  if (!inputs)
    return inputs.takeError();
  const SequenceGeometry &geo = inputs->geo;
  const int64_t C = op.getChunkSize();
  if (C <= 0)
    return opError(op, "needs a positive chunk_size, got " + llvm::Twine(C));
  int64_t numSlots = 0;
  std::vector<SequenceChunks> chunks = chunksOf(geo, C, numSlots);
  const Tensor<T> &states = env[op.getStates()], &dO = env[op.getDOut()];
  if (llvm::Error e = expectSlotStates(op, "states", states, geo, numSlots))
    return e;
  if (llvm::Error e = expectSlotTiles(
          op, "a prepared value", op.getPrepared(), op.getBody().front(),
          kda::ChunkGradLoopOp::kNumBackwardArgs, env, numSlots, geo.HV))
    return e;
  if (llvm::Error e =
          expectShape(op, "do", dO.shape, {geo.B, geo.T, geo.HV, geo.V}))
    return e;
  const Tensor<T> *dht = op.getDht() ? &env[op.getDht()] : nullptr;
  if (dht)
    if (llvm::Error e = expectShape(op, "dht", dht->shape, geo.stateShape()))
      return e;
  const bool channel = op.getGate() == kda::GateGranularity::channel;
  Tensor<T> next = Tensor<T>::zeros({numSlots, geo.HV, geo.K, geo.V});
  Tensor<T> dh0 = Tensor<T>::zeros(geo.stateShape());
  for (int64_t n = 0; n < geo.N; ++n)
    for (int64_t hv = 0; hv < geo.HV; ++hv) {
      const int64_t slot = (n * geo.HV + hv) * geo.K * geo.V;
      Tensor<T> dS = readStateSlot(dht, geo, slot);
      const std::vector<int64_t> &starts = chunks[n].starts;
      for (int64_t chunk = int64_t(starts.size()) - 1; chunk >= 0; --chunk) {
        const int64_t start = starts[chunk], at = chunks[n].firstSlot + chunk;
        const int64_t rows = std::min(C, geo.eos[n] - start);
        setSlotState(next, geo, at, hv, dS);
        llvm::Expected<ChunkGrads<T>> y = runBackwardChunk(
            op.getBody().front(),
            gatherChunk(*inputs, channel, hv, start, rows, C),
            slotState(states, geo, at, hv), doRows(dO, geo, hv, start, rows, C),
            std::move(dS), env, slotTiles(op.getPrepared(), env, at, hv));
        if (!y)
          return inChunk(y.takeError(), n, hv, chunk);
        dS = std::move(y->dstate);
      }
      writeStateSlot(dS, geo, slot, dh0);
    }
  env.bind(op.getNextStateGrads(), std::move(next));
  if (op.getDh0())
    env.bind(op.getDh0(), std::move(dh0));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ChunkGradMapOp op, Env<T> &env) {
  llvm::Expected<SequenceTensors<T>> inputs =
      readSequenceTensors(op, env, Value());
  if (!inputs)
    return inputs.takeError();
  const SequenceGeometry &geo = inputs->geo;
  const int64_t C = op.getChunkSize();
  if (C <= 0)
    return opError(op, "needs a positive chunk_size, got " + llvm::Twine(C));
  int64_t numSlots = 0;
  std::vector<SequenceChunks> chunks = chunksOf(geo, C, numSlots);
  const Tensor<T> &states = env[op.getStates()],
                  &next = env[op.getNextStateGrads()], &dO = env[op.getDOut()];
  if (llvm::Error e = expectSlotStates(op, "states", states, geo, numSlots))
    return e;
  if (llvm::Error e =
          expectSlotStates(op, "next_state_grads", next, geo, numSlots))
    return e;
  if (llvm::Error e =
          expectShape(op, "do", dO.shape, {geo.B, geo.T, geo.HV, geo.V}))
    return e;
  const bool channel = op.getGate() == kda::GateGranularity::channel;
  GradScatter<T> grads(geo, inputs->g, channel);
  for (int64_t n = 0; n < geo.N; ++n)
    for (int64_t hv = 0; hv < geo.HV; ++hv)
      for (auto [chunk, start] : llvm::enumerate(chunks[n].starts)) {
        const int64_t at = chunks[n].firstSlot + chunk;
        const int64_t rows = std::min(C, geo.eos[n] - start);
        llvm::Expected<ChunkGrads<T>> y = runBackwardChunk(
            op.getBody().front(),
            gatherChunk(*inputs, channel, hv, start, rows, C),
            slotState(states, geo, at, hv), doRows(dO, geo, hv, start, rows, C),
            slotState(next, geo, at, hv), env);
        if (!y)
          return inChunk(y.takeError(), n, hv, chunk);
        grads.add(*y, geo, hv, start, rows);
      }
  grads.bind(op.getGrads(), env);
  return llvm::Error::success();
}

template struct kdac::interp::Evaluator<double>;
template struct kdac::interp::Evaluator<float>;
