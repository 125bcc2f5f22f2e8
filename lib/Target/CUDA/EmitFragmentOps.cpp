//===- EmitFragmentOps.cpp - kdk ops on register fragments ----------------===//
//
// A tile of a #kdk.fragment memory space lives in registers, spread over the
// block as that layout and runtime/device/kdac/kdac_fragment.cuh describe; the
// C++ variable is a kdac::Fragment whose type carries the shape, so the
// calls here pass no shapes. Only the ops a register-resident state needs
// have a fragment form: load, store, fill, row scaling, mma with the
// fragment as B (a vector times the state) or as an accumulated rank-one
// product, and delta_step (a whole token on the state; its form on a
// shared state tile, kdac_shared_state.cuh, is emitted here too). An
// #kdk.mma_fragment tile (kdac_mma_fragment.cuh, the chunked recurrence's
// state) is a kdac::MmaFragment: load, store (of its first `rows` rows),
// fill, row scaling and tensor-core mma with it as B and out. Anything else
// on a fragment is an error at the op, never a silent shared-memory access.
//
//===----------------------------------------------------------------------===//
#include "DeviceCall.h"

#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace kdac::cuda;

/// A #kdk.mma_fragment tile: whole 16-column tiles per warp.
static LogicalResult emitMmaFragmentAlloc(CudaEmitter &emitter,
                                          kdk::AllocTileOp op,
                                          TileRef fragment) {
  int64_t threads = emitter.getBlockThreads();
  fragment.pointer = emitter.bindNewName(op.getTile()).str();
  fragment.mmaLayout = true;
  emitter.ostream() << "kdac::MmaFragment<NT, " << fragment.rows << ", "
                    << fragment.cols << "> " << fragment.pointer << "; // "
                    << fragment.rows * fragment.cols / threads
                    << " accumulators per thread\n";
  emitter.bindTile(op.getTile(), fragment);
  return success();
}

LogicalResult kdac::cuda::emitFragmentAlloc(CudaEmitter &emitter,
                                            kdk::AllocTileOp op,
                                            TileRef fragment) {
  MemRefType tileType = op.getTile().getType();
  if (kdk::isMmaFragment(tileType))
    return emitMmaFragmentAlloc(emitter, op, fragment);
  // The kdk.alloc_tile verifier checked the layout against the block.
  auto layout = cast<kdk::FragmentLayoutAttr>(tileType.getMemorySpace());
  int64_t axis = layout.getAxis(), vector = layout.getVector(),
          lanes = layout.getLanes();
  int64_t threads = emitter.getBlockThreads();
  FailureOr<StringRef> type = getCppType(op, fragment.elementType);
  if (failed(type))
    return failure();
  fragment.pointer = emitter.bindNewName(op.getTile()).str();
  int64_t perThread = fragment.rows * fragment.cols / threads;
  emitter.ostream() << "kdac::Fragment<kdac::FragmentLayout<NT, "
                    << fragment.rows << ", " << fragment.cols << ", " << axis
                    << ", " << vector << ", " << lanes << ">, " << *type
                    << "> " << fragment.pointer << "; // " << perThread
                    << " elements per thread\n";
  emitter.bindTile(op.getTile(), fragment);
  return success();
}

LogicalResult kdac::cuda::emitFragmentLoad(CudaEmitter &emitter,
                                           kdk::LoadTileOp op,
                                           const TileRef &fragment) {
  return DeviceCall(emitter, op, "fragmentLoad")
      .withoutBlockThreads()
      .value(op.getSrc())
      .value(op.getOffset())
      .value(op.getRowStride())
      .arg(Twine(op.getColStride()))
      .arg(fragment.pointer)
      .emit();
}

LogicalResult kdac::cuda::emitFragmentStore(CudaEmitter &emitter,
                                            kdk::StoreTileOp op,
                                            const TileRef &fragment) {
  // A chunk's output (an mma_fragment) stores only its real rows;
  // a vector-layout fragment moves whole (the verifier checked its rows).
  bool storesRows = fragment.mmaLayout;
  DeviceCall call(emitter, op,
                  storesRows ? "fragmentStoreRows" : "fragmentStore");
  call.withoutBlockThreads()
      .arg(fragment.pointer)
      .value(op.getDst())
      .value(op.getOffset());
  if (storesRows)
    call.value(op.getRows());
  return call.value(op.getRowStride())
      .arg(Twine(op.getColStride()))
      .emit();
}

LogicalResult kdac::cuda::emitFragmentFill(CudaEmitter &emitter,
                                           kdk::FillOp op,
                                           const TileRef &fragment) {
  return DeviceCall(emitter, op, "fragmentFill")
      .withoutBlockThreads()
      .arg(fragment.pointer)
      .floatArg(op.getValue().convertToDouble())
      .emit();
}

LogicalResult kdac::cuda::emitFragmentScaleRows(CudaEmitter &emitter,
                                                kdk::ScaleRowsOp op,
                                                const TileRef &fragment,
                                                const TileRef &rowScale) {
  return DeviceCall(emitter, op, "fragmentScaleRows")
      .withoutBlockThreads()
      .arg(fragment.pointer)
      .tile(rowScale)
      .emit();
}

/// The element stride of a shared operand seen as a vector: a 1 x n tile
/// walks its row, an n x 1 tile its column.
static FailureOr<int64_t> vectorStride(Operation *op, StringRef what,
                                       const TileRef &tile, int64_t length) {
  if (tile.rows == 1 && tile.cols == length)
    return int64_t(1);
  if (tile.cols == 1 && tile.rows == length)
    return tile.ld;
  return op->emitOpError() << "expects " << what << " to be a vector of "
                           << length << " elements";
}

LogicalResult kdac::cuda::emitFragmentMma(CudaEmitter &emitter,
                                          kdk::MmaOp op, const TileRef &lhs,
                                          const TileRef &rhs,
                                          const TileRef &out) {
  double alpha = op.getAlpha().convertToDouble();
  // out (+)= alpha op(A) B on tensor cores, B and out accumulator fragments.
  // The kdk.mma verifier matched the shapes and checked each form's
  // operands (A 16-bit with aligned rows next to mma_fragments, A
  // and out single rows with a fragment B, a depth of one into a fragment).
  if (rhs.mmaLayout && out.mmaLayout) {
    return DeviceCall(emitter, op, "fragmentMma")
        .withoutBlockThreads()
        .templateFlag(op.getTransposeLhs())
        .templateFlag(op.getAccumulate())
        .arg(lhs.pointer)
        .arg(Twine(lhs.ld))
        .arg(rhs.pointer)
        .arg(out.pointer)
        .floatArg(alpha)
        .emit();
  }
  // out(0, :) (+)= alpha * a^T B with B the fragment.
  if (rhs.inRegisters && !out.inRegisters) {
    FailureOr<int64_t> aStride = vectorStride(op, "A", lhs, rhs.rows);
    if (failed(aStride))
      return failure();
    FailureOr<int64_t> outStride = vectorStride(op, "out", out, rhs.cols);
    if (failed(outStride))
      return failure();
    return DeviceCall(emitter, op, "fragmentVectorTimes")
        .withoutBlockThreads()
        .templateFlag(op.getAccumulate())
        .arg(lhs.pointer)
        .arg(Twine(*aStride))
        .arg(rhs.pointer)
        .arg(out.pointer)
        .arg(Twine(*outStride))
        .floatArg(alpha)
        .emit();
  }
  // out += alpha * a b^T with out the fragment and a depth of one.
  if (out.inRegisters && !rhs.inRegisters && op.getAccumulate() &&
      rhs.rows == 1) {
    FailureOr<int64_t> aStride = vectorStride(op, "A", lhs, out.rows);
    if (failed(aStride))
      return failure();
    FailureOr<int64_t> bStride = vectorStride(op, "B", rhs, out.cols);
    if (failed(bStride))
      return failure();
    return DeviceCall(emitter, op, "fragmentRankOneUpdate")
        .withoutBlockThreads()
        .arg(lhs.pointer)
        .arg(Twine(*aStride))
        .arg(rhs.pointer)
        .arg(Twine(*bStride))
        .arg(out.pointer)
        .floatArg(alpha)
        .emit();
  }
  return op.emitOpError()
         << "with a register fragment supports only a vector times the "
            "fragment, or an accumulated rank-one product into it";
}

/// Row `token` of a G-row tile as a contiguous vector (of G values when
/// `tile` is one-dimensional).
static TileRef tokenRow(const TileRef &tile, StringRef token) {
  // ld steps rows of a 2-D tile and elements of a 1-D one.
  TileRef row = tile;
  row.pointer = "(" + tile.pointer + " + " + token.str() + " * " +
                std::to_string(tile.ld) + ")";
  row.rows = 1;
  if (tile.isVector)
    row.cols = 1;
  row.ld = 1;
  return row;
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::DeltaStepOp op) {
  FailureOr<TileRef> state = emitter.getTileOrFragment(op, op.getState());
  FailureOr<std::optional<TileRef>> decay =
      emitter.getOptionalTile(op, op.getDecay());
  if (failed(state) || failed(decay))
    return failure();
  std::optional<std::string> token;
  if (op.getToken()) {
    FailureOr<std::string> name = emitter.getName(op, op.getToken());
    if (failed(name))
      return failure();
    token = *name;
    if (*decay)
      **decay = tokenRow(**decay, *token);
  }
  SmallVector<TileRef> vectors;
  for (Value tile : {op.getQ(), op.getK(), op.getV(), op.getBeta(), op.getOut()}) {
    FailureOr<TileRef> ref = emitter.getTile(op, tile);
    if (failed(ref))
      return failure();
    vectors.push_back(token ? tokenRow(*ref, *token) : *ref);
  }
  const TileRef &q = vectors[0], &k = vectors[1], &v = vectors[2],
                &beta = vectors[3], &out = vectors[4];
  FailureOr<int64_t> qStride = vectorStride(op, "q", q, state->rows);
  FailureOr<int64_t> kStride = vectorStride(op, "k", k, state->rows);
  FailureOr<int64_t> vStride = vectorStride(op, "v", v, state->cols);
  FailureOr<int64_t> outStride = vectorStride(op, "out", out, state->cols);
  if (failed(qStride) || failed(kStride) || failed(vStride) ||
      failed(outStride))
    return failure();
  DeviceCall call(emitter, op,
                  state->inRegisters ? "fragmentDeltaStep" : "sharedDeltaStep");
  call.withoutBlockThreads()
      .templateFlag(op.getAdditive())
      .templateFlag(decay->has_value());
  if (state->inRegisters) {
    call.arg(state->pointer);
  } else {
    call.templateArg("NT")
        .templateArg(state->rows)
        .templateArg(state->cols)
        .tile(*state);
  }
  call.arg(q.pointer)
      .arg(Twine(*qStride))
      .arg(k.pointer)
      .arg(Twine(*kStride))
      .arg(v.pointer)
      .arg(Twine(*vStride))
      .arg(beta.pointer)
      .optionalVector(*decay)
      .arg(out.pointer)
      .arg(Twine(*outStride))
      .floatArg(op.getScale().convertToDouble());
  if (op.getStoreTo())
    call.value(op.getStoreTo())
        .value(op.getStoreOffset())
        .value(op.getStoreRowStride());
  return call.emit();
}

LogicalResult kdac::cuda::printOperation(CudaEmitter &emitter,
                                         kdk::ChunkStateStoreOp op) {
  TileRef state, decay, keys, values;
  if (failed(getTiles(emitter, op,
                      {op.getState(), op.getDecay(), op.getKeys(),
                       op.getValues()},
                      {&state, &decay, &keys, &values})))
    return failure();
  return DeviceCall(emitter, op, "sharedChunkStateStore")
      .withoutBlockThreads()
      .templateArg("NT")
      .templateArg(state.rows)
      .templateArg(state.cols)
      .templateArg(keys.rows)
      .tile(state)
      .tile(decay)
      .tile(keys)
      .tile(values)
      .value(op.getDst())
      .value(op.getOffset())
      .value(op.getRowStride())
      .emit();
}
