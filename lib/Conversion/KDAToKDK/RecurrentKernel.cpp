//===- RecurrentKernel.cpp - kda.recurrence -> a token-by-token kernel ----===//
//
// The decode lowering: for a few tokens per sequence the chunkwise algebra
// does not pay, and the cost is reading and writing the state. One thread
// block per (V tile, value head, sequence) loads its K x Vt slice of the
// state once, applies the recurrence token by token on chip (decay, delta
// write, output) and stores it once.
//
//===----------------------------------------------------------------------===//
#include "kdac/Conversion/Passes.h"

#include "Lowering.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;

namespace kdac {
#define GEN_PASS_DEF_CONVERTKDARECURRENCETOKDK
#include "kdac/Conversion/Passes.h.inc"
} // namespace kdac

namespace {
using namespace kdac::lowering;

Type elementTypeOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

struct RecurrentKernelBuilder {
  KernelFunction &k;
  OpBuilder &b;
  Location loc;
  TilePool &pool;
  kda::RecurrenceOp op;
  int64_t h, hv, kDim, vDim, vTileWidth;

  void barrier() { k.barrier(); }

  LogicalResult build(const GlobalArgs &args) {
    Type f32 = b.getF32Type();
    Value vTile = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 0);
    Value head = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 1);
    Value sequence = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 2);
    Type indexType = b.getIndexType();
    // One-token "chunks": num_chunks is the sequence's length.
    auto range = kdk::SequenceRangeOp::create(
        b, loc, indexType, indexType, indexType, indexType, indexType,
        sequence, args.seqLen, args.cuSeqlens, 1);
    Value qkHead = k.div(head, hv / h);
    Value column = k.mul(vTile, vTileWidth);

    // The state slice, in either layout.
    Value state = pool.get({kDim, vTileWidth}, f32);
    Value stateBase = k.mul(k.add(k.mul(sequence, hv), head), kDim * vDim);
    bool kv = op.getLayout() == kda::StateLayout::kv;
    Value stateOffset =
        k.add(stateBase, kv ? column : k.mul(column, kDim));
    int64_t rowStride = kv ? vDim : 1, colStride = kv ? 1 : kDim;
    if (args.initialState)
      kdk::LoadTileOp::create(b, loc, args.initialState, stateOffset,
                              k.index(kDim), k.index(rowStride), colStride,
                              state);
    else
      kdk::FillOp::create(b, loc, state, b.getF64FloatAttr(0.0));
    barrier();

    Value q = pool.get({1, kDim}, f32), key = pool.get({1, kDim}, f32);
    Value v = pool.get({1, vTileWidth}, f32), gate = pool.get({1, kDim}, f32);
    Value beta = pool.get({1}, f32), decay = pool.get({kDim}, f32);
    Value kS = pool.get({1, vTileWidth}, f32), out = pool.get({1, vTileWidth}, f32);
    Value one = k.index(1);

    auto loop = scf::ForOp::create(b, loc, k.index(0), range.getNumChunks(),
                                   one);
    b.setInsertionPointToStart(loop.getBody());
    Value token = k.add(range.getStart(), loop.getInductionVar());
    Value batch = range.getBatch();
    auto load = [&](Value src, Value offset, int64_t colStrideOfLoad,
                    Value dst) {
      kdk::LoadTileOp::create(b, loc, src, offset, one, one, colStrideOfLoad,
                              dst);
    };
    load(args.q, tokenOffset(k, batch, token, args.seqLen, h, qkHead, kDim), 1,
         q);
    load(args.k, tokenOffset(k, batch, token, args.seqLen, h, qkHead, kDim), 1,
         key);
    load(args.v,
         k.add(tokenOffset(k, batch, token, args.seqLen, hv, head, vDim),
               column),
         1, v);
    kda::GateGranularity granularity = op.getGate();
    if (granularity == kda::GateGranularity::channel)
      load(args.g, tokenOffset(k, batch, token, args.seqLen, hv, head, kDim), 1,
           gate);
    else if (granularity == kda::GateGranularity::scalar)
      load(args.g, tokenOffset(k, batch, token, args.seqLen, hv, head, 1), 0,
           gate);
    load(args.beta, tokenOffset(k, batch, token, args.seqLen, hv, head, 1), 0,
         beta);
    barrier();

    if (args.qkL2Norm) {
      kdk::L2NormRowsOp::create(b, loc, q);
      kdk::L2NormRowsOp::create(b, loc, key);
    }
    if (args.activation != kda::GateActivation::none)
      kdk::GateActivationOp::create(
          b, loc, gate, head, one, args.aLog, args.dtBias, args.activation,
          args.lowerBound, granularity == kda::GateGranularity::scalar);
    if (args.betaSigmoid)
      kdk::SigmoidOp::create(b, loc, beta, one);
    barrier();

    // S = Diag(exp(g)) S
    if (granularity != kda::GateGranularity::none) {
      kdk::LastRowExpOp::create(b, loc, gate, decay);
      barrier();
      kdk::ScaleRowsOp::create(b, loc, state, decay);
      barrier();
    }
    // v' = beta (v - S^T k) for the delta rule, beta v for the additive one.
    if (op.getUpdate() == kda::UpdateRule::delta) {
      kdk::MmaOp::create(b, loc, key, state, kS, false, false,
                         llvm::APFloat(1.0));
      barrier();
      kdk::SubOp::create(b, loc, v, kS, v);
      barrier();
    }
    kdk::ScaleRowsOp::create(b, loc, v, beta);
    barrier();
    // S += k v'^T, then o = scale S^T q.
    kdk::MmaOp::create(b, loc, key, v, state, true, true, llvm::APFloat(1.0));
    barrier();
    kdk::MmaOp::create(b, loc, q, state, out, false, false,
                       llvm::APFloat(op.getEffectiveScale()));
    barrier();
    kdk::StoreTileOp::create(
        b, loc, out, args.o,
        k.add(tokenOffset(k, batch, token, args.seqLen, hv, head, vDim),
              column),
        one, one, 1);
    // The next token's loads overwrite these tiles.
    barrier();

    b.setInsertionPointAfter(loop);
    if (args.finalState)
      kdk::StoreTileOp::create(b, loc, state, args.finalState, stateOffset,
                               k.index(kDim), k.index(rowStride), colStride);
    return success();
  }
};

struct ConvertKDARecurrenceToKDKPass
    : kdac::impl::ConvertKDARecurrenceToKDKBase<ConvertKDARecurrenceToKDKPass> {
  using ConvertKDARecurrenceToKDKBase::ConvertKDARecurrenceToKDKBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<kda::RecurrenceOp> ops;
    module.walk([&](kda::RecurrenceOp op) { ops.push_back(op); });
    if (ops.size() != 1) {
      module.emitError() << "convert-kda-recurrence-to-kdk: expects exactly one "
                            "kda.recurrence, found "
                         << ops.size();
      return signalPassFailure();
    }
    if (failed(convert(module, ops.front())))
      signalPassFailure();
  }

  LogicalResult convert(ModuleOp module, kda::RecurrenceOp op) {
    int64_t vDim = op.getValueDim();
    int64_t width = valueTile == 0 || valueTile >= vDim ? vDim : int64_t(valueTile);
    if (vDim % width != 0)
      return op.emitError() << "convert-kda-recurrence-to-kdk: v-tile "
                            << width << " does not divide V = " << vDim;
    int64_t hv = op.getNumValueHeads();
    OpBuilder builder(&getContext());
    KernelFunction k(builder, module, "kda_recurrent", blockThreads,
                     {std::to_string(vDim / width), std::to_string(hv),
                      "sequences"});
    GlobalArgs args;
    args.q = k.addTensor("q", elementTypeOf(op.getQ()));
    args.k = k.addTensor("k", elementTypeOf(op.getK()));
    args.v = k.addTensor("v", elementTypeOf(op.getV()));
    if (op.getG())
      args.g = k.addTensor("g", elementTypeOf(op.getG()));
    args.beta = k.addTensor("beta", elementTypeOf(op.getBeta()));
    if (op.getALog())
      args.aLog = k.addTensor("A_log", elementTypeOf(op.getALog()));
    if (op.getDtBias())
      args.dtBias = k.addTensor("dt_bias", elementTypeOf(op.getDtBias()));
    if (op.getInitialState())
      args.initialState =
          k.addTensor("initial_state", elementTypeOf(op.getInitialState()));
    if (op.getCuSeqlens())
      args.cuSeqlens = k.addTensor("cu_seqlens", elementTypeOf(op.getCuSeqlens()));
    args.o = k.addTensor("o", elementTypeOf(op.getO()));
    if (op.getFinalState())
      args.finalState =
          k.addTensor("final_state", elementTypeOf(op.getFinalState()));
    args.seqLen = k.addSize("T");
    args.qkL2Norm = op.getQkL2norm();
    args.betaSigmoid = op.getBetaSigmoid();
    args.activation = op.getActivation();
    args.lowerBound = op.getLowerBoundAttr();
    k.beginBody();

    TilePool pool(k, sharedMemoryLimit);
    RecurrentKernelBuilder kernel{k,
                                  k.b,
                                  k.loc,
                                  pool,
                                  op,
                                  op.getNumQKHeads(),
                                  hv,
                                  op.getKeyDim(),
                                  vDim,
                                  width};
    if (failed(kernel.build(args)) ||
        failed(k.finish(pool, op, "recurrent kernel", "use a smaller v-tile")))
      return failure();
    // Token-by-token: every "chunk" is one token.
    module->setAttr(kdk::kChunkSizeAttr, builder.getI64IntegerAttr(1));
    op->getParentOfType<func::FuncOp>().erase();
    return success();
  }
};
} // namespace
