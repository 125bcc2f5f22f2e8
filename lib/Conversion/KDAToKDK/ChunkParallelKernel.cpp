//===- ChunkParallelKernel.cpp - The chunk-parallel kernel of kda -> kdk --===//
//
// Lowers kda.chunk_map (the state-independent part of a chunk loop, cut by
// kda-chunk-split) to a kernel with one thread block per (chunk slot, value
// head). Each kda value gets a
// shared-memory tile; ops that rewrite their operand in place (cumsum, the
// prologue) reuse the operand's tile when they are its only reader. Values
// the state-dependent ops need are stored to workspace buffers as soon as
// they exist, and every tile returns to the pool after its last reader.
//
// Ops run in phases between barriers: an op joins the first phase after all
// its operands were written (its ASAP level), so independent ops (the two
// grams, the decays of q and k) share one barrier instead of one each. A
// tile read in a phase is reused only after the phase's barrier.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;

namespace kdac::lowering {

namespace {

/// A kda value's tile and the tile that owns its storage (a subview's root).
struct TileRef {
  Value tile;
  Value root;
};

class ChunkParallelKernelBuilder {
public:
  ChunkParallelKernelBuilder(KernelFunction &k, TilePool &pool, const LoopGeometry &g,
                     const SplitPlan &plan)
      : k(k), b(k.b), loc(k.loc), pool(pool), g(g), plan(plan) {}

  LogicalResult build(kda::ChunkMapOp map, const GlobalArgs &args);

private:
  // Tiles and their lifetimes.
  Value newTile(ArrayRef<int64_t> shape, Type type = {}) {
    return pool.get(shape, type ? type : b.getF32Type());
  }
  void bind(Value v, Value tile, Value root = {}) {
    tiles[v] = {tile, root ? root : tile};
    ++rootUsers[root ? root : tile];
  }
  Value tileOf(Value v) { return tiles.lookup(v).tile; }
  /// A tile an op may overwrite in place: the operand's own if this is its
  /// last reader, nothing else shares the storage and no other op of this
  /// phase reads it; else a fresh copy.
  Value writableCopyOf(Value v, Operation *reader);
  bool writableInPlace(Value v);
  void noteUse(Value v);
  void noteRead(Value v) {
    if (Value root = tiles.lookup(v).root)
      readInPhase.insert(root);
  }
  /// Drops `v`'s tile; its storage is reused after the phase's barrier.
  void retire(Value v);
  /// Ends the phase: a barrier, after which the tiles released in the
  /// phase may be written again.
  void endPhase();
  /// Hands the tiles released since the last barrier back to the pool;
  /// only right after a barrier.
  void releaseAfterBarrier();

  LogicalResult lowerOp(Operation *op);
  void loadInputs(kda::ChunkMapOp map, const GlobalArgs &args);
  /// Where this block's tile of a workspace goes: offset, rows, row stride.
  struct WorkspaceRows {
    Value offset, rows, rowStride;
  };
  WorkspaceRows workspaceRows(MemRefType type);
  void storeWorkspace(StringRef name, Value tile);
  /// Workspace traffic at the start of a phase: stores of the values
  /// computed for a workspace in the last phase, then the stores (as is)
  /// or computations of those whose inputs now exist.
  void emitWorkspaceTraffic();

  KernelFunction &k;
  OpBuilder &b;
  Location loc;
  TilePool &pool;
  const LoopGeometry &g;
  const SplitPlan &plan;

  llvm::DenseMap<Value, TileRef> tiles;
  llvm::DenseMap<Value, int> rootUsers;
  llvm::DenseMap<Value, int> pendingUses;
  llvm::DenseSet<StringRef> started;
  /// Tiles computed for a workspace, stored in the next phase.
  SmallVector<std::pair<const Crossing *, Value>> computed;
  /// Roots read since the last barrier, and tiles waiting for it.
  llvm::DenseSet<Value> readInPhase;
  SmallVector<Value> releasedInPhase;
  llvm::StringMap<Value> workspaceArgs;
  Value slot, head, rows, batch, start;
  /// The gate's only reader, done by the prologue's gate activation.
  kda::CumsumOp fusedCumsum;
};

bool ChunkParallelKernelBuilder::writableInPlace(Value v) {
  TileRef ref = tiles.lookup(v);
  return pendingUses.lookup(v) == 1 && rootUsers.lookup(ref.root) == 1 &&
         ref.tile == ref.root && !readInPhase.contains(ref.root);
}

Value ChunkParallelKernelBuilder::writableCopyOf(Value v, Operation *reader) {
  TileRef ref = tiles.lookup(v);
  if (writableInPlace(v))
    return ref.tile;
  auto type = cast<MemRefType>(ref.tile.getType());
  Value copy = newTile(type.getShape(), type.getElementType());
  kdk::ConvertOp::create(b, loc, ref.tile, copy);
  endPhase();
  return copy;
}

void ChunkParallelKernelBuilder::retire(Value v) {
  auto it = tiles.find(v);
  if (it == tiles.end())
    return;
  Value root = it->second.root;
  tiles.erase(it);
  if (--rootUsers[root] == 0)
    releasedInPhase.push_back(root);
}

void ChunkParallelKernelBuilder::releaseAfterBarrier() {
  for (Value tile : releasedInPhase)
    pool.release(tile);
  releasedInPhase.clear();
}

void ChunkParallelKernelBuilder::endPhase() {
  k.barrier();
  releaseAfterBarrier();
  readInPhase.clear();
}

void ChunkParallelKernelBuilder::noteUse(Value v) {
  if (--pendingUses[v] == 0)
    retire(v);
}

ChunkParallelKernelBuilder::WorkspaceRows
ChunkParallelKernelBuilder::workspaceRows(MemRefType type) {
  int64_t elements = type.getNumElements();
  int64_t rowWidth = type.getRank() == 2 ? type.getDimSize(1) : 1;
  return {k.mul(k.add(k.mul(slot, g.hv), head), elements),
          k.index(type.getDimSize(0)), k.index(rowWidth)};
}

void ChunkParallelKernelBuilder::storeWorkspace(StringRef name, Value tile) {
  auto type = cast<MemRefType>(tile.getType());
  WorkspaceRows at = workspaceRows(type);
  kdk::StoreTileOp::create(b, loc, tile, workspaceArgs.lookup(name), at.offset,
                           at.rows, at.rowStride, type.getRank() == 2 ? 1 : 0);
}

void ChunkParallelKernelBuilder::emitWorkspaceTraffic() {
  for (auto [crossing, tile] : computed) {
    storeWorkspace(crossing->workspace.name, tile);
    releasedInPhase.push_back(tile);
  }
  computed.clear();
  for (const Crossing &c : plan.crossings) {
    if (started.contains(c.workspace.name) ||
        !llvm::all_of(c.inputs, [&](Value v) { return tiles.count(v); }))
      continue;
    started.insert(c.workspace.name);
    MemRefType wsType = c.workspace.tileType;
    // A copy of the workspace's shape is stored as is (the store rounds to
    // the workspace's element type, as a convert would).
    auto inputType = cast<MemRefType>(tileOf(c.inputs[0]).getType());
    switch (c.kind) {
    case Crossing::Copy:
      if (inputType.getShape() == wsType.getShape()) {
        storeWorkspace(c.workspace.name, tileOf(c.inputs[0]));
      } else {
        Value out = newTile(wsType.getShape(), wsType.getElementType());
        kdk::ConvertOp::create(b, loc, tileOf(c.inputs[0]), out);
        computed.push_back({&c, out});
      }
      break;
    case Crossing::DecayToStart: // scale * q * exp(gc), no staging tile
    case Crossing::DecayToLast: { // k * exp(gc_last - gc)
      WorkspaceRows at = workspaceRows(wsType);
      bool toLast = c.kind == Crossing::DecayToLast;
      kdk::StoreDecayedRowsOp::create(
          b, loc, tileOf(c.inputs[0]), tileOf(c.inputs[1]),
          workspaceArgs.lookup(c.workspace.name), at.offset, at.rows,
          at.rowStride, toLast, llvm::APFloat(toLast ? 1.0 : c.scale));
      break;
    }
    case Crossing::LastRowExp: { // exp(gc_last)
      Value out = newTile(wsType.getShape(), wsType.getElementType());
      kdk::LastRowExpOp::create(b, loc, tileOf(c.inputs[0]), out);
      computed.push_back({&c, out});
      break;
    }
    }
    for (Value v : c.inputs) {
      noteRead(v);
      noteUse(v);
    }
  }
}

void ChunkParallelKernelBuilder::loadInputs(kda::ChunkMapOp map,
                                    const GlobalArgs &args) {
  Block &body = map.getBody().front();
  Value tokens = args.seqLen;
  Value qkHead = k.div(head, g.hv / g.h);
  auto load = [&](Value src, Value offset, int64_t rowStride, int64_t colStride,
                  Value dst) {
    kdk::LoadTileOp::create(b, loc, src, offset, rows, k.index(rowStride),
                            colStride, dst);
  };
  int64_t c = g.chunk;
  // v is only scaled by beta into a tensor-core operand (kda.wy): held in
  // the operand type when that is its type in memory (an exact copy, half
  // the shared memory of f32), it rounds once all the same.
  Value vArg = body.getArgument(kda::ChunkMapOp::kV);
  Type vInMemory = cast<MemRefType>(args.v.getType()).getElementType();
  bool vAsOperand = !g.operandType.isF32() && vInMemory == g.operandType &&
                    llvm::all_of(vArg.getUsers(), [](Operation *user) {
                      return isa<kda::WYOp>(user);
                    });
  Value q = newTile({c, g.kDim}), kt = newTile({c, g.kDim});
  Value v = newTile({c, g.vDim}, vAsOperand ? g.operandType : Type());
  Value gate = newTile({c, g.kDim});
  Value beta = newTile({c});
  load(args.q, tokenOffset(k, batch, start, tokens, g.h, qkHead, g.kDim),
       g.h * g.kDim, 1, q);
  load(args.k, tokenOffset(k, batch, start, tokens, g.h, qkHead, g.kDim),
       g.h * g.kDim, 1, kt);
  load(args.v, tokenOffset(k, batch, start, tokens, g.hv, head, g.vDim),
       g.hv * g.vDim, 1, v);
  if (g.gate == kda::GateGranularity::channel)
    load(args.g, tokenOffset(k, batch, start, tokens, g.hv, head, g.kDim),
         g.hv * g.kDim, 1, gate);
  else if (g.gate == kda::GateGranularity::scalar)
    load(args.g, tokenOffset(k, batch, start, tokens, g.hv, head, 1), g.hv, 0,
         gate);
  else
    kdk::FillOp::create(b, loc, gate, b.getF64FloatAttr(0.0));
  load(args.beta, tokenOffset(k, batch, start, tokens, g.hv, head, 1), g.hv, 0,
       beta);
  endPhase();

  // The prologue, fused into the load: element-wise on the fresh tiles.
  if (args.qkL2Norm) {
    kdk::L2NormRowsOp::create(b, loc, q);
    kdk::L2NormRowsOp::create(b, loc, kt);
  }
  // The gate's cumsum, when that is its only use, rides on the activation.
  if (args.activation != kda::GateActivation::none || fusedCumsum)
    kdk::GateActivationOp::create(
        b, loc, gate, head, rows, args.aLog, args.dtBias, args.activation,
        args.lowerBound, g.gate == kda::GateGranularity::scalar,
        fusedCumsum != nullptr);
  if (args.betaSigmoid)
    kdk::SigmoidOp::create(b, loc, beta, rows);
  endPhase();

  bind(body.getArgument(kda::ChunkMapOp::kQ), q);
  bind(body.getArgument(kda::ChunkMapOp::kK), kt);
  bind(body.getArgument(kda::ChunkMapOp::kV), v);
  if (fusedCumsum)
    bind(fusedCumsum.getResult(), gate);
  else
    bind(body.getArgument(kda::ChunkMapOp::kG), gate);
  bind(body.getArgument(kda::ChunkMapOp::kBeta), beta);
}

LogicalResult ChunkParallelKernelBuilder::lowerOp(Operation *op) {
  auto square = [&](Value v) {
    return cast<RankedTensorType>(v.getType()).getShape();
  };
  LogicalResult result =
      llvm::TypeSwitch<Operation *, LogicalResult>(op)
          .Case([&](kda::CumsumOp op) {
            Value t = writableCopyOf(op.getInput(), op);
            kdk::CumsumRowsOp::create(b, loc, t);
            bind(op.getResult(), t);
            return success();
          })
          .Case([&](kda::DecayedGramOp op) {
            Value out = newTile(square(op.getResult()));
            // The direct form; kdk-select-products picks tensor cores.
            kdk::DecayedGramOp::create(
                b, loc, tileOf(op.getLhs()), tileOf(op.getRhs()),
                tileOf(op.getGc()),
                op.getRowScale() ? tileOf(op.getRowScale()) : Value(), out,
                op.getMask(),
                llvm::APFloat(op.getScaleAttr() ? op.getScaleAttr().getValueAsDouble() : 1.0),
                op.getAnchorBlock(), /*tensorCores=*/false, /*firstWarp=*/0);
            bind(op.getResult(), out);
            return success();
          })
          .Case<kda::UTInverseOp, kda::ForwardSubstitutionOp>([&](Operation *op) {
            Value out = newTile(square(op->getResult(0)));
            kdk::TriInverseOp::create(b, loc, tileOf(op->getOperand(0)), out);
            bind(op->getResult(0), out);
            return success();
          })
          .Case([&](kda::ExtractBlockOp op) {
            TileRef src = tiles.lookup(op.getInput());
            Value view = blockView(b, loc, src.tile, op.getRow(), op.getCol(),
                                   square(op.getResult()));
            bind(op.getResult(), view, src.root);
            return success();
          })
          .Case([&](kda::InsertBlockOp op) {
            Value dest = writableCopyOf(op.getDest(), op);
            Value view = blockView(b, loc, dest, op.getRow(), op.getCol(),
                                   square(op.getBlock()));
            kdk::ConvertOp::create(b, loc, tileOf(op.getBlock()), view);
            bind(op.getResult(), dest);
            return success();
          })
          .Case([&](kda::ZeroOp op) {
            Value out = newTile(square(op.getResult()));
            kdk::FillOp::create(b, loc, out, b.getF64FloatAttr(0.0));
            bind(op.getResult(), out);
            return success();
          })
          .Case([&](kda::MatmulOp op) {
            Value out = newTile(square(op.getResult()));
            kdk::MmaOp::create(b, loc, tileOf(op.getLhs()), tileOf(op.getRhs()),
                               out, op.getTransposeLhs(), false,
                               llvm::APFloat(1.0));
            bind(op.getResult(), out);
            return success();
          })
          .Case([&](kda::AddIdentityOp op) {
            Value out = newTile(square(op.getResult()));
            kdk::AddIdentityOp::create(b, loc, tileOf(op.getInput()), out,
                                       op.getNegate());
            bind(op.getResult(), out);
            return success();
          })
          .Case([&](kda::SubOp op) {
            Value out = newTile(square(op.getResult()));
            kdk::SubOp::create(b, loc, tileOf(op.getLhs()), tileOf(op.getRhs()),
                               out);
            bind(op.getResult(), out);
            return success();
          })
          .Case([&](kda::WYOp op) {
            // w = M (beta k exp(gc)), u = M (beta v), on tensor cores. The
            // operands (M's copy, beta k exp(gc), beta v) share one phase.
            Value mF32 = tileOf(op.getM());
            Value vTile = tileOf(op.getV());
            Value m = mF32, vb;
            Value kb = newTile(square(op.getK()), g.operandType);
            kdk::DecayRowsOp::create(b, loc, tileOf(op.getK()), tileOf(op.getGc()),
                                     tileOf(op.getBeta()), kb, false,
                                     llvm::APFloat(1.0));
            if (g.operandType.isF32()) {
              vb = writableCopyOf(op.getV(), op);
              kdk::ScaleRowsOp::create(b, loc, vb, tileOf(op.getBeta()),
                                       Value());
            } else {
              m = newTile(square(op.getM()), g.operandType);
              kdk::ConvertOp::create(b, loc, mF32, m);
              // A v already in the operand type is scaled in place when
              // nothing else reads it.
              bool inPlace =
                  cast<MemRefType>(vTile.getType()).getElementType() ==
                      g.operandType &&
                  writableInPlace(op.getV());
              vb = inPlace ? vTile
                           : newTile(square(op.getV()), g.operandType);
              kdk::ScaleRowsOp::create(b, loc, vTile, tileOf(op.getBeta()), vb);
            }
            endPhase();
            // Operands last read before that barrier (k, v when this is
            // their last reader) are free already: w and u may take them.
            for (Value operand : op->getOperands()) {
              Value tile = tileOf(operand);
              if (tile && tile != vb && tile != m &&
                  pendingUses.lookup(operand) == 1)
                retire(operand);
            }
            releaseAfterBarrier();
            Value w = newTile(square(op.getW())), u = newTile(square(op.getU()));
            kdk::MmaOp::create(b, loc, m, kb, w, false, false,
                               llvm::APFloat(1.0));
            kdk::MmaOp::create(b, loc, m, vb, u, false, false,
                               llvm::APFloat(1.0));
            for (Value t : {kb, vb, m})
              if (t != mF32 && t != vTile)
                releasedInPhase.push_back(t);
            bind(op.getW(), w);
            bind(op.getU(), u);
            return success();
          })
          .Case([&](kda::ScaleRowsOp op) {
            Value t = writableCopyOf(op.getInput(), op);
            kdk::ScaleRowsOp::create(b, loc, t, tileOf(op.getRowScale()),
                                     Value());
            bind(op.getResult(), t);
            return success();
          })
          .Default([&](Operation *op) {
            return op->emitError()
                   << "convert-kda-to-kdk: no kernel lowering for '"
                   << op->getName() << "' in the chunk-parallel kernel";
          });
  return result;
}

LogicalResult ChunkParallelKernelBuilder::build(kda::ChunkMapOp map,
                                        const GlobalArgs &args) {
  for (const Crossing &c : plan.crossings)
    workspaceArgs[c.workspace.name] = args.workspaces.lookup(c.workspace.name);
  // The gate's bound on the log-decay, for the passes that choose the
  // grams' form (kdk-select-products).
  if (args.activation == kda::GateActivation::lowerbound && args.lowerBound)
    k.getFunction()->setAttr(
        kdk::kDecayBoundAttr,
        b.getF64FloatAttr(std::abs(args.lowerBound.getValueAsDouble())));

  slot = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 0);
  head = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 1);
  Type indexType = b.getIndexType();
  auto located = kdk::LocateChunkOp::create(b, loc, b.getI1Type(), indexType, indexType, indexType, indexType, slot, args.seqLen,
                                            args.cuSeqlens, g.chunk);
  k.enterIf(located.getValid());
  batch = located.getBatch();
  start = located.getStart();
  rows = located.getRows();

  Value gateArg = map.getBody().front().getArgument(kda::ChunkMapOp::kG);
  if (gateArg.hasOneUse())
    if (auto cumsum = dyn_cast<kda::CumsumOp>(*gateArg.getUsers().begin()))
      if (llvm::is_contained(plan.independentOps, cumsum.getOperation()))
        fusedCumsum = cumsum;

  // Every reader of a value counts, including the workspace stores planned
  // for it; a tile is released when the count drops to zero.
  for (Operation *op : plan.independentOps)
    if (op != fusedCumsum)
      for (Value operand : op->getOperands())
        ++pendingUses[operand];
  for (const Crossing &c : plan.crossings)
    for (Value v : c.inputs)
      ++pendingUses[v];

  // ASAP levels: the loaded inputs are level 0; an op runs in the phase
  // after its latest operand's (a view is only an address: same level).
  llvm::DenseMap<Value, int> level;
  llvm::DenseMap<Operation *, int> opLevel;
  int lastLevel = 0;
  for (Operation *op : plan.independentOps) {
    if (op == fusedCumsum)
      continue;
    int l = 0;
    for (Value operand : op->getOperands())
      l = std::max(l, level.lookup(operand));
    if (!isa<kda::ExtractBlockOp>(op))
      ++l;
    opLevel[op] = std::max(l, 1);
    for (Value result : op->getResults())
      level[result] = l;
    lastLevel = std::max(lastLevel, l);
  }

  loadInputs(map, args);
  for (BlockArgument arg : map.getBody().front().getArguments())
    if (pendingUses.lookup(arg) == 0)
      retire(arg);
  for (int phase = 1;; ++phase) {
    emitWorkspaceTraffic();
    for (Operation *op : plan.independentOps) {
      if (op == fusedCumsum || opLevel.lookup(op) != phase)
        continue;
      if (failed(lowerOp(op)))
        return failure();
      for (Value operand : op->getOperands()) {
        noteRead(operand);
        noteUse(operand);
      }
      for (Value result : op->getResults())
        if (pendingUses.lookup(result) == 0)
          retire(result);
    }
    bool moreWork = phase < lastLevel || !computed.empty() ||
                    started.size() != plan.crossings.size();
    // (A crossing whose inputs never appear is reported below.)
    if (!moreWork || phase > lastLevel + 2)
      break;
    endPhase();
  }
  if (started.size() != plan.crossings.size())
    return map.emitError() << "convert-kda-to-kdk: internal error: not every "
                               "workspace value was produced";
  return success();
}

} // namespace

LogicalResult buildChunkParallelKernel(OpBuilder &builder, ModuleOp module,
                               kda::ChunkMapOp map, const LoopGeometry &g,
                               const SplitPlan &plan, const KernelOptions &opts,
                               const InputBindings &inputs) {
  KernelFunction k(builder, module, "kda_chunk_prep", opts.blockThreads,
                   {kdk::GridAttr::kChunkSlots, g.hv, 1});
  GlobalArgs args = inputs.declareChunkParallelKernelArgs(k, g, plan);
  k.beginBody();
  TilePool pool(k, opts.sharedMemoryLimit);
  ChunkParallelKernelBuilder kernel(k, pool, g, plan);
  if (failed(kernel.build(map, args)))
    return failure();
  return k.finish(pool, map, "chunk-parallel kernel",
                  "use a smaller chunk size");
}

} // namespace kdac::lowering
