//===- KDAToKDK.cpp - convert-kda-to-kdk: the pass and its split plan -----===//
//
// Reads the entry function's split chunk loop (kda.chunk_map and
// kda.chunk_scan, from kda-chunk-split) and fused prologue, binds the values
// that cross to workspaces, builds the two kernels and replaces the entry
// function with them.
//
//===----------------------------------------------------------------------===//
#include "kdac/Conversion/Passes.h"
#include "kdac/Spec/Limits.h"

#include "Lowering.h"

#include "KDK/KDKOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace kdac {
#define GEN_PASS_DEF_CONVERTKDATOKDK
#include "kdac/Conversion/Passes.h.inc"
} // namespace kdac

namespace kdac::lowering {

static Type elementTypeOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

/// Whether the scan reads `arg` only as a product's f32 accumulator or row
/// scale (u, which v' = u - w S starts from; the total decay glast), which
/// keep f32 in their workspace; tensor-core operands take the operand type.
static bool readAsF32(BlockArgument arg) {
  return llvm::all_of(arg.getUses(), [](OpOperand &use) {
    Operation *user = use.getOwner();
    if (auto apply = dyn_cast<kda::StateApplyOp>(user))
      return use.get() == apply.getU();
    if (auto update = dyn_cast<kda::DecayedStateUpdateOp>(user))
      return use.get() == update.getGlast();
    return false;
  });
}

/// The kernels bind each scan operand by its workspace name (the launch
/// ABI) and shape: checks that every scan op reads the state, the crossing
/// of the name its role needs, or v' where the kernels expect them, so a
/// renamed or reshaped split is a located error rather than a lowering that
/// reads the wrong workspace.
static LogicalResult checkScanRoles(kda::ChunkScanOp scan,
                                    const SplitPlan &plan,
                                    const LoopGeometry &g) {
  Block &body = scan.getBody().front();
  Value state = body.getArguments().back();
  int64_t c = g.chunk, kDim = g.kDim, vDim = g.vDim;
  auto fail = [&](Operation *op, const llvm::Twine &what) {
    return op->emitError() << "convert-kda-to-kdk: expects " << what;
  };
  auto isCrossing = [&](Value v, StringRef name) {
    auto arg = dyn_cast<BlockArgument>(v);
    return arg && arg.getOwner() == &body && arg != state &&
           plan.crossings[arg.getArgNumber()].workspace.name == name;
  };
  auto crossing = [&](Operation *op, Value v, StringRef name,
                      ArrayRef<int64_t> shape) -> LogicalResult {
    if (!isCrossing(v, name))
      return fail(op, "operand '" + name + "' to be the map's \"" + name +
                          "\" result");
    if (cast<RankedTensorType>(v.getType()).getShape() != shape)
      return fail(op, "\"" + name + "\" tiles of the kernel's shape");
    return success();
  };
  if (cast<RankedTensorType>(state.getType()).getShape() !=
      ArrayRef<int64_t>{kDim, vDim})
    return fail(scan, "a K x V state");
  Value values; // v', once the state apply made it
  Operation *last = nullptr, *output = nullptr;
  for (Operation &op : body.without_terminator()) {
    if (last)
      return fail(&op, "the state update to be the scan's last op");
    auto valuesOperand = [&](Value v) -> LogicalResult {
      if (values ? v == values : isCrossing(v, "vnew"))
        return values ? success() : crossing(&op, v, "vnew", {c, vDim});
      return fail(&op, "v' (the state apply's result or \"vnew\")");
    };
    LogicalResult ok =
        llvm::TypeSwitch<Operation *, LogicalResult>(&op)
            .Case([&](kda::StateApplyOp apply) -> LogicalResult {
              if (values || apply.getState() != state)
                return fail(&op, "one state apply, on the incoming state");
              if (failed(crossing(&op, apply.getU(), "u", {c, vDim})) ||
                  failed(crossing(&op, apply.getW(), "w", {c, kDim})))
                return failure();
              values = apply.getResult();
              return success();
            })
            .Case([&](kda::DecayedOutputOp decayed) -> LogicalResult {
              if (output || decayed.getState() != state)
                return fail(&op, "one output, on the incoming state");
              if (failed(crossing(&op, decayed.getQg(), "qg", {c, kDim})) ||
                  failed(crossing(&op, decayed.getAqk(), "aqk", {c, c})))
                return failure();
              output = &op;
              return valuesOperand(decayed.getValues());
            })
            .Case([&](kda::DecayedStateUpdateOp update) -> LogicalResult {
              if (update.getState() != state)
                return fail(&op, "the state update to read the incoming state");
              if (failed(crossing(&op, update.getKg(), "kg", {c, kDim})) ||
                  failed(crossing(&op, update.getGlast(), "glast", {kDim})))
                return failure();
              last = &op;
              return valuesOperand(update.getValues());
            })
            .Default([&](Operation *other) {
              return other->emitError()
                     << "convert-kda-to-kdk: no kernel lowering for "
                        "state-dependent op '"
                     << other->getName() << "'";
            });
    if (failed(ok))
      return failure();
  }
  auto yield = cast<kda::YieldOp>(body.getTerminator());
  if (!last || yield.getState() != last->getResult(0) || !output ||
      yield.getO() != output->getResult(0))
    return fail(yield, "the scan to yield its output's and its state "
                       "update's results");
  return success();
}

FailureOr<SplitPlan> readSplit(kda::ChunkMapOp map, kda::ChunkScanOp scan,
                               const LoopGeometry &g) {
  SplitPlan plan;
  auto yield = cast<kda::MapYieldOp>(map.getBody().front().getTerminator());
  Block &scanBody = scan.getBody().front();
  if (scan.getChunkValues() != ValueRange(map.getValues()))
    return scan.emitError() << "convert-kda-to-kdk: expects the scan to read "
                               "the map's results, in order";
  Type f32 = Float32Type::get(map.getContext());
  // A crossing op whose only reader is the yield is done by the workspace
  // store itself (kdk.store_decayed_rows, kdk.last_row_exp).
  auto isCrossingOp = [](Operation *op) {
    return isa<kda::DecayRowsOp, kda::LastRowExpOp>(op) && op->hasOneUse() &&
           isa<kda::MapYieldOp>(*op->getUsers().begin());
  };
  for (auto [i, value] : llvm::enumerate(yield.getValues())) {
    Crossing crossing;
    Operation *def = value.getDefiningOp();
    if (auto decay = dyn_cast_or_null<kda::DecayRowsOp>(def);
        decay && isCrossingOp(def)) {
      crossing.kind = decay.getToLast() ? Crossing::DecayToLast
                                        : Crossing::DecayToStart;
      crossing.inputs = {decay.getInput(), decay.getGc()};
      crossing.scale = decay.getScale().convertToDouble();
    } else if (auto last = dyn_cast_or_null<kda::LastRowExpOp>(def);
               last && isCrossingOp(def)) {
      crossing.kind = Crossing::LastRowExp;
      crossing.inputs = {last.getGc()};
    } else {
      crossing.inputs = {value};
    }
    auto tile = cast<RankedTensorType>(value.getType());
    crossing.workspace = {
        cast<StringAttr>(map.getNames()[i]).str(),
        tileType(tile.getShape(),
                 readAsF32(scanBody.getArgument(i)) ? f32 : g.operandType)};
    plan.crossings.push_back(crossing);
  }
  for (Operation &op : map.getBody().front().without_terminator())
    if (!isCrossingOp(&op))
      plan.independentOps.push_back(&op);
  if (failed(checkScanRoles(scan, plan, g)))
    return failure();
  for (Operation &op : scanBody.without_terminator())
    plan.dependentOps.push_back(&op);
  return plan;
}

GlobalArgs InputBindings::declareChunkParallelKernelArgs(KernelFunction &k,
                                                 const LoopGeometry &g,
                                                 const SplitPlan &plan) const {
  GlobalArgs args;
  args.q = k.addTensor("q", tensorTypes.lookup("q"));
  args.k = k.addTensor("k", tensorTypes.lookup("k"));
  args.v = k.addTensor("v", tensorTypes.lookup("v"));
  if (g.gate != kda::GateGranularity::none)
    args.g = k.addTensor("g", tensorTypes.lookup("g"));
  args.beta = k.addTensor("beta", tensorTypes.lookup("beta"));
  if (tensorTypes.count("A_log"))
    args.aLog = k.addTensor("A_log", tensorTypes.lookup("A_log"));
  if (tensorTypes.count("dt_bias"))
    args.dtBias = k.addTensor("dt_bias", tensorTypes.lookup("dt_bias"));
  if (g.varlen)
    args.cuSeqlens = k.addTensor("cu_seqlens", tensorTypes.lookup("cu_seqlens"));
  for (const Crossing &c : plan.crossings)
    args.workspaces[c.workspace.name] = k.addWorkspace(c.workspace, g);
  args.seqLen = k.addSize("T");
  args.qkL2Norm = qkL2Norm;
  args.betaSigmoid = betaSigmoid;
  args.activation = activation;
  args.lowerBound = lowerBound;
  return args;
}

GlobalArgs
InputBindings::declareChunkScanKernelArgs(KernelFunction &k,
                                           const LoopGeometry &g,
                                           const SplitPlan &plan) const {
  GlobalArgs args;
  if (tensorTypes.count("initial_state"))
    args.initialState =
        k.addTensor("initial_state", tensorTypes.lookup("initial_state"));
  if (g.varlen)
    args.cuSeqlens = k.addTensor("cu_seqlens", tensorTypes.lookup("cu_seqlens"));
  for (const Crossing &c : plan.crossings)
    args.workspaces[c.workspace.name] = k.addWorkspace(c.workspace, g);
  args.o = k.addTensor("o", tensorTypes.lookup("o"));
  if (hasFinalState)
    args.finalState = k.addTensor("final_state", g.stateType);
  args.seqLen = k.addSize("T");
  return args;
}

} // namespace kdac::lowering

namespace {
using namespace kdac::lowering;

/// Follows a loop operand back through the fused prologue op (if any) to
/// the entry function's argument it reads.
Value rawInput(Value v) {
  if (Operation *def = v.getDefiningOp())
    if (isa<kda::L2NormOp, kda::SigmoidOp, kda::GateActivationOp>(def))
      return def->getOperand(0);
  return v;
}

struct ConvertKDAToKDKPass
    : kdac::impl::ConvertKDAToKDKBase<ConvertKDAToKDKPass> {
  using ConvertKDAToKDKBase::ConvertKDAToKDKBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string problem =
        checkConversionOptions("convert-kda-to-kdk", blockThreads,
                               recurrenceBlockThreads, valueTile,
                               sharedMemoryLimit);
    if (!problem.empty()) {
      module.emitError() << problem;
      return signalPassFailure();
    }
    FailureOr<kda::ChunkMapOp> map = findSingleOp<kda::ChunkMapOp>(
        module, "convert-kda-to-kdk", "kda.chunk_map (run kda-chunk-split first)");
    if (failed(map))
      return signalPassFailure();
    FailureOr<kda::ChunkScanOp> scan = findSingleOp<kda::ChunkScanOp>(
        module, "convert-kda-to-kdk", "kda.chunk_scan (run kda-chunk-split first)");
    if (failed(scan) || failed(convert(module, *map, *scan)))
      signalPassFailure();
  }

  LogicalResult convert(ModuleOp module, kda::ChunkMapOp map,
                        kda::ChunkScanOp scan) {
    auto entry = map->getParentOfType<func::FuncOp>();
    LoopGeometry g;
    g.chunk = map.getChunkSize();
    std::string chunkProblem = kdac::limits::checkKernelChunkSize(
        g.chunk, "convert-kda-to-kdk: the chunk size");
    if (!chunkProblem.empty())
      return map.emitError() << chunkProblem;
    if (scan.getChunkSize() != g.chunk)
      return scan.emitError() << "convert-kda-to-kdk: expects the scan's "
                                 "chunk size to be the map's ("
                              << g.chunk << ")";
    auto qType = cast<RankedTensorType>(map.getQ().getType());
    g.h = qType.getDimSize(2);
    g.kDim = qType.getDimSize(3);
    auto vType = cast<RankedTensorType>(map.getV().getType());
    g.hv = vType.getDimSize(2);
    g.vDim = vType.getDimSize(3);
    // A tile wider than V means all of V.
    g.valueTile = valueTile == 0 || valueTile >= g.vDim ? g.vDim
                                                         : int64_t(valueTile);
    g.gate = map.getGate();
    g.layout = scan.getLayout();
    g.varlen = static_cast<bool>(map.getCuSeqlens());
    if (g.vDim % g.valueTile != 0)
      return map.emitError() << "convert-kda-to-kdk: v-tile " << g.valueTile
                             << " does not divide V = " << g.vDim;

    InputBindings inputs;
    auto bindTensor = [&](StringRef name, Value v) {
      if (v)
        inputs.tensorTypes[name] = elementTypeOf(rawInput(v));
    };
    bindTensor("q", map.getQ());
    bindTensor("k", map.getK());
    bindTensor("v", map.getV());
    bindTensor("g", map.getG());
    bindTensor("beta", map.getBeta());
    bindTensor("initial_state", scan.getInitialState());
    bindTensor("cu_seqlens", map.getCuSeqlens());
    inputs.tensorTypes["o"] = elementTypeOf(scan.getO());
    inputs.hasFinalState = static_cast<bool>(scan.getFinalState());
    inputs.qkL2Norm = isa_and_nonnull<kda::L2NormOp>(map.getQ().getDefiningOp());
    inputs.betaSigmoid =
        isa_and_nonnull<kda::SigmoidOp>(map.getBeta().getDefiningOp());
    if (Value gate = map.getG())
      if (auto act = gate.getDefiningOp<kda::GateActivationOp>()) {
        inputs.activation = act.getActivation();
        inputs.lowerBound = act.getLowerBoundAttr();
        bindTensor("A_log", act.getALog());
        bindTensor("dt_bias", act.getDtBias());
      }
    Type qkType = inputs.tensorTypes.lookup("q");
    g.operandType = qkType.isF32() ? Float32Type::get(&getContext()) : qkType;
    g.stateType = scan.getFinalState() ? elementTypeOf(scan.getFinalState())
                  : scan.getInitialState()
                      ? elementTypeOf(scan.getInitialState())
                      : Float32Type::get(&getContext());

    FailureOr<SplitPlan> plan = readSplit(map, scan, g);
    if (failed(plan))
      return failure();

    KernelOptions opts;
    opts.blockThreads = blockThreads;
    opts.recurrenceBlockThreads =
        recurrenceBlockThreads == 0 ? int64_t(blockThreads)
                                    : int64_t(recurrenceBlockThreads);
    opts.valueTile = valueTile;
    // The smaller of the option and what the module's target allows.
    opts.sharedMemoryLimit = kdk::sharedMemoryLimitOf(module, sharedMemoryLimit);
    OpBuilder builder(&getContext());
    if (failed(buildChunkParallelKernel(builder, module, map, g, *plan, opts,
                                        inputs)) ||
        failed(buildChunkScanKernel(builder, module, scan, g, *plan, opts,
                                     inputs)))
      return failure();
    module->setAttr(kdk::kChunkSizeAttr, builder.getI64IntegerAttr(g.chunk));
    entry.erase();
    return success();
  }
};
} // namespace
