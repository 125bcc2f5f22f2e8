//===- KDASplitOps.cpp - Verifiers of the split forward chunk loop --------===//
//
// kda.chunk_map and kda.chunk_scan meet at per-chunk-slot tensors whose
// trailing dims are the tiles their bodies yield and receive; the checks
// keep the two sides of that exchange, and the crossing ops' tiles, in
// agreement, so a hand-written or mis-rewritten split fails at the op.
//
//===----------------------------------------------------------------------===//
#include "KDA/KDAOps.h"
#include "KDAShapeChecks.h"

#include "kdac/Spec/Limits.h"

#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::kda;

static RankedTensorType typeOf(Value value) {
  return cast<RankedTensorType>(value.getType());
}

static int64_t dim(Value value, unsigned i) {
  return typeOf(value).getDimSize(i);
}

/// A per-chunk-slot tensor [slots, HV, tile...] and the tile it holds.
static LogicalResult verifySlotTile(Operation *op, StringRef what,
                                    RankedTensorType slotType,
                                    RankedTensorType tileType, int64_t hv) {
  ArrayRef<int64_t> shape = slotType.getShape();
  if (slotType.getRank() != tileType.getRank() + 2 || shape[1] != hv ||
      shape.drop_front(2) != tileType.getShape())
    return op->emitOpError()
           << "expects " << what << " to hold one tile of " << tileType
           << " per chunk slot and value head ([slots, " << hv
           << ", tile...]), got " << slotType;
  return success();
}

static RankedTensorType tileOfSlot(RankedTensorType slotType) {
  return RankedTensorType::get(slotType.getShape().drop_front(2),
                               slotType.getElementType());
}

//===----------------------------------------------------------------------===//
// kda.chunk_map
//===----------------------------------------------------------------------===//

LogicalResult ChunkMapOp::verify() {
  int64_t c = getChunkSize(), numStates = 0;
  FailureOr<HeadDims> dims = verifyChunkLoopTensors(
      *this, c, getQ(), getK(), getV(), getV(), getBeta(), getG(), getGate(),
      getCuSeqlens(), numStates);
  if (failed(dims))
    return failure();

  llvm::StringSet<> seen;
  for (Attribute name : getNames()) {
    StringRef text = cast<StringAttr>(name).getValue();
    if (text.empty() || !seen.insert(text).second)
      return emitOpError() << "expects distinct, non-empty names, got "
                           << getNames();
  }
  if (getNames().size() != getValues().size())
    return emitOpError() << "expects one name per result, got "
                         << getNames().size() << " names for "
                         << getValues().size() << " results";

  if (getBody().empty())
    return emitOpError() << "expects a body block (q, k, v, g, beta) ending "
                            "in kda.map_yield";
  Block &body = getBody().front();
  Type f32 = Float32Type::get(getContext());
  SmallVector<Type> expected = {RankedTensorType::get({c, dims->k}, f32),
                                RankedTensorType::get({c, dims->k}, f32),
                                RankedTensorType::get({c, dims->v}, f32),
                                RankedTensorType::get({c, dims->k}, f32),
                                RankedTensorType::get({c}, f32)};
  if (body.getArgumentTypes() != ArrayRef<Type>(expected))
    return emitOpError() << "expects body arguments q, k, v, g, beta of types "
                         << expected << ", got " << body.getArgumentTypes();
  auto yield = body.mightHaveTerminator()
                   ? dyn_cast<MapYieldOp>(body.getTerminator())
                   : MapYieldOp();
  if (!yield)
    return emitOpError() << "expects the body to end in kda.map_yield";
  if (yield.getValues().size() != getValues().size())
    return yield.emitOpError() << "expects one tile per result of the map ("
                               << getValues().size() << "), got "
                               << yield.getValues().size();
  for (auto [i, pair] :
       llvm::enumerate(llvm::zip(yield.getValues(), getValues()))) {
    auto [tile, result] = pair;
    if (!typeOf(tile).hasStaticShape())
      return yield.emitOpError() << "expects static tiles, got "
                                 << tile.getType();
    if (failed(verifySlotTile(*this, "result #" + std::to_string(i),
                              typeOf(result), typeOf(tile), dims->hv)))
      return failure();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// kda.chunk_scan
//===----------------------------------------------------------------------===//

LogicalResult ChunkScanOp::verify() {
  int64_t c = getChunkSize();
  std::string problem = kdac::limits::checkIRChunkSize(c, "chunk_size");
  if (!problem.empty())
    return emitOpError() << "expects " << problem;
  auto oType = typeOf(getO());
  ShapeChecker shapes(*this);
  if (failed(shapes.rank({"o", oType}, 4)) ||
      failed(shapes.floatElement({"o", oType})))
    return failure();
  if (getBody().empty() || getBody().front().getNumArguments() == 0)
    return emitOpError() << "expects a body block (one tile per chunk value, "
                            "then the state) ending in kda.yield";
  Block &body = getBody().front();
  auto stateType = dyn_cast<RankedTensorType>(
      body.getArguments().back().getType());
  HeadDims dims{oType.getDimSize(0), oType.getDimSize(1), 1,
                oType.getDimSize(2), 0, oType.getDimSize(3)};
  if (!stateType || stateType.getRank() != 2 || !stateType.hasStaticShape() ||
      stateType.getDimSize(1) != dims.v)
    return emitOpError() << "expects the last body argument to be the state "
                            "[K, V] with V = "
                         << dims.v << " (o's), got "
                         << body.getArguments().back().getType();
  dims.k = stateType.getDimSize(0);
  auto likeType = typeOf(getLike());
  if (likeType.getRank() != 4 ||
      likeType.getShape().take_front(3) != oType.getShape().take_front(3))
    return emitOpError() << "expects `like` to share o's [B, T, HV] ("
                         << oType << "), got " << likeType;
  FailureOr<int64_t> numStates = verifyCuSeqlens(shapes, getCuSeqlens(), dims);
  if (failed(numStates))
    return failure();
  for (auto [name, state] :
       {std::pair<StringRef, Value>{"initial_state", getInitialState()},
        {"final_state", getFinalState()}})
    if (state && failed(verifyStateTensor(shapes, {name, typeOf(state)},
                                          getLayout(), *numStates, dims)))
      return failure();

  if (body.getNumArguments() != getChunkValues().size() + 1)
    return emitOpError() << "expects a body argument per chunk value and the "
                            "state ("
                         << getChunkValues().size() + 1 << "), got "
                         << body.getNumArguments();
  for (auto [i, value] : llvm::enumerate(getChunkValues())) {
    auto slotType = typeOf(value);
    if (slotType.getRank() < 3)
      return emitOpError() << "expects chunk value #" << i
                           << " per chunk slot and value head, got "
                           << slotType;
    if (body.getArgument(i).getType() != tileOfSlot(slotType))
      return emitOpError() << "expects body argument #" << i << " of type "
                           << tileOfSlot(slotType) << " (a tile of chunk value #"
                           << i << "), got " << body.getArgument(i).getType();
    if (failed(verifySlotTile(*this, "chunk value #" + std::to_string(i),
                              slotType, tileOfSlot(slotType), dims.hv)))
      return failure();
  }
  auto yield = body.mightHaveTerminator()
                   ? dyn_cast<YieldOp>(body.getTerminator())
                   : YieldOp();
  Type f32 = Float32Type::get(getContext());
  if (!yield)
    return emitOpError() << "expects the body to end in kda.yield";
  if (yield.getO().getType() != RankedTensorType::get({c, dims.v}, f32) ||
      yield.getState().getType() != stateType)
    return yield.emitOpError() << "expects to yield the chunk output (" << c
                               << "x" << dims.v << ") and the state ("
                               << dims.k << "x" << dims.v << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// The crossing values and the scan's products
//===----------------------------------------------------------------------===//

LogicalResult DecayRowsOp::verify() {
  if (failed(expectTile(*this, "the input", getInput(),
                        {ShapedType::kDynamic, ShapedType::kDynamic}, "[C, K]")))
    return failure();
  ShapeChecker shapes(*this);
  return verifyScale(shapes, getScale().convertToDouble());
}

LogicalResult LastRowExpOp::verify() {
  if (failed(expectTile(*this, "gc", getGc(),
                        {ShapedType::kDynamic, ShapedType::kDynamic}, "[C, K]")))
    return failure();
  return expectTile(*this, "the result", getResult(), {dim(getGc(), 1)}, "[K]");
}

LogicalResult DecayedOutputOp::verify() {
  if (failed(expectTile(*this, "qg", getQg(),
                        {ShapedType::kDynamic, ShapedType::kDynamic}, "[C, K]")))
    return failure();
  int64_t c = dim(getQg(), 0), kDim = dim(getQg(), 1);
  if (failed(expectTile(*this, "the state", getState(),
                        {kDim, ShapedType::kDynamic}, "[K, V]")) ||
      failed(expectTile(*this, "Aqk", getAqk(), {c, c}, "[C, C]")))
    return failure();
  return expectTile(*this, "the values", getValues(), {c, dim(getState(), 1)},
                    "[C, V]");
}

LogicalResult DecayedStateUpdateOp::verify() {
  if (failed(expectTile(*this, "kg", getKg(),
                        {ShapedType::kDynamic, ShapedType::kDynamic}, "[C, K]")))
    return failure();
  int64_t c = dim(getKg(), 0), kDim = dim(getKg(), 1);
  if (failed(expectTile(*this, "the state", getState(),
                        {kDim, ShapedType::kDynamic}, "[K, V]")) ||
      failed(expectTile(*this, "glast", getGlast(), {kDim}, "[K]")))
    return failure();
  return expectTile(*this, "the values", getValues(), {c, dim(getState(), 1)},
                    "[C, V]");
}
