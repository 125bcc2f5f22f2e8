//===- ChunkScanKernel.cpp - The state-carrying chunk scan of kda -> kdk --===//
//
// Lowers kda.chunk_scan: one thread block per (V tile, value head, sequence)
// walks its sequence's chunks in order with a K x Vt slice of the state in
// shared memory. Per chunk it reads the chunk-parallel kernel's workspace
// tiles and applies the scan's ops: v' = u - w S, o = qg S + Aqk v',
// S = exp(gc_last) S + kg^T v'. The recurrence is independent per column block of V, which is
// where the extra parallelism comes from.
//
// With bf16/f16 operands the state, v' and o live in registers as
// tensor-core accumulators (a #kdk.mma_fragment tile, one 16-column tile
// of the V slice per warp): each product reads its chunk tile from shared
// memory with ldmatrix and the state from registers, so a chunk costs the
// loads and two barriers. f32 specs keep the state in shared memory and
// the f32 products.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace kdac::lowering {

namespace {

class ChunkScanKernelBuilder {
public:
  ChunkScanKernelBuilder(KernelFunction &k, TilePool &pool,
                          const LoopGeometry &g, const SplitPlan &plan,
                          const GlobalArgs &args, bool inRegisters)
      : k(k), b(k.b), loc(k.loc), pool(pool), g(g), plan(plan), args(args),
        inRegisters(inRegisters) {}

  LogicalResult build();

private:
  /// Offset of the state slice [K, Vt] of (sequence, head, V tile) and its
  /// row/column strides, for either state layout.
  struct StateAccess {
    Value offset;
    int64_t rowStride, colStride;
  };
  StateAccess stateAccess(Value sequence, Value head, Value vTile);
  /// Loads a workspace tile of this chunk into `into` (a new tile when
  /// null); `sliceColumns` selects this block's V slice.
  Value loadWorkspace(StringRef name, Value slot, Value head, Value vTile,
                      bool sliceColumns, Value into = {}, bool async = false);
  /// Loads every workspace tile of one chunk at once, so the chunk pays one
  /// round of global-memory latency instead of one per op.
  void loadChunk(Value slot, Value head, Value vTile);
  LogicalResult lowerChunkOp(Operation *op, Value slot, Value head,
                             Value vTile, Value token, Value rows, Value batch);
  /// The same ops on register fragments (inRegisters).
  LogicalResult lowerChunkOpInRegisters(Operation *op, Value head, Value vTile,
                                        Value token, Value rows, Value batch);
  /// The first token of chunk `index` of the sequence and its real rows
  /// (at most C).
  std::pair<Value, Value> chunkSpan(kdk::SequenceRangeOp range, Value index);
  /// Writes the state back after the chunk loop (when there is a final
  /// state).
  void storeFinalState(const StateAccess &access);
  /// An f32 tile in tensor-core accumulator registers, allocated once.
  Value allocAccumulators(ArrayRef<int64_t> shape);
  /// Where this chunk's o rows go in the output.
  Value outputOffset(Value batch, Value token, Value head, Value vTile);
  /// The chunk loop and final store with the state in registers.
  LogicalResult buildChunkLoopInRegisters(kdk::SequenceRangeOp range,
                                          Value head, Value vTile,
                                          const StateAccess &access);
  /// One of the two buffers the register loop alternates between: while
  /// one chunk computes on a stage, the next chunk's loads fill the other.
  struct ChunkStage {
    llvm::StringMap<Value> tiles; ///< shared tiles, filled by cp.async
    Value values;                 ///< u (or v') in registers
  };
  /// Issues one chunk's loads into `stage` without waiting for them.
  void issueChunkLoads(ChunkStage &stage, Value slot, Value head, Value vTile);
  /// Waits for `current`'s loads, issues chunk `index + 1` into `next` and
  /// computes chunk `index` on `current`.
  LogicalResult pipelinedChunk(ChunkStage &current, ChunkStage &next,
                               Value index, kdk::SequenceRangeOp range,
                               Value head, Value vTile);

  KernelFunction &k;
  OpBuilder &b;
  Location loc;
  TilePool &pool;
  const LoopGeometry &g;
  const SplitPlan &plan;
  const GlobalArgs &args;
  const bool inRegisters;

  llvm::StringMap<Value> chunkTiles; ///< this chunk's workspace tiles
  Value outputTile; ///< o of this chunk, started as qg S before v' exists
  Value state;        ///< f32 [K, Vt]
  Value values;       ///< v' [C, Vt] in registers (inRegisters)
  Value stateOperand; ///< the state at chunk entry, as tensor-core operand
  llvm::DenseMap<Value, Value> f32Tiles, operandTiles;
};

ChunkScanKernelBuilder::StateAccess
ChunkScanKernelBuilder::stateAccess(Value sequence, Value head, Value vTile) {
  Value base = k.mul(k.add(k.mul(sequence, g.hv), head), g.kDim * g.vDim);
  Value column = k.mul(vTile, g.valueTile);
  if (g.layout == kda::StateLayout::kv) // [N, HV, K, V]
    return {k.add(base, column), g.vDim, 1};
  return {k.add(base, k.mul(column, g.kDim)), 1, g.kDim}; // [N, HV, V, K]
}

Value ChunkScanKernelBuilder::loadWorkspace(StringRef name, Value slot,
                                             Value head, Value vTile,
                                             bool sliceColumns, Value into,
                                             bool async) {
  const Crossing *c = plan.find(name);
  MemRefType stored = c->workspace.tileType;
  int64_t rowsInTile = stored.getDimSize(0);
  int64_t width = stored.getRank() == 2 ? stored.getDimSize(1) : 1;
  int64_t cols = sliceColumns ? g.valueTile : width;
  SmallVector<int64_t> shape = {rowsInTile};
  if (stored.getRank() == 2)
    shape.push_back(cols);
  Value tile = into ? into : pool.get(shape, stored.getElementType());
  Value offset = k.mul(k.add(k.mul(slot, g.hv), head), stored.getNumElements());
  if (sliceColumns)
    offset = k.add(offset, k.mul(vTile, g.valueTile));
  // One statement per index op: the IR (and the CUDA) must not depend on
  // the compiler's order of evaluating arguments.
  Value rowStride = k.index(width);
  Value rows = k.index(rowsInTile);
  kdk::LoadTileOp::create(b, loc, args.workspaces.lookup(name), offset, rows,
                          rowStride, stored.getRank() == 2 ? 1 : 0, tile,
                          async);
  return tile;
}

/// u and v' are [C, V]: a block reads its V slice only.
static bool isValueSlice(StringRef workspace) {
  return workspace == "u" || workspace == "vnew";
}

void ChunkScanKernelBuilder::loadChunk(Value slot, Value head, Value vTile) {
  chunkTiles.clear();
  for (const Crossing &c : plan.crossings) {
    StringRef name = c.workspace.name;
    chunkTiles[name] =
        loadWorkspace(name, slot, head, vTile, isValueSlice(name));
  }
}

void ChunkScanKernelBuilder::issueChunkLoads(ChunkStage &stage, Value slot,
                                              Value head, Value vTile) {
  for (const Crossing &c : plan.crossings) {
    StringRef name = c.workspace.name;
    if (isValueSlice(name)) {
      // v' starts as u (or is v'): global loads straight into registers.
      loadWorkspace(name, slot, head, vTile, true, stage.values);
      continue;
    }
    Value &tile = stage.tiles[name];
    tile = loadWorkspace(name, slot, head, vTile, false, tile, true);
  }
}

std::pair<Value, Value>
ChunkScanKernelBuilder::chunkSpan(kdk::SequenceRangeOp range, Value index) {
  Value offsetInSequence = k.mul(index, g.chunk);
  Value token = k.add(range.getStart(), offsetInSequence);
  Value left = k.sub(range.getLength(), offsetInSequence);
  Value rows = k.min(k.index(g.chunk), left);
  return {token, rows};
}

void ChunkScanKernelBuilder::storeFinalState(const StateAccess &access) {
  if (!args.finalState)
    return;
  Value rowStride = k.index(access.rowStride);
  Value rows = k.index(g.kDim);
  kdk::StoreTileOp::create(b, loc, state, args.finalState, access.offset, rows,
                           rowStride, access.colStride);
}

Value ChunkScanKernelBuilder::allocAccumulators(ArrayRef<int64_t> shape) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&k.getFunction().getBody().front());
  return kdk::AllocTileOp::create(
      b, loc,
      MemRefType::get(shape, b.getF32Type(), MemRefLayoutAttrInterface(),
                      kdk::MmaFragmentAttr::get(b.getContext())),
      /*offset=*/nullptr);
}

Value ChunkScanKernelBuilder::outputOffset(Value batch, Value token,
                                            Value head, Value vTile) {
  return k.add(tokenOffset(k, batch, token, args.seqLen, g.hv, head, g.vDim),
               k.mul(vTile, g.valueTile));
}

LogicalResult ChunkScanKernelBuilder::lowerChunkOpInRegisters(
    Operation *op, Value head, Value vTile, Value token, Value rows,
    Value batch) {
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](kda::StateApplyOp op) {
        // v' = u - w S: `values` holds u.
        kdk::MmaOp::create(b, loc, chunkTiles.lookup("w"), state, values,
                           false, true, llvm::APFloat(-1.0));
        return success();
      })
      .Case([&](kda::DecayedOutputOp op) {
        kdk::MmaOp::create(b, loc, chunkTiles.lookup("aqk"), values,
                           outputTile, false, true, llvm::APFloat(1.0));
        kdk::StoreTileOp::create(b, loc, outputTile, args.o,
                                 outputOffset(batch, token, head, vTile), rows,
                                 k.index(g.hv * g.vDim), 1);
        return success();
      })
      .Case([&](kda::DecayedStateUpdateOp op) {
        kdk::ScaleRowsOp::create(b, loc, state, chunkTiles.lookup("glast"),
                                 Value());
        kdk::MmaOp::create(b, loc, chunkTiles.lookup("kg"), values, state,
                           true, true, llvm::APFloat(1.0));
        return success();
      })
      .Default([&](Operation *op) {
        return op->emitError() << "convert-kda-to-kdk: no register lowering "
                                  "for state-dependent op '"
                               << op->getName() << "'";
      });
}

LogicalResult ChunkScanKernelBuilder::lowerChunkOp(Operation *op, Value slot,
                                                    Value head, Value vTile,
                                                    Value token, Value rows,
                                                    Value batch) {
  int64_t c = g.chunk, vt = g.valueTile;
  /// The operand-type copy of a state-dependent f32 tile.
  auto operandOf = [&](Value v) -> Value {
    if (Value t = operandTiles.lookup(v))
      return t;
    Value f32 = f32Tiles.lookup(v);
    if (g.operandType.isF32())
      return operandTiles[v] = f32;
    Value t = pool.get({c, vt}, g.operandType);
    kdk::ConvertOp::create(b, loc, f32, t);
    k.barrier();
    return operandTiles[v] = t;
  };
  /// v' as an mma operand: state-dependent (delta) or from the workspace.
  auto valuesOperand = [&](Value v) -> Value {
    if (f32Tiles.count(v))
      return operandOf(v);
    return operandTiles[v] = chunkTiles.lookup("vnew");
  };

  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](kda::StateApplyOp op) {
        Value vn = chunkTiles.lookup("u");
        Value w = chunkTiles.lookup("w");
        kdk::MmaOp::create(b, loc, w, stateOperand, vn, false, true,
                           llvm::APFloat(-1.0));
        k.barrier();
        f32Tiles[op.getResult()] = vn;
        return success();
      })
      .Case([&](kda::DecayedOutputOp op) {
        // outputTile already holds qg S (issued with the chunk's first
        // products); add Aqk v' and store the chunk's rows.
        Value values = valuesOperand(op.getValues());
        kdk::MmaOp::create(b, loc, chunkTiles.lookup("aqk"), values, outputTile,
                           false, true, llvm::APFloat(1.0));
        k.barrier();
        // The state update below writes other tiles: no barrier needed
        // between this store and it.
        kdk::StoreTileOp::create(b, loc, outputTile, args.o,
                                 outputOffset(batch, token, head, vTile), rows,
                                 k.index(g.hv * g.vDim), 1);
        return success();
      })
      .Case([&](kda::DecayedStateUpdateOp op) {
        Value kg = chunkTiles.lookup("kg");
        Value decay = chunkTiles.lookup("glast");
        Value values = valuesOperand(op.getValues());
        kdk::ScaleRowsOp::create(b, loc, state, decay, Value());
        k.barrier();
        kdk::MmaOp::create(b, loc, kg, values, state, true, true, llvm::APFloat(1.0));
        k.barrier();
        return success();
      })
      .Default([&](Operation *op) {
        return op->emitError() << "convert-kda-to-kdk: no kernel lowering for "
                                  "state-dependent op '"
                               << op->getName() << "'";
      });
}

LogicalResult ChunkScanKernelBuilder::build() {
  Value vTile = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 0);
  Value head = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 1);
  Value sequence = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 2);
  Type indexType = b.getIndexType();
  auto range = kdk::SequenceRangeOp::create(b, loc, indexType, indexType, indexType, indexType, indexType, sequence, args.seqLen,
                                            args.cuSeqlens, g.chunk);

  state = inRegisters ? allocAccumulators({g.kDim, g.valueTile})
                      : pool.get({g.kDim, g.valueTile}, b.getF32Type());
  StateAccess access = stateAccess(sequence, head, vTile);
  if (args.initialState) {
    Value rowStride = k.index(access.rowStride);
    Value rows = k.index(g.kDim);
    kdk::LoadTileOp::create(b, loc, args.initialState, access.offset, rows,
                            rowStride, access.colStride, state);
  } else
    kdk::FillOp::create(b, loc, state, b.getF64FloatAttr(0.0));
  if (inRegisters) {
    values = allocAccumulators({g.chunk, g.valueTile});
    outputTile = allocAccumulators({g.chunk, g.valueTile});
    return buildChunkLoopInRegisters(range, head, vTile, access);
  }
  k.barrier();
  stateOperand = g.operandType.isF32()
                     ? state
                     : pool.get({g.kDim, g.valueTile}, g.operandType);

  Value step = k.index(1);
  Value first = k.index(0);
  auto forOp =
      scf::ForOp::create(b, loc, first, range.getNumChunks(), step);
  b.setInsertionPointToStart(forOp.getBody());
  Value chunkIndex = forOp.getInductionVar();
  Value slot = k.add(range.getFirstSlot(), chunkIndex);
  auto [token, rows] = chunkSpan(range, chunkIndex);
  // The chunk's loads and the state's operand copy share one barrier.
  loadChunk(slot, head, vTile);
  if (stateOperand != state)
    kdk::ConvertOp::create(b, loc, state, stateOperand);
  k.barrier();
  // qg S needs only the incoming state: issue it alongside v' = u - w S.
  outputTile = Value();
  if (plan.find("qg")) {
    outputTile = pool.get({g.chunk, g.valueTile}, b.getF32Type());
    kdk::MmaOp::create(b, loc, chunkTiles.lookup("qg"), stateOperand,
                       outputTile, false, false, llvm::APFloat(1.0));
    if (!plan.find("u"))
      k.barrier(); // no state_apply to share the barrier with
  }
  f32Tiles.clear();
  operandTiles.clear();
  for (Operation *op : plan.dependentOps)
    if (failed(lowerChunkOp(op, slot, head, vTile, token, rows,
                            range.getBatch())))
      return failure();
  // This iteration's tiles go back to the pool (one release per tile: v'
  // may be both a workspace tile and its own operand copy).
  llvm::SmallPtrSet<void *, 8> released;
  auto release = [&](Value tile) {
    if (released.insert(tile.getAsOpaquePointer()).second)
      pool.release(tile);
  };
  for (auto &entry : chunkTiles)
    release(entry.second);
  if (outputTile)
    release(outputTile);
  for (auto *map : {&f32Tiles, &operandTiles})
    for (auto &entry : *map)
      release(entry.second);

  b.setInsertionPointAfter(forOp);
  storeFinalState(access);
  return success();
}

LogicalResult ChunkScanKernelBuilder::pipelinedChunk(
    ChunkStage &current, ChunkStage &next, Value index,
    kdk::SequenceRangeOp range, Value head, Value vTile) {
  // Every thread's copies for this chunk have landed and, after the
  // barrier, every thread is done with the previous chunk's tiles, which
  // are `next`'s: the next chunk's loads may overwrite them.
  kdk::WaitAsyncOp::create(b, loc);
  k.barrier();
  {
    OpBuilder::InsertionGuard guard(b);
    Value following = k.add(index, k.index(1));
    k.enterIf(k.compare(arith::CmpIPredicate::slt, following, range.getNumChunks()));
    issueChunkLoads(next, k.add(range.getFirstSlot(), following), head, vTile);
  }
  chunkTiles = current.tiles;
  values = current.values;
  auto [token, rows] = chunkSpan(range, index);
  if (Value qg = chunkTiles.lookup("qg"))
    kdk::MmaOp::create(b, loc, qg, state, outputTile, false, false,
                       llvm::APFloat(1.0));
  else
    kdk::FillOp::create(b, loc, outputTile, b.getF64FloatAttr(0.0));
  for (Operation *op : plan.dependentOps)
    if (failed(lowerChunkOpInRegisters(op, head, vTile, token, rows,
                                       range.getBatch())))
      return failure();
  return success();
}

LogicalResult ChunkScanKernelBuilder::buildChunkLoopInRegisters(
    kdk::SequenceRangeOp range, Value head, Value vTile,
    const StateAccess &access) {
  ChunkStage stages[2];
  stages[0].values = values;
  stages[1].values = allocAccumulators({g.chunk, g.valueTile});
  Value chunks = range.getNumChunks();
  {
    OpBuilder::InsertionGuard guard(b);
    k.enterIf(k.compare(arith::CmpIPredicate::slt, k.index(0), chunks));
    issueChunkLoads(stages[0], range.getFirstSlot(), head, vTile);
  }
  // Two chunks per iteration, one on each stage, so every tile is a fixed
  // buffer in the emitted code.
  Value step = k.index(2);
  Value start = k.index(0);
  auto forOp = scf::ForOp::create(b, loc, start, chunks, step);
  b.setInsertionPointToStart(forOp.getBody());
  Value first = forOp.getInductionVar();
  if (failed(pipelinedChunk(stages[0], stages[1], first, range, head, vTile)))
    return failure();
  Value second = k.add(first, k.index(1));
  k.enterIf(k.compare(arith::CmpIPredicate::slt, second, chunks));
  if (failed(pipelinedChunk(stages[1], stages[0], second, range, head, vTile)))
    return failure();

  b.setInsertionPointAfter(forOp);
  storeFinalState(access);
  return success();
}

} // namespace

/// Whether the recurrence can keep its state in tensor-core accumulators:
/// 16-bit operands and every dimension a product touches in whole
/// m16n8k16 steps.
static bool stateFitsAccumulators(const LoopGeometry &g) {
  return !g.operandType.isF32() && g.kDim % 16 == 0 && g.chunk % 16 == 0 &&
         g.valueTile % 16 == 0;
}

LogicalResult buildChunkScanKernel(OpBuilder &builder, ModuleOp module,
                                    kda::ChunkScanOp scan, const LoopGeometry &g,
                                    const SplitPlan &plan,
                                    const KernelOptions &opts,
                                    const InputBindings &inputs) {
  bool inRegisters = stateFitsAccumulators(g);
  int64_t threads = opts.recurrenceBlockThreads;
  if (inRegisters) {
    // One warp per 16 columns of the V slice, fewer if the thread budget
    // says so (each warp then holds several column tiles).
    int64_t tiles = g.valueTile / 16;
    int64_t warps = std::max<int64_t>(1, std::min(tiles, threads / 32));
    while (tiles % warps != 0)
      --warps;
    threads = 32 * warps;
  }
  KernelFunction k(builder, module, "kda_chunk_recurrence", threads,
                   {g.vDim / g.valueTile, g.hv,
                    kdk::GridAttr::kSequences});
  GlobalArgs args = inputs.declareChunkScanKernelArgs(k, g, plan);
  k.beginBody();
  TilePool pool(k, opts.sharedMemoryLimit);
  ChunkScanKernelBuilder kernel(k, pool, g, plan, args, inRegisters);
  if (failed(kernel.build()))
    return failure();
  return k.finish(pool, scan, "recurrence kernel", "use a smaller v-tile");
}

} // namespace kdac::lowering
