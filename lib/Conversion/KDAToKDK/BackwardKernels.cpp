//===- BackwardKernels.cpp - convert-kda-grad-to-kdk ----------------------===//
//
// The backward's three kernels from its split, decomposed chunk ops: the
// forward scan of the states, the reverse scan of their cotangents and the
// map over every chunk. Each kernel loads its chunk's tiles and runs the
// op's body as a TileProgram; the scans carry their K x V tile across the
// chunk loop and exchange per-chunk-slot states through two workspaces.
// A scan whose body is separable by columns may split V over its blocks.
//
//===----------------------------------------------------------------------===//
#include "kdac/Conversion/Passes.h"
#include "kdac/Spec/Limits.h"

#include "BackwardKernel.h"
#include "TileProgram.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace kdac {
#define GEN_PASS_DEF_CONVERTKDAGRADTOKDK
#include "kdac/Conversion/Passes.h.inc"
} // namespace kdac

namespace {
using namespace kdac::lowering;

constexpr const char *kPass = kGradPass;

Type elementTypeOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

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
  Value step = k.index(1);
  Value first = k.index(0);
  auto forOp =
      scf::ForOp::create(b, kernel.loc, first, range.getNumChunks(), step);
  b.setInsertionPointToStart(forOp.getBody());
  Value chunk = forOp.getInductionVar();
  if (reverse)
    chunk = k.sub(k.sub(range.getNumChunks(), k.index(1)), chunk);
  s.slot = k.add(range.getFirstSlot(), chunk);
  Value offset = k.mul(chunk, g.chunk);
  s.token = k.add(range.getStart(), offset);
  Value left = k.sub(range.getLength(), offset);
  s.rows = k.min(k.index(g.chunk), left);
  return s;
}

/// How a scan's blocks cover V: bw.scanValueTile columns each when that
/// divides V and the body computes each column of its V-wide values
/// (`sliced` and what follows from them) from that column alone; else all
/// of V. Returns the columns and, when split, the values to slice.
std::pair<int64_t, std::optional<llvm::DenseSet<Value>>>
scanColumns(const Backward &bw, Block &body, ArrayRef<Value> kept,
            ArrayRef<Value> sliced) {
  int64_t tile = bw.scanValueTile, width = bw.g.vDim;
  if (!kdac::limits::splitsEvenly(tile, width))
    return {width, std::nullopt};
  std::optional<llvm::DenseSet<Value>> blocks =
      TileProgram::columnBlocks(body, kept, sliced);
  if (!blocks)
    return {width, std::nullopt};
  return {tile, std::move(blocks)};
}

/// The grid's x extent of a scan whose blocks own `columns` of V each.
int64_t columnBlocksOf(const Backward &bw, int64_t columns) {
  return bw.g.vDim / columns;
}

/// Moves a scan body's new carried value into the carried tile, unless the
/// body already updated that tile in place.
void carryInto(BackwardKernel &kernel, Value result, Value carried) {
  if (result == carried)
    return;
  kdk::ConvertOp::create(kernel.b, kernel.loc, result, carried);
  kernel.k.barrier();
}

/// kda.chunk_states: S enters chunk 0 as the initial state (or zero); each
/// chunk stores its entering S, then the body updates it.
LogicalResult buildStates(OpBuilder &builder, ModuleOp module,
                          const Backward &bw, kda::ChunkStatesOp op) {
  Block &body = op.getBody().front();
  auto yield = cast<kda::YieldOp>(body.getTerminator());
  Value carriedArg = body.getArgument(kda::ChunkLoopOp::kState);
  const unsigned firstPrepared = kda::ChunkLoopOp::kNumBodyArgs;
  SmallVector<Value> sliced = {body.getArgument(kda::ChunkLoopOp::kV),
                               carriedArg};
  llvm::append_range(sliced, valueColumnArgs(bw, op.getPrepared(), body,
                                             firstPrepared));
  auto [columns, blocks] =
      scanColumns(bw, body, {yield.getState(), carriedArg}, sliced);
  BackwardKernel kernel(builder, module, bw, "kda_bwd_states",
                        {columnBlocksOf(bw, columns), bw.g.hv,
                         kdk::GridAttr::kSequences},
                        columns);
  kernel.boundBlocksPerSM(bw.scanBlocksPerSM);
  kernel.declareInputs();
  bool initial = bool(op.getInitialState());
  if (initial)
    kernel.tensor("initial_state");
  kernel.declarePrepared(op.getPrepared());
  kernel.workspace(bw.states);
  kernel.seqLen = kernel.k.addSize("T");
  kernel.k.beginBody();
  Value sequence, head;
  Value state =
      kernel.carriedTile(initial ? "initial_state" : "", sequence, head);
  ScanLoop s = openScan(kernel, sequence, head, /*reverse=*/false);
  TileProgram program(kernel.k, kernel.pool);
  if (blocks)
    program.sliceColumns(std::move(*blocks), columns);
  kernel.storeSlot(state, bw.states, s.slot, s.head);
  // The cp.async loads first, so that they are in flight during the others.
  kernel.loadPrepared(op.getPrepared(), body, firstPrepared, program, s.slot,
                      s.head);
  kernel.loadChunk(body, program, s.batch, s.token, s.rows, s.head);
  program.bindCarried(carriedArg, state);
  kernel.awaitLoads();
  if (failed(program.run(body, {yield.getState()})))
    return failure();
  carryInto(kernel, program.tileOf(yield.getState()), state);
  program.releaseAll();
  return kernel.finish(op);
}

/// kda.chunk_state_grads: dS enters the last chunk as dht (or zero); each
/// chunk, in reverse, stores its dS', then the body gives the dS before it;
/// what leaves chunk 0 is dh0.
LogicalResult buildStateGrads(OpBuilder &builder, ModuleOp module,
                              const Backward &bw, kda::ChunkStateGradsOp op) {
  Block &body = op.getBody().front();
  using Arg = kda::ChunkGradLoopOp::BackwardArg;
  auto yield = cast<kda::GradYieldOp>(body.getTerminator());
  Value dState = yield.getOperands().back();
  SmallVector<Value> kept = {dState, body.getArgument(Arg::kState),
                             body.getArgument(Arg::kDNextState)};
  const unsigned firstPrepared = kda::ChunkGradLoopOp::kNumBackwardArgs;
  SmallVector<Value> sliced = {
      body.getArgument(Arg::kV), body.getArgument(Arg::kState),
      body.getArgument(Arg::kDO), body.getArgument(Arg::kDNextState)};
  llvm::append_range(sliced, valueColumnArgs(bw, op.getPrepared(), body,
                                             firstPrepared));
  auto [columns, blocks] = scanColumns(bw, body, kept, sliced);
  BackwardKernel kernel(builder, module, bw, "kda_bwd_state_grads",
                        {columnBlocksOf(bw, columns), bw.g.hv,
                         kdk::GridAttr::kSequences},
                        columns);
  kernel.boundBlocksPerSM(bw.scanBlocksPerSM);
  kernel.declareInputs();
  kernel.declarePrepared(op.getPrepared());
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
  Value sequence, head;
  Value dS = kernel.carriedTile(dht ? "dht" : "", sequence, head);
  // The reverse scan's body need not read the state (the state's own
  // cotangent does not): then its K x V tile is neither made nor loaded.
  bool readsState = !body.getArgument(Arg::kState).use_empty();
  Value state = readsState ? kernel.stateTile() : Value();
  ScanLoop s = openScan(kernel, sequence, head, /*reverse=*/true);
  scf::ForOp loop = cast<scf::ForOp>(b.getInsertionBlock()->getParentOp());
  TileProgram program(kernel.k, kernel.pool);
  if (blocks)
    program.sliceColumns(std::move(*blocks), columns);
  kernel.storeSlot(dS, bw.nextStateGrads, s.slot, s.head);
  // The cp.async loads first, so that they are in flight during the others.
  if (readsState) {
    kernel.loadSlot(bw.states, s.slot, s.head, state, {}, true,
                    /*async=*/true);
    program.bindDonated(body.getArgument(Arg::kState), state);
  }
  kernel.loadPrepared(op.getPrepared(), body, firstPrepared, program, s.slot,
                      s.head);
  kernel.loadChunk(body, program, s.batch, s.token, s.rows, s.head);
  program.bindDonated(body.getArgument(Arg::kDO),
                      kernel.loadDO(s.batch, s.token, s.rows, s.head));
  program.bindCarried(body.getArgument(Arg::kDNextState), dS);
  kernel.awaitLoads();
  // Not dS's argument: its tile may be updated in place once read.
  if (failed(program.run(body, {dState, body.getArgument(Arg::kState)})))
    return failure();
  carryInto(kernel, program.tileOf(dState), dS);
  program.releaseAll();
  b.setInsertionPointAfter(loop);
  if (dh0)
    kernel.transferState(dS, "dh0", sequence, head, true);
  return kernel.finish(op);
}

/// The cotangents of the map's body, mapped back through the prologue's
/// adjoints (in place; the raw inputs reloaded into tiles the body freed),
/// and stored: dq and dk per value head to a workspace under GVA, each
/// chunk's ddt_bias and dA_log shares to theirs.
void applyAdjointsAndStore(BackwardKernel &kernel, ArrayRef<Value> cotangents,
                           Value slot, Value batch, Value token, Value rows,
                           Value head) {
  const Backward &bw = kernel.bw;
  const BackwardPrologue &p = bw.prologue;
  const LoopGeometry &g = bw.g;
  KernelFunction &k = kernel.k;
  OpBuilder &b = kernel.b;
  Location loc = kernel.loc;
  Value dq = cotangents[0], dk = cotangents[1], dv = cotangents[2],
        dg = cotangents[3], dbeta = cotangents[4];
  // l2norm_grad is linear in its cotangent, so each value head applies it
  // to its own share before GVA's group sum.
  if (p.qkL2NormGrad) {
    Value raw = kernel.tile({g.chunk, g.kDim});
    for (auto [name, grad] : {std::pair<StringRef, Value>{"q", dq}, {"k", dk}}) {
      kernel.loadRaw(name, batch, token, rows, head, raw);
      k.barrier();
      kdk::L2NormRowsGradOp::create(b, loc, raw, grad);
      k.barrier();
    }
    kernel.pool.release(raw);
  }
  // A per-head gate's body saw it broadcast over K: its cotangent is the
  // row sum.
  if (dg && g.gate == kda::GateGranularity::scalar) {
    Value perHead = kernel.tile({g.chunk});
    kdk::RowSumOp::create(b, loc, dg, perHead);
    k.barrier();
    dg = perHead;
  }
  if (p.gateGrad) {
    const int64_t width = bw.gateWidth();
    Value raw = width == 1 ? kernel.tile({g.chunk})
                           : kernel.tile({g.chunk, g.kDim});
    kernel.loadRaw("g", batch, token, rows, head, raw);
    Value dtBiasShare = p.dtBiasGrad ? kernel.tile({width}) : Value();
    Value aLogShare = p.aLogGrad ? kernel.tile({width}) : Value();
    k.barrier();
    kdk::GateActivationGradOp::create(
        b, loc, raw, dg, head, rows, kernel.args.lookup("A_log"),
        kernel.args.lookup("dt_bias"), dtBiasShare, aLogShare, p.activation,
        p.lowerBound ? b.getF64FloatAttr(p.lowerBound->convertToDouble())
                     : FloatAttr());
    k.barrier();
    if (dtBiasShare)
      kernel.storeSlot(dtBiasShare, bw.dtBiasPartials, slot, head);
    if (aLogShare)
      kernel.storeSlot(aLogShare, bw.aLogPartials, slot, head);
  }
  if (p.betaSigmoidGrad) {
    Value raw = kernel.tile({g.chunk});
    kernel.loadRaw("beta", batch, token, rows, head, raw);
    k.barrier();
    kdk::SigmoidGradOp::create(b, loc, raw, dbeta, rows);
    k.barrier();
  }
  auto store = [&](Value tile, StringRef name, int64_t width) {
    Value rowStride = k.index(g.hv * width);
    Value offset = tokenOffset(k, batch, token, kernel.seqLen, g.hv, head, width);
    kdk::StoreTileOp::create(b, loc, tile, kernel.args.lookup(name), offset,
                             rows, rowStride, width == 1 ? 0 : 1);
  };
  if (p.groupSum) {
    kernel.storeSlot(dq, bw.dqHeads, slot, head, rows);
    kernel.storeSlot(dk, bw.dkHeads, slot, head, rows);
  } else {
    store(dq, "dq", g.kDim);
    store(dk, "dk", g.kDim);
  }
  store(dv, "dv", g.vDim);
  if (dg)
    store(dg, "dg", bw.gateWidth());
  store(dbeta, "dbeta", 1);
}

/// kda.chunk_grad_map: every chunk from its entering state and dS'.
LogicalResult buildMap(OpBuilder &builder, ModuleOp module, const Backward &bw,
                       kda::ChunkGradMapOp op) {
  const LoopGeometry &g = bw.g;
  const BackwardPrologue &p = bw.prologue;
  BackwardKernel kernel(builder, module, bw, "kda_bwd_map",
                        {kdk::GridAttr::kChunkSlots, g.hv, 1}, 0,
                        bw.mapBlockThreads);
  kernel.declareInputs();
  kernel.workspace(bw.states);
  kernel.workspace(bw.nextStateGrads);
  kernel.tensor("do");
  if (p.groupSum) {
    kernel.workspace(bw.dqHeads);
    kernel.workspace(bw.dkHeads);
  } else {
    kernel.tensor("dq");
    kernel.tensor("dk");
  }
  kernel.tensor("dv");
  if (g.gate != kda::GateGranularity::none)
    kernel.tensor("dg");
  kernel.tensor("dbeta");
  if (p.dtBiasGrad)
    kernel.workspace(bw.dtBiasPartials);
  if (p.aLogGrad)
    kernel.workspace(bw.aLogPartials);
  kernel.seqLen = kernel.k.addSize("T");
  kernel.k.beginBody();
  ChunkSlot c = kernel.enterChunkSlot();
  Value slot = c.slot, head = c.head, batch = c.batch, token = c.token,
        rows = c.rows;
  Block &body = op.getBody().front();
  TileProgram program(kernel.k, kernel.pool);
  kernel.loadChunk(body, program, batch, token, rows, head);
  using Arg = kda::ChunkGradLoopOp::BackwardArg;
  if (bw.mapStatesInPlace) {
    // Read where the scans stored them; no shared copies to release.
    program.bind(body.getArgument(Arg::kState),
                 kernel.slotInPlace(bw.states, slot, head));
    program.bind(body.getArgument(Arg::kDNextState),
                 kernel.slotInPlace(bw.nextStateGrads, slot, head));
  } else {
    Value state = kernel.stateTile(), dNext = kernel.stateTile();
    kernel.loadSlot(bw.states, slot, head, state, {}, true, /*async=*/true);
    kernel.loadSlot(bw.nextStateGrads, slot, head, dNext, {}, true,
                    /*async=*/true);
    program.bindDonated(body.getArgument(Arg::kState), state);
    program.bindDonated(body.getArgument(Arg::kDNextState), dNext);
  }
  program.bindDonated(body.getArgument(Arg::kDO),
                      kernel.loadDO(batch, token, rows, head));
  kernel.awaitLoads();
  auto yield = cast<kda::GradYieldOp>(body.getTerminator());
  // The map stores dq, dk, dv, dg (null without a gate), dbeta; the
  // state's cotangent is the reverse scan's, so what only it needs is not
  // computed here.
  SmallVector<Value> stored, kept;
  for (unsigned i = 0; i < 5; ++i)
    stored.push_back(i == 3 && g.gate == kda::GateGranularity::none
                         ? Value()
                         : yield.getOperand(i));
  llvm::copy_if(stored, std::back_inserter(kept), [](Value v) { return bool(v); });
  if (failed(program.run(body, kept)))
    return failure();
  // Every other tile goes back to the pool for the adjoints.
  SmallVector<Value> cotangents = llvm::map_to_vector(
      stored, [&](Value v) { return v ? program.tileOf(v) : Value(); });
  program.releaseAll(cotangents);
  applyAdjointsAndStore(kernel, cotangents, slot, batch, token, rows, head);
  return kernel.finish(op);
}

/// kda.chunk_map (kda-grad-scan-prep): each chunk's state-free values that
/// the scans read, stored to one workspace each.
LogicalResult buildPrep(OpBuilder &builder, ModuleOp module, const Backward &bw,
                        kda::ChunkMapOp op) {
  const LoopGeometry &g = bw.g;
  BackwardKernel kernel(builder, module, bw, "kda_bwd_prep",
                        {kdk::GridAttr::kChunkSlots, g.hv, 1}, 0,
                        bw.prepBlockThreads);
  kernel.declareInputs();
  for (const PreparedValue &p : bw.prepared)
    kernel.workspace(p.ws);
  kernel.seqLen = kernel.k.addSize("T");
  kernel.k.beginBody();
  ChunkSlot c = kernel.enterChunkSlot();
  Block &body = op.getBody().front();
  TileProgram program(kernel.k, kernel.pool);
  kernel.loadChunk(body, program, c.batch, c.token, c.rows, c.head);
  kernel.k.barrier();
  auto yield = cast<kda::MapYieldOp>(body.getTerminator());
  SmallVector<Value> kept(yield.getValues());
  if (failed(program.run(body, kept)))
    return failure();
  for (auto [value, p] : llvm::zip(kept, bw.prepared))
    kernel.storeSlot(program.tileOf(value), p.ws, c.slot, c.head);
  program.releaseAll();
  return kernel.finish(op);
}

/// The prepared map's results as workspaces: each tile per chunk slot and
/// value head, and whether its columns are V's (each computed from the same
/// column of v alone, as TileProgram::columnBlocks tells).
SmallVector<PreparedValue> preparedValues(kda::ChunkMapOp op) {
  Block &body = op.getBody().front();
  Value v = body.getArgument(kda::ChunkMapOp::kV);
  SmallVector<PreparedValue> out;
  auto yield = cast<kda::MapYieldOp>(body.getTerminator());
  for (auto [name, value] : llvm::zip(op.getNames(), yield.getValues())) {
    auto type = cast<RankedTensorType>(value.getType());
    PreparedValue p;
    p.ws = {cast<StringAttr>(name).str(),
            tileType(type.getShape(), type.getElementType())};
    p.valueColumns = TileProgram::columnBlocks(body, {value}, {v}).has_value();
    out.push_back(std::move(p));
  }
  return out;
}

/// The entry function's raw inputs and the prologue between them and the
/// chunk ops, read off the map's operands (the scans must share them).
struct RawInputs {
  Value q, k, g, beta, aLog, dtBias;
};

LogicalResult readPrologue(kda::ChunkGradMapOp map, kda::ChunkStatesOp states,
                           kda::ChunkStateGradsOp grads, kda::ChunkMapOp prep,
                           BackwardPrologue &p, RawInputs &raw) {
  raw.q = map.getQ();
  raw.k = map.getK();
  raw.g = map.getG();
  raw.beta = map.getBeta();
  if (auto qNorm = raw.q.getDefiningOp<kda::L2NormOp>()) {
    auto kNorm = raw.k.getDefiningOp<kda::L2NormOp>();
    if (!kNorm)
      return map.emitError() << kPass << ": expects q and k both L2-normed "
                                         "or neither";
    p.qkL2Norm = true;
    raw.q = qNorm.getInput();
    raw.k = kNorm.getInput();
  }
  if (raw.g)
    if (auto act = raw.g.getDefiningOp<kda::GateActivationOp>()) {
      p.activation = act.getActivation();
      p.lowerBound = act.getLowerBound();
      raw.aLog = act.getALog();
      raw.dtBias = act.getDtBias();
      raw.g = act.getInput();
    }
  if (auto sigmoid = raw.beta.getDefiningOp<kda::SigmoidOp>()) {
    p.betaSigmoid = true;
    raw.beta = sigmoid.getInput();
  }
  auto sameInputs = [&](auto scan) {
    return scan.getQ() == map.getQ() && scan.getK() == map.getK() &&
           scan.getV() == map.getV() && scan.getG() == map.getG() &&
           scan.getBeta() == map.getBeta();
  };
  if (!sameInputs(states) || !sameInputs(grads) || (prep && !sameInputs(prep)))
    return map.emitError() << kPass << ": expects the chunk ops to read the "
                                       "same q, k, v, g, beta";
  for (Value v : {raw.q, raw.k, Value(map.getV()), raw.g, raw.beta, raw.aLog,
                  raw.dtBias})
    if (v && !isa<BlockArgument>(v))
      return map.emitError()
             << kPass << ": expects the chunk ops' inputs to be the "
                         "function's arguments or a fused prologue (qk L2 "
                         "norm, gate activation, beta sigmoid) of them";
  return success();
}

/// Follows one function result back through the prologue's adjoints to a
/// gradient the kernels compute (a map result or dh0), checking them
/// against the forward's prologue in `p` and recording them there; `name`
/// gets its launch tensor name.
LogicalResult traceResult(Value result, kda::ChunkGradMapOp map,
                          kda::ChunkStateGradsOp grads, const RawInputs &raw,
                          BackwardPrologue &p, std::string &name) {
  const char *mapNames[] = {"dq", "dk", "dv", "dg", "dbeta"};
  bool l2 = false, groupSum = false, gate = false, sigmoid = false;
  Value l2Input;
  Value v = result;
  auto refuse = [&](Operation *op, const Twine &why) {
    return op->emitError() << kPass << ": " << why;
  };
  while (true) {
    Operation *def = v.getDefiningOp();
    if (!def)
      return map.emitError() << kPass << ": a result of the backward is a "
                                         "function argument";
    if (def == grads.getOperation() && v == grads.getDh0()) {
      name = "dh0";
      break;
    }
    if (def == map.getOperation()) {
      unsigned index = cast<OpResult>(v).getResultNumber();
      if (!map.getG() && index >= 3)
        ++index;
      name = mapNames[index];
      break;
    }
    LogicalResult step =
        llvm::TypeSwitch<Operation *, LogicalResult>(def)
            .Case([&](kda::L2NormGradOp op) -> LogicalResult {
              l2 = true;
              l2Input = op.getInput();
              v = op.getDresult();
              return success();
            })
            .Case([&](kda::GroupSumOp op) {
              groupSum = true;
              v = op.getInput();
              return success();
            })
            .Case([&](kda::SigmoidGradOp op) -> LogicalResult {
              if (op.getInput() != raw.beta || !p.betaSigmoid)
                return refuse(op, "sigmoid_grad must differentiate the "
                                  "forward's beta sigmoid");
              sigmoid = true;
              v = op.getDresult();
              return success();
            })
            .Case([&](kda::GateActivationGradOp op) -> LogicalResult {
              if (op.getInput() != raw.g || op.getALog() != raw.aLog ||
                  op.getDtBias() != raw.dtBias ||
                  op.getActivation() != p.activation ||
                  op.getLowerBound() != p.lowerBound)
                return refuse(op, "gate_activation_grad must differentiate "
                                  "the forward's gate activation");
              unsigned index = cast<OpResult>(v).getResultNumber();
              if (index > 0) {
                // dA_log comes first when both are given.
                bool aLog = raw.aLog && index == 1;
                name = aLog ? "dA_log" : "ddt_bias";
                (aLog ? p.aLogGrad : p.dtBiasGrad) = true;
                return success();
              }
              gate = true;
              v = op.getDresult();
              return success();
            })
            .Default([&](Operation *op) {
              return refuse(op, "has no kernel; a result of the backward "
                                "must be a chunk gradient or dh0 through "
                                "the prologue's adjoints");
            });
    if (failed(step))
      return failure();
    if (!name.empty())
      break;
  }
  bool qk = name == "dq" || name == "dk";
  if ((l2 || groupSum) && !qk)
    return map.emitError() << kPass << ": l2norm_grad and group_sum apply "
                                       "to dq and dk only, not " << name;
  if (l2 && (!p.qkL2Norm || l2Input != (name == "dq" ? raw.q : raw.k)))
    return map.emitError() << kPass << ": l2norm_grad of " << name
                           << " must differentiate the forward's L2 norm";
  if ((gate && name != "dg") || (sigmoid && name != "dbeta"))
    return map.emitError() << kPass << ": an adjoint applies to the wrong "
                                       "gradient (" << name << ")";
  if (qk) {
    // One flag serves dq and dk: they must agree.
    bool first = name == "dq";
    bool &l2Flag = p.qkL2NormGrad, &sumFlag = p.groupSum;
    if (first) {
      l2Flag = l2;
      sumFlag = groupSum;
    } else if (l2Flag != l2 || sumFlag != groupSum) {
      return map.emitError() << kPass << ": expects dq and dk to go through "
                                         "the same adjoints";
    }
  }
  if (name == "dg")
    p.gateGrad = gate;
  if (name == "dbeta")
    p.betaSigmoidGrad = sigmoid;
  return success();
}

struct ConvertKDAGradToKDKPass
    : kdac::impl::ConvertKDAGradToKDKBase<ConvertKDAGradToKDKPass> {
  using ConvertKDAGradToKDKBase::ConvertKDAGradToKDKBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string problem = checkConversionOptions(
        kPass, blockThreads, 0, /*valueTile=*/0,
        sharedMemoryLimit);
    if (problem.empty() && mapBlockThreads != 0)
      problem = kdac::limits::checkBlockThreads(
          mapBlockThreads, std::string(kPass) + ": map-block-threads");
    if (problem.empty() && prepBlockThreads != 0)
      problem = kdac::limits::checkBlockThreads(
          prepBlockThreads, std::string(kPass) + ": prep-block-threads");
    if (problem.empty())
      problem = kdac::limits::checkValueTile(
          scanValueTile, std::string(kPass) + ": scan-v-tile");
    if (problem.empty())
      problem = kdac::limits::checkBlocksPerSM(
          scanBlocksPerSM, blockThreads,
          std::string(kPass) + ": scan-blocks-per-sm");
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
    // The scans' prepared values (kda-grad-scan-prep), when there are any.
    SmallVector<kda::ChunkMapOp> preps;
    module.walk([&](kda::ChunkMapOp op) { preps.push_back(op); });
    if (preps.size() > 1) {
      preps.back().emitError() << kPass << ": expects at most one "
                                           "kda.chunk_map (the scans' "
                                           "prepared values)";
      return signalPassFailure();
    }
    kda::ChunkMapOp prep = preps.empty() ? kda::ChunkMapOp() : preps.front();
    if (failed(states) || failed(grads) || failed(map) ||
        failed(convert(module, *states, *grads, *map, prep)))
      signalPassFailure();
  }

  LogicalResult convert(ModuleOp module, kda::ChunkStatesOp states,
                        kda::ChunkStateGradsOp grads, kda::ChunkGradMapOp map,
                        kda::ChunkMapOp prep) {
    auto entry = map->getParentOfType<func::FuncOp>();
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
    Value chunkInputs[] = {map.getQ(), map.getK(), map.getV(), map.getG(),
                           map.getBeta()};
    for (Operation *op : {states.getOperation(), grads.getOperation(),
                          map.getOperation()})
      for (Value operand : op->getOperands())
        if (Operation *def = operand.getDefiningOp();
            def && !llvm::is_contained(chunkInputs, operand) &&
            !isa<kda::ChunkStatesOp, kda::ChunkStateGradsOp>(def) &&
            !(prep && def == prep.getOperation()))
          return op->emitError() << kPass << ": expects the states, "
                                             "cotangents and cu_seqlens to be "
                                             "function arguments";
    for (Value value : llvm::concat<Value>(states.getPrepared(),
                                           grads.getPrepared()))
      if (!prep || value.getDefiningOp() != prep.getOperation())
        return states.emitError() << kPass << ": expects the scans' prepared "
                                              "values to be results of the "
                                              "kda.chunk_map";
    RawInputs raw;
    BackwardPrologue &p = bw.prologue;
    if (failed(readPrologue(map, states, grads, prep, p, raw)))
      return failure();
    // The kernels write every chunk gradient (and dh0): each function
    // result is one of them through the prologue's adjoints.
    auto ret = cast<func::ReturnOp>(entry.getBody().front().getTerminator());
    llvm::StringSet<> returned;
    for (Value result : ret.getOperands()) {
      std::string name;
      if (failed(traceResult(result, map, grads, raw, p, name)))
        return failure();
      if (!returned.insert(name).second)
        return ret.emitError() << kPass << ": returns " << name << " twice";
      bw.tensorTypes[name] = elementTypeOf(result);
    }
    SmallVector<StringRef> expected = {"dq", "dk", "dv", "dbeta"};
    if (map.getG())
      expected.push_back("dg");
    if (grads.getDh0())
      expected.push_back("dh0");
    for (StringRef name : expected)
      if (!returned.contains(name))
        return ret.emitError() << kPass << ": expects the backward to return "
                               << name;
    if (g.hv != g.h && !p.groupSum)
      return ret.emitError() << kPass << ": GVA's dq and dk need a group_sum";
    auto bindTensor = [&](StringRef name, Value v) {
      if (v)
        bw.tensorTypes[name] = elementTypeOf(v);
    };
    bindTensor("q", raw.q);
    bindTensor("k", raw.k);
    bindTensor("v", map.getV());
    bindTensor("g", raw.g);
    bindTensor("beta", raw.beta);
    bindTensor("A_log", raw.aLog);
    bindTensor("dt_bias", raw.dtBias);
    bindTensor("cu_seqlens", map.getCuSeqlens());
    bindTensor("initial_state", states.getInitialState());
    bindTensor("do", map.getDOut());
    bindTensor("dht", grads.getDht());
    Type f32 = Float32Type::get(&getContext());
    bw.states = {"states", tileType({g.kDim, g.vDim}, f32)};
    bw.nextStateGrads = {"next_state_grads", tileType({g.kDim, g.vDim}, f32)};
    bw.dqHeads = {"dq_heads", tileType({g.chunk, g.kDim}, f32)};
    bw.dkHeads = {"dk_heads", tileType({g.chunk, g.kDim}, f32)};
    bw.dtBiasPartials = {"dt_bias_partials", tileType({bw.gateWidth()}, f32)};
    bw.aLogPartials = {"A_log_partials", tileType({bw.gateWidth()}, f32)};
    bw.blockThreads = blockThreads;
    bw.mapBlockThreads = mapBlockThreads ? mapBlockThreads : blockThreads;
    bw.prepBlockThreads = prepBlockThreads ? prepBlockThreads : blockThreads;
    bw.mapStatesInPlace = mapStatesInPlace;
    bw.scanValueTile = scanValueTile;
    bw.scanBlocksPerSM = scanBlocksPerSM;
    bw.sharedMemoryLimit = kdk::sharedMemoryLimitOf(module, sharedMemoryLimit);
    if (prep) {
      for (Value value : prep.getValues())
        if (cast<RankedTensorType>(value.getType()).getRank() > 4)
          return prep.emitError() << kPass << ": expects the prepared values "
                                             "to be vectors or matrices per "
                                             "chunk";
      bw.prepared = preparedValues(prep);
    }
    OpBuilder builder(&getContext());
    if ((prep && failed(buildPrep(builder, module, bw, prep))) ||
        failed(buildStates(builder, module, bw, states)) ||
        failed(buildStateGrads(builder, module, bw, grads)) ||
        failed(buildMap(builder, module, bw, map)) ||
        (p.groupSum && failed(buildGroupSum(builder, module, bw, map))) ||
        ((p.aLogGrad || p.dtBiasGrad) &&
         failed(buildGateParams(builder, module, bw, map))))
      return failure();
    module->setAttr(kdk::kChunkSizeAttr, builder.getI64IntegerAttr(g.chunk));
    entry.erase();
    return success();
  }
};

} // namespace
