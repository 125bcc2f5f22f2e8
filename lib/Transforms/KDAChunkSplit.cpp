//===- KDAChunkSplit.cpp - The forward chunk loop split at the state ------===//
//
// Only the ops that read the carried state are sequential in a forward
// chunk loop; everything else (the grams, the UT inverse, the WY factors)
// is independent per chunk. The kernels run the two parts apart, meeting at
// workspaces, so this pass makes the cut explicit in IR: kda.chunk_map holds
// the independent ops and yields what crosses, kda.chunk_scan holds the
// state recurrence and reads it. Which values cross, under which names, and
// the decays folded into them (q to the chunk's start with the output's
// scale, k to its last row, the chunk's total decay) are decided here, not
// in the kernel builders.
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"

#include "KDA/KDAOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace mlir::kda;

namespace kdac {
#define GEN_PASS_DEF_KDACHUNKSPLIT
#include "kdac/Transforms/Passes.h.inc"
} // namespace kdac

namespace {

/// A value the scan reads from the map, under its workspace name.
struct Crossing {
  enum Kind { Copy, DecayToStart, DecayToLast, LastRowExp };
  std::string name;
  Kind kind = Copy;
  /// Body values of the loop it is computed from: the value itself (Copy),
  /// (x, gc) for the decays, gc for LastRowExp.
  SmallVector<Value, 2> inputs;
  double scale = 1.0;
};

class LoopSplitter {
public:
  explicit LoopSplitter(ChunkLoopOp loop) : loop(loop) {}

  LogicalResult split();

private:
  LogicalResult planCrossings();
  void add(StringRef name, Crossing::Kind kind, ArrayRef<Value> inputs,
           double scale = 1.0);
  Value crossing(StringRef name) const;
  ChunkMapOp buildMap(OpBuilder &b);
  void buildScan(OpBuilder &b, ChunkMapOp map);

  ChunkLoopOp loop;
  llvm::DenseSet<Value> dependent;
  SmallVector<Operation *> independentOps, dependentOps;
  SmallVector<Crossing> crossings;
  /// The scan body's argument per crossing name.
  llvm::StringMap<Value> scanArgs;
};

void LoopSplitter::add(StringRef name, Crossing::Kind kind,
                       ArrayRef<Value> inputs, double scale) {
  for (const Crossing &c : crossings)
    if (c.name == name)
      return;
  crossings.push_back({name.str(), kind, SmallVector<Value, 2>(inputs), scale});
}

LogicalResult LoopSplitter::planCrossings() {
  Block &body = loop.getBody().front();
  dependent.insert(body.getArgument(ChunkLoopOp::kState));
  for (Operation &op : body.without_terminator()) {
    bool readsState = llvm::any_of(
        op.getOperands(), [&](Value v) { return dependent.contains(v); });
    if (readsState) {
      dependentOps.push_back(&op);
      dependent.insert(op.result_begin(), op.result_end());
    } else {
      independentOps.push_back(&op);
    }
  }
  // The chunk's values v' cross as they are when they do not read the
  // state (the additive rule: v' = beta v).
  auto independentValues = [&](Operation *op, Value values) -> LogicalResult {
    if (dependent.contains(values))
      return success();
    for (const Crossing &c : crossings)
      if (c.name == "vnew" && c.inputs.front() != values)
        return op->emitError() << "kda-chunk-split: expects the output and the "
                                  "state update to read the same values";
    add("vnew", Crossing::Copy, {values});
    return success();
  };
  for (auto [i, op] : llvm::enumerate(dependentOps)) {
    bool ok = true;
    if (auto apply = dyn_cast<StateApplyOp>(op)) {
      ok = !dependent.contains(apply.getU()) && !dependent.contains(apply.getW());
      add("u", Crossing::Copy, {apply.getU()});
      add("w", Crossing::Copy, {apply.getW()});
    } else if (auto output = dyn_cast<OutputOp>(op)) {
      ok = !dependent.contains(output.getQ()) &&
           !dependent.contains(output.getGc()) &&
           !dependent.contains(output.getAqk());
      add("qg", Crossing::DecayToStart, {output.getQ(), output.getGc()},
          output.getScale().convertToDouble());
      add("aqk", Crossing::Copy, {output.getAqk()});
      if (failed(independentValues(op, output.getValues())))
        return failure();
    } else if (auto update = dyn_cast<StateUpdateOp>(op)) {
      ok = !dependent.contains(update.getK()) &&
           !dependent.contains(update.getGc()) &&
           i + 1 == dependentOps.size();
      add("kg", Crossing::DecayToLast, {update.getK(), update.getGc()});
      add("glast", Crossing::LastRowExp, {update.getGc()});
      if (failed(independentValues(op, update.getValues())))
        return failure();
    } else {
      return op->emitError()
             << "kda-chunk-split: no split for state-dependent op '"
             << op->getName() << "'";
    }
    if (!ok)
      return op->emitError()
             << "kda-chunk-split: expects the state to enter only through "
                "the state operand and the state update to come last";
  }
  auto yield = cast<YieldOp>(body.getTerminator());
  if (!dependent.contains(yield.getO()) ||
      !dependent.contains(yield.getState()))
    return yield.emitError() << "kda-chunk-split: expects the yielded output "
                                "and state to be computed from the state";
  return success();
}

ChunkMapOp LoopSplitter::buildMap(OpBuilder &b) {
  Location loc = loop.getLoc();
  Block &body = loop.getBody().front();
  auto typeOf = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  int64_t hv = cast<RankedTensorType>(loop.getV().getType()).getDimSize(2);
  SmallVector<Type> resultTypes;
  SmallVector<Attribute> names;
  for (const Crossing &c : crossings) {
    RankedTensorType tile = typeOf(c.inputs.front());
    SmallVector<int64_t> shape = {ShapedType::kDynamic, hv};
    if (c.kind == Crossing::LastRowExp)
      shape.push_back(tile.getDimSize(1));
    else
      shape.append(tile.getShape().begin(), tile.getShape().end());
    resultTypes.push_back(RankedTensorType::get(shape, tile.getElementType()));
    names.push_back(b.getStringAttr(c.name));
  }
  auto map = ChunkMapOp::create(
      b, loc, resultTypes, loop.getQ(), loop.getK(), loop.getV(), loop.getG(),
      loop.getBeta(), loop.getCuSeqlens(), loop.getChunkSize(), loop.getGate(),
      b.getArrayAttr(names));
  Block *mapBody = new Block();
  map.getBody().push_back(mapBody);
  IRMapping mapping;
  for (unsigned i = 0; i < ChunkMapOp::kNumBodyArgs; ++i)
    mapping.map(body.getArgument(i),
                mapBody->addArgument(body.getArgument(i).getType(), loc));
  OpBuilder inner = OpBuilder::atBlockEnd(mapBody);
  for (Operation *op : independentOps)
    inner.clone(*op, mapping);
  SmallVector<Value> yielded;
  for (const Crossing &c : crossings) {
    Value first = mapping.lookup(c.inputs.front());
    switch (c.kind) {
    case Crossing::Copy:
      yielded.push_back(first);
      break;
    case Crossing::DecayToStart:
    case Crossing::DecayToLast:
      yielded.push_back(DecayRowsOp::create(
          inner, loc, first, mapping.lookup(c.inputs[1]),
          c.kind == Crossing::DecayToLast,
          llvm::APFloat(c.kind == Crossing::DecayToLast ? 1.0 : c.scale)));
      break;
    case Crossing::LastRowExp:
      yielded.push_back(LastRowExpOp::create(
          inner, loc,
          RankedTensorType::get({typeOf(first).getDimSize(1)},
                                typeOf(first).getElementType()),
          first));
      break;
    }
  }
  MapYieldOp::create(inner, loc, yielded);
  return map;
}

void LoopSplitter::buildScan(OpBuilder &b, ChunkMapOp map) {
  Location loc = loop.getLoc();
  Block &body = loop.getBody().front();
  SmallVector<Type> resultTypes = {loop.getO().getType()};
  if (Value final = loop.getFinalState())
    resultTypes.push_back(final.getType());
  auto scan = ChunkScanOp::create(
      b, loc, resultTypes, map.getValues(), loop.getV(),
      loop.getInitialState(), loop.getCuSeqlens(), loop.getChunkSize(),
      loop.getLayout());
  Block *scanBody = new Block();
  scan.getBody().push_back(scanBody);
  for (auto [c, value] : llvm::zip(crossings, map.getValues())) {
    auto slotType = cast<RankedTensorType>(value.getType());
    scanArgs[c.name] = scanBody->addArgument(
        RankedTensorType::get(slotType.getShape().drop_front(2),
                              slotType.getElementType()),
        loc);
  }
  IRMapping mapping;
  mapping.map(body.getArgument(ChunkLoopOp::kState),
              scanBody->addArgument(
                  body.getArgument(ChunkLoopOp::kState).getType(), loc));
  OpBuilder inner = OpBuilder::atBlockEnd(scanBody);
  auto values = [&](Value v) {
    return dependent.contains(v) ? mapping.lookup(v) : crossing("vnew");
  };
  for (Operation *op : dependentOps) {
    Operation *made = nullptr;
    if (auto apply = dyn_cast<StateApplyOp>(op))
      made = StateApplyOp::create(inner, loc, crossing("u"), crossing("w"),
                                  mapping.lookup(apply.getState()));
    else if (auto output = dyn_cast<OutputOp>(op))
      made = DecayedOutputOp::create(inner, loc, crossing("qg"),
                                     mapping.lookup(output.getState()),
                                     crossing("aqk"),
                                     values(output.getValues()));
    else if (auto update = dyn_cast<StateUpdateOp>(op))
      made = DecayedStateUpdateOp::create(inner, loc,
                                          mapping.lookup(update.getState()),
                                          crossing("kg"), crossing("glast"),
                                          values(update.getValues()));
    mapping.map(op->getResult(0), made->getResult(0));
  }
  auto yield = cast<YieldOp>(body.getTerminator());
  YieldOp::create(inner, loc, mapping.lookup(yield.getO()),
                  mapping.lookup(yield.getState()));
  loop.getO().replaceAllUsesWith(scan.getO());
  if (Value final = loop.getFinalState())
    final.replaceAllUsesWith(scan.getFinalState());
}

Value LoopSplitter::crossing(StringRef name) const {
  return scanArgs.lookup(name);
}

LogicalResult LoopSplitter::split() {
  if (failed(planCrossings()))
    return failure();
  OpBuilder b(loop);
  buildScan(b, buildMap(b));
  loop.erase();
  return success();
}

struct KDAChunkSplitPass : kdac::impl::KDAChunkSplitBase<KDAChunkSplitPass> {
  void runOnOperation() override {
    SmallVector<ChunkLoopOp> loops;
    getOperation().walk([&](ChunkLoopOp loop) { loops.push_back(loop); });
    for (ChunkLoopOp loop : loops)
      if (failed(LoopSplitter(loop).split()))
        return signalPassFailure();
  }
};

} // namespace
