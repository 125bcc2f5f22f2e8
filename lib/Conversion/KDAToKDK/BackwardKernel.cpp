//===- BackwardKernel.cpp - Shared machinery of the backward's kernels ----===//
//
// Loading a chunk recomputes the forward's fused prologue on the raw tiles
// (the backward saves nothing of it), and the workspace helpers address
// one tile per chunk slot and value head.
//
//===----------------------------------------------------------------------===//
#include "BackwardKernel.h"
#include "TileProgram.h"

using namespace mlir;

namespace kdac::lowering {

void BackwardKernel::declareInputs() {
  for (StringRef name : {"q", "k", "v"})
    tensor(name);
  if (g.gate != kda::GateGranularity::none)
    tensor("g");
  tensor("beta");
  optionalTensor("A_log");
  optionalTensor("dt_bias");
  if (g.varlen)
    tensor("cu_seqlens");
}

void BackwardKernel::loadRaw(StringRef name, Value batch, Value token,
                             Value rows, Value head, Value dst) {
  // q and k are read by q/k head, the rest by value head; a per-head gate
  // (and beta) has one value per row, which a 2-D tile broadcasts over K.
  bool qk = name == "q" || name == "k";
  bool perRow = name == "beta" || (name == "g" && bw.gateWidth() == 1);
  int64_t heads = qk ? g.h : g.hv;
  int64_t width = perRow ? 1 : name == "v" ? g.vDim : g.kDim;
  Value tensorHead = qk ? k.div(head, g.hv / g.h) : head;
  // One statement per index op: the IR (and the CUDA) must not depend on
  // the compiler's order of evaluating arguments.
  Value offset = tokenOffset(k, batch, token, seqLen, heads, tensorHead, width);
  if (name == "v" && splitsColumns())
    offset = k.add(offset, firstColumn);
  Value rowStride = k.index(heads * width);
  kdk::LoadTileOp::create(b, loc, args.lookup(name), offset, rows, rowStride,
                          perRow ? 0 : 1, dst, false);
}

ChunkTiles BackwardKernel::loadChunk(Block &body, TileProgram &program,
                                     Value batch, Value token, Value rows,
                                     Value head) {
  auto read = [&](unsigned arg) { return !body.getArgument(arg).use_empty(); };
  auto tileIf = [&](unsigned arg, ArrayRef<int64_t> shape) {
    return read(arg) ? tile(shape) : Value();
  };
  ChunkTiles t{tileIf(0, {g.chunk, g.kDim}), tileIf(1, {g.chunk, g.kDim}),
               tileIf(2, {g.chunk, columns}), tileIf(3, {g.chunk, g.kDim}),
               tileIf(4, {g.chunk})};
  if (t.q)
    loadRaw("q", batch, token, rows, head, t.q);
  if (t.k)
    loadRaw("k", batch, token, rows, head, t.k);
  if (t.v)
    loadRaw("v", batch, token, rows, head, t.v);
  if (t.gate && g.gate != kda::GateGranularity::none)
    loadRaw("g", batch, token, rows, head, t.gate);
  else if (t.gate)
    kdk::FillOp::create(b, loc, t.gate, b.getF64FloatAttr(0.0));
  if (t.beta)
    loadRaw("beta", batch, token, rows, head, t.beta);
  const BackwardPrologue &p = bw.prologue;
  bool l2 = p.qkL2Norm && (t.q || t.k);
  bool activation = p.activation != kda::GateActivation::none && t.gate;
  bool sigmoid = p.betaSigmoid && t.beta;
  if (l2 || activation || sigmoid) {
    k.barrier();
    if (l2) {
      if (t.q)
        kdk::L2NormRowsOp::create(b, loc, t.q);
      if (t.k)
        kdk::L2NormRowsOp::create(b, loc, t.k);
    }
    if (activation)
      kdk::GateActivationOp::create(
          b, loc, t.gate, head, rows, args.lookup("A_log"),
          args.lookup("dt_bias"), p.activation,
          p.lowerBound ? b.getF64FloatAttr(p.lowerBound->convertToDouble())
                       : FloatAttr(),
          g.gate == kda::GateGranularity::scalar, /*cumulative=*/false);
    if (sigmoid)
      kdk::SigmoidOp::create(b, loc, t.beta, rows);
  }
  Value tilesInOrder[] = {t.q, t.k, t.v, t.gate, t.beta};
  for (auto [i, tile] : llvm::enumerate(tilesInOrder))
    if (tile)
      program.bindDonated(body.getArgument(i), tile);
  return t;
}

void BackwardKernel::declarePrepared(ValueRange prepared) {
  for (Value value : prepared)
    workspace(bw.preparedOf(value).ws);
}

SmallVector<Value> valueColumnArgs(const Backward &bw, ValueRange prepared,
                                   Block &body, unsigned firstArg) {
  SmallVector<Value> args;
  for (auto [i, value] : llvm::enumerate(prepared))
    if (bw.preparedOf(value).valueColumns)
      args.push_back(body.getArgument(firstArg + i));
  return args;
}

void BackwardKernel::loadPrepared(ValueRange prepared, Block &body,
                                  unsigned firstArg, TileProgram &program,
                                  Value slot, Value head) {
  for (auto [i, value] : llvm::enumerate(prepared)) {
    BlockArgument arg = body.getArgument(firstArg + i);
    const PreparedValue &p = bw.preparedOf(value);
    SmallVector<int64_t> shape(p.ws.tileType.getShape());
    if (p.valueColumns)
      shape.back() = columns;
    Value dst = tile(shape);
    loadSlot(p.ws, slot, head, dst, {}, p.valueColumns, /*async=*/true);
    program.bindDonated(arg, dst);
  }
}

void BackwardKernel::awaitLoads() {
  if (loadsInFlight)
    kdk::WaitAsyncOp::create(b, loc);
  loadsInFlight = false;
  k.barrier();
}

ChunkSlot BackwardKernel::enterChunkSlot() {
  ChunkSlot c;
  c.slot = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 0);
  c.head = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 1);
  Type index = b.getIndexType();
  auto located = kdk::LocateChunkOp::create(
      b, loc, b.getI1Type(), index, index, index, index, c.slot, seqLen,
      args.lookup("cu_seqlens"), g.chunk);
  k.enterIf(located.getValid());
  c.batch = located.getBatch();
  c.token = located.getStart();
  c.rows = located.getRows();
  return c;
}

Value BackwardKernel::loadDO(Value batch, Value token, Value rows,
                             Value head) {
  Value dO = tile({g.chunk, columns});
  Value offset = tokenOffset(k, batch, token, seqLen, g.hv, head, g.vDim);
  if (splitsColumns())
    offset = k.add(offset, firstColumn);
  Value rowStride = k.index(g.hv * g.vDim);
  // An f32 do arrives by cp.async like the prepared tiles (cp.async does
  // not convert).
  Value buffer = args.lookup("do");
  bool async = cast<MemRefType>(buffer.getType()).getElementType().isF32();
  kdk::LoadTileOp::create(b, loc, buffer, offset, rows, rowStride, 1, dO,
                          async);
  loadsInFlight |= async;
  return dO;
}

Value BackwardKernel::slotOffset(const WorkspaceSpec &ws, Value slot,
                                 Value head, bool valueColumns) {
  Value offset =
      k.mul(k.add(k.mul(slot, g.hv), head), ws.tileType.getNumElements());
  return splitsColumns() && valueColumns ? k.add(offset, firstColumn) : offset;
}

/// A workspace tile's rows and row stride: a vector is a column of
/// elements.
static std::pair<int64_t, int64_t> rowsAndStride(const WorkspaceSpec &ws) {
  ArrayRef<int64_t> shape = ws.tileType.getShape();
  return {shape[0], shape.size() == 2 ? shape[1] : 1};
}

void BackwardKernel::loadSlot(const WorkspaceSpec &ws, Value slot, Value head,
                              Value dst, Value rows, bool valueColumns,
                              bool async) {
  auto [allRows, stride] = rowsAndStride(ws);
  // One statement per index op: the IR (and the CUDA) must not depend on
  // the compiler's order of evaluating arguments.
  Value rowStride = k.index(stride);
  Value rowCount = rows ? rows : k.index(allRows);
  Value offset = slotOffset(ws, slot, head, valueColumns);
  kdk::LoadTileOp::create(b, loc, args.lookup(ws.name), offset, rowCount,
                          rowStride, 1, dst, async);
  loadsInFlight |= async;
}

void BackwardKernel::storeSlot(Value src, const WorkspaceSpec &ws, Value slot,
                               Value head, Value rows) {
  auto [allRows, stride] = rowsAndStride(ws);
  Value rowStride = k.index(stride);
  Value rowCount = rows ? rows : k.index(allRows);
  Value offset = slotOffset(ws, slot, head);
  kdk::StoreTileOp::create(b, loc, src, args.lookup(ws.name), offset, rowCount,
                           rowStride, 1);
}

Value BackwardKernel::slotInPlace(const WorkspaceSpec &ws, Value slot,
                                  Value head) {
  // A vector's tile is viewed as its one row (global tiles are 2-D).
  SmallVector<int64_t> shape(ws.tileType.getShape());
  if (shape.size() == 1)
    shape.insert(shape.begin(), 1);
  auto type = MemRefType::get(
      shape, ws.tileType.getElementType(),
      StridedLayoutAttr::get(b.getContext(), 0, {shape[1], 1}));
  Value offset = slotOffset(ws, slot, head);
  return kdk::GlobalTileOp::create(b, loc, type, args.lookup(ws.name), offset);
}

void BackwardKernel::transferState(Value tile, StringRef name, Value sequence,
                                   Value head, bool store) {
  Value offset = k.mul(k.add(k.mul(sequence, g.hv), head), g.kDim * g.vDim);
  bool kv = g.layout == kda::StateLayout::kv;
  if (splitsColumns())
    offset = k.add(offset, kv ? firstColumn : k.mul(firstColumn, g.kDim));
  Value rowStride = k.index(kv ? g.vDim : 1);
  int64_t colStride = kv ? 1 : g.kDim;
  if (store)
    kdk::StoreTileOp::create(b, loc, tile, args.lookup(name), offset,
                             k.index(g.kDim), rowStride, colStride);
  else
    kdk::LoadTileOp::create(b, loc, args.lookup(name), offset,
                            k.index(g.kDim), rowStride, colStride, tile,
                            false);
}

Value BackwardKernel::carriedTile(StringRef source, Value &sequence,
                                  Value &head) {
  Value carried = stateTile();
  sequence = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 2);
  head = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 1);
  if (splitsColumns()) {
    Value columnBlock = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 0);
    firstColumn = k.mul(columnBlock, columns);
  }
  if (!source.empty())
    transferState(carried, source, sequence, head, false);
  else
    kdk::FillOp::create(b, loc, carried, b.getF64FloatAttr(0.0));
  k.barrier();
  return carried;
}

LogicalResult BackwardKernel::finish(Operation *anchor) {
  return k.finish(pool, anchor,
                  "backward kernel " + k.getFunction().getName().str(),
                  "use a smaller K or V", kGradPass);
}

} // namespace kdac::lowering
