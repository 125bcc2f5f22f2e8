//===- BackwardKernels.cpp - convert-kda-grad-to-kdk ----------------------===//
//
// The backward's three kernels from its split, decomposed chunk ops: the
// forward scan of the states, the reverse scan of their cotangents and the
// map over every chunk. Each kernel loads its chunk's tiles and runs the
// op's body as a TileProgram; the scans carry their K x V tile across the
// chunk loop and exchange per-chunk-slot states through two workspaces.
//
//===----------------------------------------------------------------------===//
#include "kdac/Conversion/Passes.h"
#include "kdac/Spec/Limits.h"

#include "Lowering.h"
#include "TileProgram.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;

namespace kdac {
#define GEN_PASS_DEF_CONVERTKDAGRADTOKDK
#include "kdac/Conversion/Passes.h.inc"
} // namespace kdac

namespace {
using namespace kdac::lowering;

constexpr const char *kPass = "convert-kda-grad-to-kdk";

Type elementTypeOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

/// What the three kernels share: sizes, and the tensors by launch name.
struct Backward {
  LoopGeometry g;
  llvm::StringMap<Type> tensorTypes;
  int64_t blockThreads = 256, sharedMemoryLimit = 0;
  WorkspaceSpec states, nextStateGrads;
};

/// A kernel of the backward and its argument and index helpers.
class BackwardKernel {
public:
  BackwardKernel(OpBuilder &builder, ModuleOp module, const Backward &bw,
                 StringRef name, ArrayRef<StringRef> grid)
      : bw(bw), g(bw.g), k(builder, module, name, bw.blockThreads, grid),
        b(k.b), loc(k.loc) {}

  Value tensor(StringRef name) {
    return args[name] = k.addTensor(name, bw.tensorTypes.lookup(name));
  }
  Value optionalTensor(StringRef name) {
    return bw.tensorTypes.count(name) ? tensor(name) : Value();
  }
  Value workspace(const WorkspaceSpec &ws) {
    return args[ws.name] = k.addWorkspace(ws, g);
  }
  void declareInputs() {
    for (StringRef name : {"q", "k", "v"})
      tensor(name);
    if (g.gate != kda::GateGranularity::none)
      tensor("g");
    tensor("beta");
    if (g.varlen)
      tensor("cu_seqlens");
  }

  /// Loads one chunk's q, k, v, g, beta (rows [token, token + rows) of
  /// value head `head`, zero past `rows`) and binds the body's arguments.
  void loadChunk(Block &body, TileProgram &program, Value batch, Value token,
                 Value rows, Value head) {
    Value tokens = seqLen;
    Value qkHead = k.div(head, g.hv / g.h);
    auto load = [&](StringRef name, Value offset, int64_t rowStride,
                    int64_t colStride, Value dst) {
      kdk::LoadTileOp::create(b, loc, args.lookup(name), offset, rows,
                              k.index(rowStride), colStride, dst, false);
    };
    Value q = tile({g.chunk, g.kDim}), kt = tile({g.chunk, g.kDim}),
          v = tile({g.chunk, g.vDim}), gate = tile({g.chunk, g.kDim}),
          beta = tile({g.chunk});
    load("q", tokenOffset(k, batch, token, tokens, g.h, qkHead, g.kDim),
         g.h * g.kDim, 1, q);
    load("k", tokenOffset(k, batch, token, tokens, g.h, qkHead, g.kDim),
         g.h * g.kDim, 1, kt);
    load("v", tokenOffset(k, batch, token, tokens, g.hv, head, g.vDim),
         g.hv * g.vDim, 1, v);
    if (g.gate == kda::GateGranularity::channel)
      load("g", tokenOffset(k, batch, token, tokens, g.hv, head, g.kDim),
           g.hv * g.kDim, 1, gate);
    else
      kdk::FillOp::create(b, loc, gate, b.getF64FloatAttr(0.0));
    load("beta", tokenOffset(k, batch, token, tokens, g.hv, head, 1), g.hv, 0,
         beta);
    Value tilesInOrder[] = {q, kt, v, gate, beta};
    for (auto [i, t] : llvm::enumerate(tilesInOrder))
      program.bind(body.getArgument(i), t);
  }

  /// The rows of do for the chunk.
  Value loadDO(Value batch, Value token, Value rows, Value head) {
    Value dO = tile({g.chunk, g.vDim});
    kdk::LoadTileOp::create(
        b, loc, args.lookup("do"),
        tokenOffset(k, batch, token, seqLen, g.hv, head, g.vDim), rows,
        k.index(g.hv * g.vDim), 1, dO, false);
    return dO;
  }

  /// Element offset of (slot, head)'s K x V state in a workspace.
  Value slotOffset(Value slot, Value head) {
    return k.mul(k.add(k.mul(slot, g.hv), head), g.kDim * g.vDim);
  }
  void loadSlot(StringRef workspace, Value slot, Value head, Value dst) {
    kdk::LoadTileOp::create(b, loc, args.lookup(workspace),
                            slotOffset(slot, head), k.index(g.kDim),
                            k.index(g.vDim), 1, dst, false);
  }
  void storeSlot(Value src, StringRef workspace, Value slot, Value head) {
    kdk::StoreTileOp::create(b, loc, src, args.lookup(workspace),
                             slotOffset(slot, head), k.index(g.kDim),
                             k.index(g.vDim), 1);
  }
  /// A user-facing [N, HV, K, V] (or [N, HV, V, K]) state of `sequence`.
  void transferState(Value tile, StringRef name, Value sequence, Value head,
                     bool store) {
    Value offset = k.mul(k.add(k.mul(sequence, g.hv), head), g.kDim * g.vDim);
    bool kv = g.layout == kda::StateLayout::kv;
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

  Value tile(ArrayRef<int64_t> shape) { return pool.get(shape, b.getF32Type()); }

  /// The K x V tile a scan carries, filled from the user tensor `source`
  /// (initial_state, dht) or zero when the spec has none; `sequence` and
  /// `head` come from the block ids.
  Value carriedTile(StringRef source, Value &sequence, Value &head) {
    Value carried = tile({g.kDim, g.vDim});
    sequence = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 2);
    head = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 1);
    if (!source.empty())
      transferState(carried, source, sequence, head, false);
    else
      kdk::FillOp::create(b, loc, carried, b.getF64FloatAttr(0.0));
    k.barrier();
    return carried;
  }

  LogicalResult finish(Operation *anchor) {
    return k.finish(pool, anchor, "backward kernel " +
                                      k.getFunction().getName().str(),
                    "use a smaller K or V", kPass);
  }

  const Backward &bw;
  const LoopGeometry &g;
  KernelFunction k;
  OpBuilder &b;
  Location loc;
  TilePool pool{k, bw.sharedMemoryLimit};
  llvm::StringMap<Value> args;
  Value seqLen;
};

/// One chunk of a scan over the chunks of a (sequence, value head): its
/// batch row, slot, first token and real rows.
struct ScanLoop {
  Value sequence, head, batch, slot, token, rows;
};

/// Opens the chunk loop (in order, or in reverse) and moves the builder
/// into its body.
ScanLoop openScan(BackwardKernel &kernel, Value sequence, Value head,
                  bool reverse) {
  KernelFunction &k = kernel.k;
  OpBuilder &b = kernel.b;
  const LoopGeometry &g = kernel.g;
  ScanLoop s;
  s.head = head;
  s.sequence = sequence;
  Type index = b.getIndexType();
  auto range = kdk::SequenceRangeOp::create(
      b, kernel.loc, index, index, index, index, index, s.sequence,
      kernel.seqLen, kernel.args.lookup("cu_seqlens"), g.chunk);
  s.batch = range.getBatch();
  auto forOp = scf::ForOp::create(b, kernel.loc, k.index(0),
                                  range.getNumChunks(), k.index(1));
  b.setInsertionPointToStart(forOp.getBody());
  Value chunk = forOp.getInductionVar();
  if (reverse)
    chunk = k.sub(k.sub(range.getNumChunks(), k.index(1)), chunk);
  s.slot = k.add(range.getFirstSlot(), chunk);
  Value offset = k.mul(chunk, g.chunk);
  s.token = k.add(range.getStart(), offset);
  s.rows = k.min(k.index(g.chunk), k.sub(range.getLength(), offset));
  return s;
}

/// kda.chunk_states: S enters chunk 0 as the initial state (or zero); each
/// chunk stores its entering S, then the body updates it.
LogicalResult buildStates(OpBuilder &builder, ModuleOp module,
                          const Backward &bw, kda::ChunkStatesOp op) {
  BackwardKernel kernel(builder, module, bw, "kda_bwd_states",
                        {"1", std::to_string(bw.g.hv), "sequences"});
  kernel.declareInputs();
  bool initial = bool(op.getInitialState());
  if (initial)
    kernel.tensor("initial_state");
  kernel.workspace(bw.states);
  kernel.seqLen = kernel.k.addSize("T");
  kernel.k.beginBody();
  OpBuilder &b = kernel.b;
  Value sequence, head;
  Value state =
      kernel.carriedTile(initial ? "initial_state" : "", sequence, head);
  ScanLoop s = openScan(kernel, sequence, head, /*reverse=*/false);
  Block &body = op.getBody().front();
  TileProgram program(kernel.k, kernel.pool);
  kernel.storeSlot(state, bw.states.name, s.slot, s.head);
  kernel.loadChunk(body, program, s.batch, s.token, s.rows, s.head);
  program.bind(body.getArgument(kda::ChunkLoopOp::kState), state);
  kernel.k.barrier();
  auto yield = cast<kda::YieldOp>(body.getTerminator());
  if (failed(program.run(body, {yield.getState(), body.getArgument(
                                                      kda::ChunkLoopOp::kState)})))
    return failure();
  kdk::ConvertOp::create(b, kernel.loc, program.tileOf(yield.getState()), state);
  kernel.k.barrier();
  program.releaseAll();
  return kernel.finish(op);
}

/// kda.chunk_state_grads: dS enters the last chunk as dht (or zero); each
/// chunk, in reverse, stores its dS', then the body gives the dS before it;
/// what leaves chunk 0 is dh0.
LogicalResult buildStateGrads(OpBuilder &builder, ModuleOp module,
                              const Backward &bw, kda::ChunkStateGradsOp op) {
  BackwardKernel kernel(builder, module, bw, "kda_bwd_state_grads",
                        {"1", std::to_string(bw.g.hv), "sequences"});
  kernel.declareInputs();
  kernel.workspace(bw.states);
  kernel.tensor("do");
  bool dht = bool(op.getDht()), dh0 = bool(op.getDh0());
  if (dht)
    kernel.tensor("dht");
  kernel.workspace(bw.nextStateGrads);
  if (dh0)
    kernel.tensor("dh0");
  kernel.seqLen = kernel.k.addSize("T");
  kernel.k.beginBody();
  OpBuilder &b = kernel.b;
  const LoopGeometry &g = bw.g;
  Value sequence, head;
  Value dS = kernel.carriedTile(dht ? "dht" : "", sequence, head);
  Value state = kernel.tile({g.kDim, g.vDim});
  ScanLoop s = openScan(kernel, sequence, head, /*reverse=*/true);
  scf::ForOp loop = cast<scf::ForOp>(b.getInsertionBlock()->getParentOp());
  Block &body = op.getBody().front();
  TileProgram program(kernel.k, kernel.pool);
  kernel.storeSlot(dS, bw.nextStateGrads.name, s.slot, s.head);
  kernel.loadSlot(bw.states.name, s.slot, s.head, state);
  kernel.loadChunk(body, program, s.batch, s.token, s.rows, s.head);
  using Arg = kda::ChunkGradLoopOp::BackwardArg;
  program.bind(body.getArgument(Arg::kState), state);
  program.bind(body.getArgument(Arg::kDO),
               kernel.loadDO(s.batch, s.token, s.rows, s.head));
  program.bind(body.getArgument(Arg::kDNextState), dS);
  kernel.k.barrier();
  auto yield = cast<kda::GradYieldOp>(body.getTerminator());
  Value dState = yield.getOperands().back();
  if (failed(program.run(body, {dState, body.getArgument(Arg::kState),
                                body.getArgument(Arg::kDNextState)})))
    return failure();
  kdk::ConvertOp::create(b, kernel.loc, program.tileOf(dState), dS);
  kernel.k.barrier();
  program.releaseAll();
  b.setInsertionPointAfter(loop);
  if (dh0)
    kernel.transferState(dS, "dh0", sequence, head, true);
  return kernel.finish(op);
}

/// kda.chunk_grad_map: every chunk from its entering state and dS'.
LogicalResult buildMap(OpBuilder &builder, ModuleOp module, const Backward &bw,
                       kda::ChunkGradMapOp op) {
  const LoopGeometry &g = bw.g;
  BackwardKernel kernel(builder, module, bw, "kda_bwd_map",
                        {"chunk_slots", std::to_string(g.hv), "1"});
  kernel.declareInputs();
  kernel.workspace(bw.states);
  kernel.workspace(bw.nextStateGrads);
  kernel.tensor("do");
  SmallVector<StringRef> gradNames = {"dq", "dk", "dv"};
  if (g.gate != kda::GateGranularity::none)
    gradNames.push_back("dg");
  gradNames.push_back("dbeta");
  for (StringRef name : gradNames)
    kernel.tensor(name);
  kernel.seqLen = kernel.k.addSize("T");
  kernel.k.beginBody();
  OpBuilder &b = kernel.b;
  Value slot = kdk::BlockIdOp::create(b, kernel.loc, b.getIndexType(), 0);
  Value head = kdk::BlockIdOp::create(b, kernel.loc, b.getIndexType(), 1);
  Type index = b.getIndexType();
  auto located = kdk::LocateChunkOp::create(
      b, kernel.loc, b.getI1Type(), index, index, index, index, slot,
      kernel.seqLen, kernel.args.lookup("cu_seqlens"), g.chunk);
  kernel.k.enterIf(located.getValid());
  Value batch = located.getBatch(), token = located.getStart(),
        rows = located.getRows();
  Block &body = op.getBody().front();
  TileProgram program(kernel.k, kernel.pool);
  kernel.loadChunk(body, program, batch, token, rows, head);
  using Arg = kda::ChunkGradLoopOp::BackwardArg;
  Value state = kernel.tile({g.kDim, g.vDim}), dNext = kernel.tile({g.kDim, g.vDim});
  kernel.loadSlot(bw.states.name, slot, head, state);
  kernel.loadSlot(bw.nextStateGrads.name, slot, head, dNext);
  program.bind(body.getArgument(Arg::kState), state);
  program.bind(body.getArgument(Arg::kDNextState), dNext);
  program.bind(body.getArgument(Arg::kDO),
               kernel.loadDO(batch, token, rows, head));
  kernel.k.barrier();
  auto yield = cast<kda::GradYieldOp>(body.getTerminator());
  SmallVector<Value> kept(yield.getOperands());
  if (failed(program.run(body, kept)))
    return failure();
  // dq, dk, dv, dg, dbeta: the chunk's real rows, per value head.
  const int64_t widths[] = {g.kDim, g.kDim, g.vDim, g.kDim, 1};
  unsigned next = 0;
  for (unsigned i = 0; i < 5; ++i) {
    if (i == 3 && g.gate == kda::GateGranularity::none)
      continue;
    StringRef name = gradNames[next++];
    kdk::StoreTileOp::create(
        b, kernel.loc, program.tileOf(yield.getOperand(i)),
        kernel.args.lookup(name),
        tokenOffset(kernel.k, batch, token, kernel.seqLen, g.hv, head,
                    widths[i]),
        rows, kernel.k.index(g.hv * widths[i]), widths[i] == 1 ? 0 : 1);
  }
  return kernel.finish(op);
}

struct ConvertKDAGradToKDKPass
    : kdac::impl::ConvertKDAGradToKDKBase<ConvertKDAGradToKDKPass> {
  using ConvertKDAGradToKDKBase::ConvertKDAGradToKDKBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string problem = checkConversionOptions(
        kPass, blockThreads, 0, /*valueTile=*/0,
        sharedMemoryLimit);
    if (!problem.empty()) {
      module.emitError() << problem;
      return signalPassFailure();
    }
    auto states = findSingleOp<kda::ChunkStatesOp>(
        module, kPass, "kda.chunk_states (run kda-chunk-grad-split first)");
    auto grads = findSingleOp<kda::ChunkStateGradsOp>(
        module, kPass, "kda.chunk_state_grads");
    auto map = findSingleOp<kda::ChunkGradMapOp>(module, kPass,
                                                 "kda.chunk_grad_map");
    if (failed(states) || failed(grads) || failed(map) ||
        failed(convert(module, *states, *grads, *map)))
      signalPassFailure();
  }

  LogicalResult convert(ModuleOp module, kda::ChunkStatesOp states,
                        kda::ChunkStateGradsOp grads, kda::ChunkGradMapOp map) {
    auto entry = map->getParentOfType<func::FuncOp>();
    // The kernels write the map's gradients (and dh0) as the function's
    // results: anything between them is a prologue adjoint.
    auto ret = cast<func::ReturnOp>(entry.getBody().front().getTerminator());
    SmallVector<Value> direct(map.getResults());
    if (grads.getDh0())
      direct.push_back(grads.getDh0());
    if (ValueRange(ret.getOperands()) != ValueRange(direct))
      return ret.emitError() << kPass << ": the prologue's adjoints (qk L2 "
                                         "norm, gate activation, beta "
                                         "sigmoid, GVA's group sum) have no "
                                         "kernels yet";
    Backward bw;
    LoopGeometry &g = bw.g;
    g.chunk = map.getChunkSize();
    std::string chunkProblem = kdac::limits::checkKernelChunkSize(
        g.chunk, std::string(kPass) + ": the chunk size");
    if (!chunkProblem.empty())
      return map.emitError() << chunkProblem;
    auto qType = cast<RankedTensorType>(map.getQ().getType());
    auto vType = cast<RankedTensorType>(map.getV().getType());
    g.h = qType.getDimSize(2);
    g.kDim = qType.getDimSize(3);
    g.hv = vType.getDimSize(2);
    g.vDim = vType.getDimSize(3);
    g.gate = map.getGate();
    g.layout = grads.getLayout();
    g.varlen = bool(map.getCuSeqlens());
    g.operandType = g.stateType = Float32Type::get(&getContext());
    if (g.gate == kda::GateGranularity::scalar)
      return map.emitError() << kPass << ": a per-head gate's dg (a sum over "
                                         "K) has no kernel yet";
    for (Operation *op : {states.getOperation(), grads.getOperation(),
                          map.getOperation()})
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp();
            def && !isa<kda::ChunkStatesOp, kda::ChunkStateGradsOp>(def))
          return op->emitError() << kPass << ": the fused prologue (qk L2 "
                                             "norm, gate activation, beta "
                                             "sigmoid) has no backward "
                                             "kernels yet";
    auto bindTensor = [&](StringRef name, Value v) {
      if (v)
        bw.tensorTypes[name] = elementTypeOf(v);
    };
    bindTensor("q", map.getQ());
    bindTensor("k", map.getK());
    bindTensor("v", map.getV());
    bindTensor("g", map.getG());
    bindTensor("beta", map.getBeta());
    bindTensor("cu_seqlens", map.getCuSeqlens());
    bindTensor("initial_state", states.getInitialState());
    bindTensor("do", map.getDOut());
    bindTensor("dht", grads.getDht());
    bindTensor("dh0", grads.getDh0());
    const char *gradNames[] = {"dq", "dk", "dv", "dg", "dbeta"};
    unsigned next = 0;
    for (unsigned i = 0; i < 5; ++i) {
      if (i == 3 && !map.getG())
        continue;
      bindTensor(gradNames[i], map.getResult(next++));
    }
    Type f32 = Float32Type::get(&getContext());
    bw.states = {"states", tileType({g.kDim, g.vDim}, f32)};
    bw.nextStateGrads = {"next_state_grads", tileType({g.kDim, g.vDim}, f32)};
    bw.blockThreads = blockThreads;
    bw.sharedMemoryLimit = kdk::sharedMemoryLimitOf(module, sharedMemoryLimit);
    OpBuilder builder(&getContext());
    if (failed(buildStates(builder, module, bw, states)) ||
        failed(buildStateGrads(builder, module, bw, grads)) ||
        failed(buildMap(builder, module, bw, map)))
      return failure();
    module->setAttr(kdk::kChunkSizeAttr, builder.getI64IntegerAttr(g.chunk));
    entry.erase();
    return success();
  }
};

} // namespace
