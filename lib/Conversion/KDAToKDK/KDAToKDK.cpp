//===- KDAToKDK.cpp - convert-kda-to-kdk: the pass and its split plan -----===//
//
// Reads the entry function's chunk loop and fused prologue, plans the split
// of the loop body by dependence on the state, builds the two kernels and
// replaces the entry function with them.
//
//===----------------------------------------------------------------------===//
#include "kdac/Conversion/Passes.h"
#include "kdac/Spec/Limits.h"

#include "Lowering.h"

#include "KDK/KDKOps.h"

using namespace mlir;

namespace kdac {
#define GEN_PASS_DEF_CONVERTKDATOKDK
#include "kdac/Conversion/Passes.h.inc"
} // namespace kdac

namespace kdac::lowering {

static Type elementTypeOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

FailureOr<SplitPlan> planSplit(kda::ChunkLoopOp loop, const LoopGeometry &g,
                               double scale) {
  SplitPlan plan;
  Block &body = loop.getBody().front();
  llvm::DenseSet<Value> dependent = {body.getArgument(kda::ChunkLoopOp::kState)};
  for (Operation &op : body.without_terminator()) {
    bool readsState = llvm::any_of(op.getOperands(), [&](Value v) {
      return dependent.contains(v);
    });
    if (readsState) {
      plan.dependentOps.push_back(&op);
      dependent.insert(op.result_begin(), op.result_end());
    } else {
      plan.independentOps.push_back(&op);
    }
  }

  Type f32 = Float32Type::get(loop.getContext());
  int64_t c = g.chunk;
  auto add = [&](Crossing::Kind kind, StringRef name, ArrayRef<int64_t> shape,
                 Type type, ArrayRef<Value> inputs) {
    if (plan.find(name))
      return;
    Crossing crossing;
    crossing.kind = kind;
    crossing.workspace = {name.str(), tileType(shape, type)};
    crossing.inputs.assign(inputs.begin(), inputs.end());
    crossing.scale = scale;
    plan.crossings.push_back(crossing);
  };
  auto independentValues = [&](Value v) {
    if (!dependent.contains(v))
      add(Crossing::Copy, "vnew", {c, g.vDim}, g.operandType, {v});
  };
  for (auto [i, op] : llvm::enumerate(plan.dependentOps)) {
    bool ok = true;
    if (auto apply = dyn_cast<kda::StateApplyOp>(op)) {
      ok = !dependent.contains(apply.getU()) && !dependent.contains(apply.getW());
      add(Crossing::Copy, "u", {c, g.vDim}, f32, {apply.getU()});
      add(Crossing::Copy, "w", {c, g.kDim}, g.operandType, {apply.getW()});
    } else if (auto output = dyn_cast<kda::OutputOp>(op)) {
      ok = !dependent.contains(output.getQ()) &&
           !dependent.contains(output.getGc()) &&
           !dependent.contains(output.getAqk());
      add(Crossing::DecayToStart, "qg", {c, g.kDim}, g.operandType,
          {output.getQ(), output.getGc()});
      add(Crossing::Copy, "aqk", {c, c}, g.operandType, {output.getAqk()});
      independentValues(output.getValues());
    } else if (auto update = dyn_cast<kda::StateUpdateOp>(op)) {
      ok = !dependent.contains(update.getK()) &&
           !dependent.contains(update.getGc()) &&
           i + 1 == plan.dependentOps.size();
      add(Crossing::DecayToLast, "kg", {c, g.kDim}, g.operandType,
          {update.getK(), update.getGc()});
      add(Crossing::LastRowExp, "glast", {g.kDim}, f32, {update.getGc()});
      independentValues(update.getValues());
    } else {
      return op->emitError() << "convert-kda-to-kdk: no kernel lowering for "
                                "state-dependent op '"
                             << op->getName() << "'";
    }
    if (!ok)
      return op->emitError()
             << "convert-kda-to-kdk: expects the state to enter only through "
                "the state operand and the state update to come last";
  }
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
    using namespace kdac::limits;
    std::string problem =
        checkBlockThreads(blockThreads, "convert-kda-to-kdk: block-threads");
    if (problem.empty() && recurrenceBlockThreads != 0)
      problem = checkBlockThreads(recurrenceBlockThreads,
                                  "convert-kda-to-kdk: recurrence-block-threads");
    if (problem.empty())
      problem = checkValueTile(valueTile, "convert-kda-to-kdk: v-tile");
    if (problem.empty())
      problem = checkSharedMemoryLimit(sharedMemoryLimit,
                                       "convert-kda-to-kdk: smem-limit");
    FailureOr<kda::ChunkLoopOp> loop = findSingleOp<kda::ChunkLoopOp>(
        module, "convert-kda-to-kdk", "kda.chunk_loop (run kda-chunk first)");
    if (succeeded(loop) && !problem.empty())
      loop->emitError() << problem;
    if (failed(loop) || !problem.empty() || failed(convert(module, *loop)))
      signalPassFailure();
  }

  LogicalResult convert(ModuleOp module, kda::ChunkLoopOp loop) {
    auto entry = loop->getParentOfType<func::FuncOp>();
    LoopGeometry g;
    g.chunk = loop.getChunkSize();
    std::string chunkProblem = kdac::limits::checkKernelChunkSize(
        g.chunk, "convert-kda-to-kdk: the chunk size");
    if (!chunkProblem.empty())
      return loop.emitError() << chunkProblem;
    auto qType = cast<RankedTensorType>(loop.getQ().getType());
    g.h = qType.getDimSize(2);
    g.kDim = qType.getDimSize(3);
    g.hv = cast<RankedTensorType>(loop.getV().getType()).getDimSize(2);
    g.vDim = loop.getValueDim();
    // A tile wider than V means all of V.
    g.valueTile = valueTile == 0 || valueTile >= g.vDim ? g.vDim
                                                         : int64_t(valueTile);
    g.gate = loop.getGate();
    g.layout = loop.getLayout();
    g.varlen = static_cast<bool>(loop.getCuSeqlens());
    if (g.vDim % g.valueTile != 0)
      return loop.emitError() << "convert-kda-to-kdk: v-tile " << g.valueTile
                              << " does not divide V = " << g.vDim;

    InputBindings inputs;
    auto bindTensor = [&](StringRef name, Value v) {
      if (v)
        inputs.tensorTypes[name] = elementTypeOf(rawInput(v));
    };
    bindTensor("q", loop.getQ());
    bindTensor("k", loop.getK());
    bindTensor("v", loop.getV());
    bindTensor("g", loop.getG());
    bindTensor("beta", loop.getBeta());
    bindTensor("initial_state", loop.getInitialState());
    bindTensor("cu_seqlens", loop.getCuSeqlens());
    inputs.tensorTypes["o"] = elementTypeOf(loop.getO());
    inputs.hasFinalState = static_cast<bool>(loop.getFinalState());
    inputs.qkL2Norm = isa_and_nonnull<kda::L2NormOp>(loop.getQ().getDefiningOp());
    inputs.betaSigmoid =
        isa_and_nonnull<kda::SigmoidOp>(loop.getBeta().getDefiningOp());
    if (Value gate = loop.getG())
      if (auto act = gate.getDefiningOp<kda::GateActivationOp>()) {
        inputs.activation = act.getActivation();
        inputs.lowerBound = act.getLowerBoundAttr();
        bindTensor("A_log", act.getALog());
        bindTensor("dt_bias", act.getDtBias());
      }
    Type qkType = inputs.tensorTypes.lookup("q");
    g.operandType = qkType.isF32() ? Float32Type::get(&getContext()) : qkType;
    g.stateType = loop.getFinalState() ? elementTypeOf(loop.getFinalState())
                  : loop.getInitialState()
                      ? elementTypeOf(loop.getInitialState())
                      : Float32Type::get(&getContext());

    double scale = 1.0;
    loop.getBody().walk(
        [&](kda::OutputOp op) { scale = op.getScale().convertToDouble(); });
    FailureOr<SplitPlan> plan = planSplit(loop, g, scale);
    if (failed(plan))
      return failure();

    KernelOptions opts;
    opts.blockThreads = blockThreads;
    opts.recurrenceBlockThreads =
        recurrenceBlockThreads == 0 ? int64_t(blockThreads)
                                    : int64_t(recurrenceBlockThreads);
    opts.valueTile = valueTile;
    opts.sharedMemoryLimit = sharedMemoryLimit;
    OpBuilder builder(&getContext());
    if (failed(buildChunkParallelKernel(builder, module, loop, g, *plan, opts, inputs)) ||
        failed(buildChunkScanKernel(builder, module, loop, g, *plan, opts,
                                     inputs)))
      return failure();
    module->setAttr(kdk::kChunkSizeAttr, builder.getI64IntegerAttr(g.chunk));
    entry.erase();
    return success();
  }
};
} // namespace
