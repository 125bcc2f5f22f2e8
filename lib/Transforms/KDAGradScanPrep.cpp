//===- KDAGradScanPrep.cpp - The backward scans' state-free work, ahead ---===//
//
// The backward's two scans (kda.chunk_states, kda.chunk_state_grads) visit
// the chunks of a sequence one after another, one block per (sequence,
// value head), yet most of what their bodies compute -- the gate's cumsum,
// the grams, the UT inverse, the WY factors -- does not read the carried
// state. This pass moves that work into one kda.chunk_map, which runs every
// chunk in parallel, and hands the scans what they read of it as prepared
// operands (per chunk slot; a workspace each in the kernels). The scans keep
// the ops that read the state, and recompute a state-free value larger than
// a chunk's tile (C x max(K, V) elements: a K x V product) from its operands
// rather than read it, since storing it per chunk would move as many bytes
// as the state itself.
//
//===----------------------------------------------------------------------===//
#include "kdac/Transforms/Passes.h"

#include "DeadOps.h"

#include "KDA/KDAOps.h"

#include "mlir/IR/Dominance.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/CSE.h"

#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace mlir::kda;

namespace kdac {
#define GEN_PASS_DEF_KDAGRADSCANPREP
#include "kdac/Transforms/Passes.h.inc"
} // namespace kdac

namespace {

/// A scan's body arguments q, k, v, g, beta come first, as kda.chunk_map's.
constexpr unsigned kNumInputs = ChunkMapOp::kNumBodyArgs;

/// What one scan reads of the map: body values computed from the chunk's
/// inputs alone, in body order.
struct ScanPlan {
  Operation *scan;
  Block *body;
  llvm::SetVector<Value> crossings;
};

int64_t elementsOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getNumElements();
}

/// Splits `scan`'s body: the values free of the state (computed from q, k,
/// v, g, beta alone by ops without regions or effects) that the ops the
/// scan keeps read, where they are at most `maxElements`.
ScanPlan planScan(Operation *scan, int64_t maxElements) {
  ScanPlan plan{scan, &scan->getRegion(0).front(), {}};
  Block &body = *plan.body;
  llvm::DenseSet<Value> free;
  for (unsigned i = 0; i < kNumInputs; ++i)
    free.insert(body.getArgument(i));
  for (Operation &op : body.without_terminator())
    if (op.getNumRegions() == 0 && isPure(&op) && op.getNumOperands() != 0 &&
        llvm::all_of(op.getOperands(),
                     [&](Value v) { return free.contains(v); }))
      free.insert(op.result_begin(), op.result_end());
  // Walk back from the terminator: an op stays when it reads the state (or
  // is a constant, or too large to store); a free value it reads crosses.
  llvm::DenseSet<Operation *> stays;
  SmallVector<Operation *> worklist = {body.getTerminator()};
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val();
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (!def || stays.contains(def) || plan.crossings.contains(operand))
        continue;
      if (free.contains(operand) && elementsOf(operand) <= maxElements) {
        plan.crossings.insert(operand);
        continue;
      }
      stays.insert(def);
      worklist.push_back(def);
    }
  }
  // Body order, so that the map's results (and workspaces) do not depend on
  // the walk.
  SmallVector<Value> ordered;
  for (Operation &op : body)
    for (Value result : op.getResults())
      if (plan.crossings.contains(result))
        ordered.push_back(result);
  plan.crossings = llvm::SetVector<Value>(ordered.begin(), ordered.end());
  return plan;
}

struct KDAGradScanPrepPass
    : kdac::impl::KDAGradScanPrepBase<KDAGradScanPrepPass> {
  void runOnOperation() override {
    SmallVector<ChunkStatesOp> states;
    SmallVector<ChunkStateGradsOp> grads;
    getOperation().walk([&](Operation *op) {
      if (auto s = dyn_cast<ChunkStatesOp>(op))
        states.push_back(s);
      else if (auto g = dyn_cast<ChunkStateGradsOp>(op))
        grads.push_back(g);
    });
    if (states.size() > 1 || grads.size() > 1 ||
        states.size() != grads.size()) {
      getOperation().emitError()
          << "kda-grad-scan-prep: expects one kda.chunk_states and one "
             "kda.chunk_state_grads (kda-chunk-grad-split makes them)";
      return signalPassFailure();
    }
    if (states.empty())
      return;
    if (failed(prepare(states.front(), grads.front())))
      signalPassFailure();
  }

  LogicalResult prepare(ChunkStatesOp states, ChunkStateGradsOp grads) {
    if (!states.getPrepared().empty() || !grads.getPrepared().empty())
      return states.emitError() << "kda-grad-scan-prep: the scans already "
                                   "read prepared values";
    auto sameInputs = states.getQ() == grads.getQ() &&
                      states.getK() == grads.getK() &&
                      states.getV() == grads.getV() &&
                      states.getG() == grads.getG() &&
                      states.getBeta() == grads.getBeta() &&
                      states.getCuSeqlens() == grads.getCuSeqlens();
    if (!sameInputs)
      return states.emitError() << "kda-grad-scan-prep: expects both scans "
                                   "to read the same q, k, v, g, beta";
    auto qType = cast<RankedTensorType>(states.getQ().getType());
    auto vType = cast<RankedTensorType>(states.getV().getType());
    const int64_t c = states.getChunkSize(), hv = vType.getDimSize(2);
    const int64_t maxElements =
        c * std::max(qType.getDimSize(3), vType.getDimSize(3));
    ScanPlan plans[] = {planScan(states, maxElements),
                        planScan(grads, maxElements)};
    if (plans[0].crossings.empty() && plans[1].crossings.empty())
      return success();

    // One map computes what both scans read: first with no results, to hold
    // the body while it is built and merged.
    OpBuilder b(states);
    Location loc = states.getLoc();
    auto slotType = [&](Value tile) -> Type {
      auto type = cast<RankedTensorType>(tile.getType());
      SmallVector<int64_t> shape = {ShapedType::kDynamic, hv};
      shape.append(type.getShape().begin(), type.getShape().end());
      return RankedTensorType::get(shape, type.getElementType());
    };
    auto makeMap = [&](ArrayRef<Value> tiles) {
      SmallVector<Type> types = llvm::map_to_vector(tiles, slotType);
      SmallVector<Attribute> names;
      for (size_t i = 0; i < tiles.size(); ++i)
        names.push_back(b.getStringAttr("prepared" + std::to_string(i)));
      return ChunkMapOp::create(b, loc, types, states.getQ(), states.getK(),
                                states.getV(), states.getG(), states.getBeta(),
                                states.getCuSeqlens(), states.getChunkSize(),
                                states.getGate(), b.getArrayAttr(names));
    };
    ChunkMapOp merged = makeMap({});
    Block *mapBody = new Block();
    merged.getBody().push_back(mapBody);
    Block &first = *plans[0].body;
    for (unsigned i = 0; i < kNumInputs; ++i)
      mapBody->addArgument(first.getArgument(i).getType(), loc);
    OpBuilder inner = OpBuilder::atBlockEnd(mapBody);
    SmallVector<Value> yielded;
    for (ScanPlan &plan : plans) {
      IRMapping mapping;
      for (unsigned i = 0; i < kNumInputs; ++i)
        mapping.map(plan.body->getArgument(i), mapBody->getArgument(i));
      // Every state-free op; what no crossing needs is erased below.
      for (Operation &op : plan.body->without_terminator())
        if (op.getNumRegions() == 0 && isPure(&op) && op.getNumOperands() &&
            llvm::all_of(op.getOperands(),
                         [&](Value v) { return mapping.contains(v); }))
          inner.clone(op, mapping);
      for (Value crossing : plan.crossings)
        yielded.push_back(mapping.lookup(crossing));
    }
    auto yield = MapYieldOp::create(inner, loc, yielded);
    kdac::eraseDeadOps(*mapBody);
    // Both bodies compute the cumsum, the grams and the inverse alike: merge
    // them, then yield each distinct value once.
    IRRewriter rewriter(&getContext());
    DominanceInfo dominance;
    mlir::eliminateCommonSubExpressions(rewriter, dominance, merged);
    SmallVector<Value> tileOf(yield.getValues());
    llvm::SetVector<Value> distinct(tileOf.begin(), tileOf.end());
    ChunkMapOp map = makeMap(distinct.getArrayRef());
    map.getBody().takeBody(merged.getBody());
    yield.getValuesMutable().assign(distinct.getArrayRef());
    merged.erase();

    // Each scan reads its crossings from the map's results as body
    // arguments after its own.
    llvm::DenseMap<Value, unsigned> resultOf;
    for (auto [i, tile] : llvm::enumerate(distinct))
      resultOf[tile] = i;
    unsigned next = 0;
    for (ScanPlan &plan : plans) {
      SmallVector<Value> prepared;
      for (Value crossing : plan.crossings) {
        prepared.push_back(map.getValues()[resultOf.lookup(tileOf[next++])]);
        BlockArgument arg =
            plan.body->addArgument(crossing.getType(), crossing.getLoc());
        crossing.replaceAllUsesWith(arg);
      }
      kdac::eraseDeadOps(*plan.body);
      if (auto s = dyn_cast<ChunkStatesOp>(plan.scan))
        s.getPreparedMutable().assign(prepared);
      else
        cast<ChunkStateGradsOp>(plan.scan).getPreparedMutable().assign(prepared);
    }
    return success();
  }
};

} // namespace
