//===- ChunkSplitEval.cpp - The split forward chunk loop ------------------===//
//
// kda.chunk_map runs its body on every chunk of every sequence and value
// head and keeps each yielded tile in its chunk slot; kda.chunk_scan walks
// each sequence's chunks in order with the state, reading the chunk's tile
// of every map result. Tiles are gathered, zero-padded and scattered as
// kda.chunk_loop's are, so the two loops compute what the loop they came
// from computes, in the same order.
//
//===----------------------------------------------------------------------===//
#include "Evaluator.h"

using namespace mlir;
using namespace kdac::interp;

namespace {

/// Elements of one tile of a per-chunk-slot tensor [slots, HV, tile...].
int64_t tileElements(ArrayRef<int64_t> slotShape) {
  return Tensor<double>::numElementsOf(slotShape.drop_front(2));
}

} // namespace

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ChunkMapOp op, Env<T> &env) {
  llvm::Expected<SequenceTensors<T>> inputs =
      readSequenceTensors(op, env, Value());
  if (!inputs)
    return inputs.takeError();
  const SequenceGeometry &geo = inputs->geo;
  const int64_t C = op.getChunkSize();
  if (C <= 0)
    return opError(op, "needs a positive chunk_size, got " + llvm::Twine(C));
  Block &body = op.getBody().front();
  auto yield = dyn_cast<kda::MapYieldOp>(body.getTerminator());
  if (!yield || body.getNumArguments() != kda::ChunkMapOp::kNumBodyArgs)
    return opError(op, "expects a body of 5 arguments ending in kda.map_yield");
  int64_t numSlots = 0;
  std::vector<SequenceChunks> chunks = chunksOf(geo, C, numSlots);
  // Result i holds yielded tile i per chunk slot and value head.
  SmallVector<Tensor<T>> results;
  for (Value tile : yield.getValues()) {
    llvm::Expected<SmallVector<int64_t>> shape = staticShape(op, tile.getType());
    if (!shape)
      return shape.takeError();
    shape->insert(shape->begin(), {numSlots, geo.HV});
    results.push_back(Tensor<T>::zeros(*shape));
  }
  const bool channel = op.getGate() == kda::GateGranularity::channel;
  for (int64_t n = 0; n < geo.N; ++n)
    for (int64_t hv = 0; hv < geo.HV; ++hv)
      for (auto [chunk, start] : llvm::enumerate(chunks[n].starts)) {
        const int64_t rows = std::min(C, geo.eos[n] - start);
        Env<T> chunkEnv(&env);
        bindChunkTiles(body, gatherChunk(*inputs, channel, hv, start, rows, C),
                       chunkEnv);
        for (Operation &inner : body.without_terminator())
          if (llvm::Error e = Evaluator<T>::evaluateOp(&inner, chunkEnv))
            return inChunk(std::move(e), n, hv, chunk);
        const int64_t slot = chunks[n].firstSlot + chunk;
        for (auto [value, result] : llvm::zip(yield.getValues(), results)) {
          const Tensor<T> *tile = chunkEnv.lookup(value);
          if (!tile || tile->isInteger)
            return opError(yield, "yields a value the body did not compute");
          const int64_t elements = tileElements(result.shape);
          if (llvm::Error e = expectShape(yield, "a tile", tile->shape,
                                          ArrayRef(result.shape).drop_front(2)))
            return e;
          std::copy(tile->data.begin(), tile->data.end(),
                    result.data.begin() + (slot * geo.HV + hv) * elements);
        }
      }
  for (auto [value, result] : llvm::zip(op.getValues(), results))
    env.bind(value, std::move(result));
  return llvm::Error::success();
}

template <typename T>
llvm::Error Evaluator<T>::evaluate(kda::ChunkScanOp op, Env<T> &env) {
  const int64_t C = op.getChunkSize();
  if (C <= 0)
    return opError(op, "needs a positive chunk_size, got " + llvm::Twine(C));
  Block &body = op.getBody().front();
  auto yield = dyn_cast<kda::YieldOp>(body.getTerminator());
  const size_t numValues = op.getChunkValues().size();
  if (!yield || body.getNumArguments() != numValues + 1)
    return opError(op, "expects a body of one argument per chunk value and "
                       "the state, ending in kda.yield");
  auto stateType = cast<RankedTensorType>(body.getArguments().back().getType());
  // The geometry of a recurrence whose v is `like`: the sizes, the
  // sequences and the state's shape are all the scan needs.
  const Tensor<T> &like = env[op.getLike()];
  if (like.rank() != 4)
    return opError(op, "`like` has shape " + shapeString(like.shape) +
                           ", expected [B, T, HV, V]");
  SmallVector<int64_t, 4> qShape = {like.dim(0), like.dim(1), like.dim(2),
                                    stateType.getDimSize(0)};
  SmallVector<int64_t, 3> betaShape = {like.dim(0), like.dim(1), like.dim(2)};
  SequenceOperands s;
  s.q = s.k = qShape;
  s.v = like.shape;
  s.beta = betaShape;
  s.gate = kda::GateGranularity::none;
  s.vkLayout = op.getLayout() == kda::StateLayout::vk;
  const Tensor<T> *initial =
      op.getInitialState() ? &env[op.getInitialState()] : nullptr;
  if (initial)
    s.state = ArrayRef<int64_t>(initial->shape);
  const Tensor<T> *cu = op.getCuSeqlens() ? &env[op.getCuSeqlens()] : nullptr;
  s.cuSeqlens = cu ? &cu->ints : nullptr;
  llvm::Expected<SequenceGeometry> geometry = computeGeometry(op, s);
  if (!geometry)
    return geometry.takeError();
  const SequenceGeometry &geo = *geometry;
  int64_t numSlots = 0;
  std::vector<SequenceChunks> chunks = chunksOf(geo, C, numSlots);
  if (llvm::Error e = expectSlotTiles(op, "a chunk value",
                                      op.getChunkValues(), body, 0, env,
                                      numSlots, geo.HV))
    return e;

  const int64_t HV = geo.HV, K = geo.K, V = geo.V;
  Tensor<T> o = Tensor<T>::zeros({geo.B, geo.T, HV, V});
  Tensor<T> finalState = Tensor<T>::zeros(geo.stateShape());
  for (int64_t n = 0; n < geo.N; ++n)
    for (int64_t hv = 0; hv < HV; ++hv) {
      const int64_t stateSlot = (n * HV + hv) * K * V;
      Tensor<T> S = readStateSlot(initial, geo, stateSlot);
      for (auto [chunk, start] : llvm::enumerate(chunks[n].starts)) {
        const int64_t slot = chunks[n].firstSlot + chunk;
        Env<T> chunkEnv(&env);
        for (auto [i, tile] :
             llvm::enumerate(slotTiles(op.getChunkValues(), env, slot, hv)))
          chunkEnv.bind(body.getArgument(i), std::move(tile));
        chunkEnv.bind(body.getArguments().back(), std::move(S));
        for (Operation &inner : body.without_terminator())
          if (llvm::Error e = Evaluator<T>::evaluateOp(&inner, chunkEnv))
            return inChunk(std::move(e), n, hv, chunk);
        const Tensor<T> *yo = chunkEnv.lookup(yield.getO());
        const Tensor<T> *ys = chunkEnv.lookup(yield.getState());
        if (!yo || !ys || yo->isInteger || ys->isInteger)
          return opError(yield, "yields a value the body did not compute");
        if (llvm::Error e = expectShape(yield, "o", yo->shape, {C, V}))
          return e;
        if (llvm::Error e = expectShape(yield, "state", ys->shape, {K, V}))
          return e;
        scatterOutputRows(*yo, start, std::min(C, geo.eos[n] - start), hv,
                          geo, o);
        S = *ys;
      }
      writeStateSlot(S, geo, stateSlot, finalState);
    }
  env.bind(op.getO(), std::move(o));
  if (op.getFinalState())
    env.bind(op.getFinalState(), std::move(finalState));
  return llvm::Error::success();
}

template struct kdac::interp::Evaluator<double>;
template struct kdac::interp::Evaluator<float>;
