//===- DecodeKernel.cpp - kda.recurrence -> a token-by-token kernel -------===//
//
// The decode lowering: for a few tokens per sequence the chunkwise algebra
// does not pay, and the cost is reading and writing the state. One thread
// block per (V tile, value head, sequence) loads its K x Vt slice of the
// state once -- into registers, or into shared memory by cp.async while
// the token's prologue runs (state-in) -- applies the recurrence token by
// token (decay, delta write, output) and stores it once -- or, for a state
// pool, reads and writes the slots state_indices names (see
// kda.recurrence).
//
//===----------------------------------------------------------------------===//
#include "kdac/Conversion/Passes.h"
#include "kdac/Spec/Limits.h"

#include "DecodeStatePlan.h"
#include "Lowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
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

/// The tensors of a state pool (absent without one).
struct PoolArgs {
  Value pool, indices, accepted, slotsPerSequence;
  /// token_records, with the pool only read.
  Value records;
  bool perToken = false;
};

struct DecodeKernelBuilder {
  KernelFunction &k;
  OpBuilder &b;
  Location loc;
  TilePool &sharedTiles;
  kda::RecurrenceOp op;
  int64_t h, hv, kDim, vDim;
  const StateFragmentPlan &plan;

  void barrier() { k.barrier(); }

  Value loadIndex(Value buffer, Value offset) {
    return kdk::LoadIndexOp::create(b, loc, b.getIndexType(), buffer, offset);
  }

  /// The slot the sequence's state starts from: the sequence itself, or
  /// its entry of state_indices (-1 when num_accepted points outside it).
  Value startSlot(const PoolArgs &p, Value sequence) {
    if (!p.indices)
      return sequence;
    if (!p.perToken)
      return loadIndex(p.indices, sequence);
    Value row = k.mul(sequence, p.slotsPerSequence);
    if (!p.accepted)
      return loadIndex(p.indices, row);
    // One statement per op created: the IR (and the CUDA) must not depend
    // on the compiler's order of evaluating arguments.
    Value one = k.index(1);
    Value column = k.sub(loadIndex(p.accepted, sequence), one);
    Value belowEnd =
        k.compare(arith::CmpIPredicate::slt, column, p.slotsPerSequence);
    Value atLeastZero =
        k.compare(arith::CmpIPredicate::sge, column, k.index(0));
    Value inside = arith::AndIOp::create(b, loc, atLeastZero, belowEnd);
    // Read column 0 when outside, so the load itself stays in bounds.
    Value safeColumn =
        arith::SelectOp::create(b, loc, inside, column, k.index(0));
    Value slot =
        loadIndex(p.indices, k.add(row, safeColumn));
    return arith::SelectOp::create(b, loc, inside, slot, k.index(-1));
  }

  /// The shared tiles of a group of tokens' inputs, one row per token.
  struct TokenTiles {
    Value q, key, v, gate, beta;
  };

  /// Loads `tokens` rows of q, k, v, g and beta from token `token` of the
  /// sequence into `t`. Token rows of q, k and g are heads x K apart, of v
  /// heads x V, of beta heads (the [B, T, heads, dim] layouts);
  /// `singleRowStride`, when given, is the row stride of a one-token load.
  void loadTokenRows(const GlobalArgs &args, Value batch, Value token,
                     Value head, Value qkHead, Value column, Value tokens,
                     Value singleRowStride, const TokenTiles &t) {
    auto load = [&](Value src, Value offset, int64_t tokenStride,
                    int64_t colStrideOfLoad, Value dst) {
      kdk::LoadTileOp::create(
          b, loc, src, offset, tokens,
          singleRowStride ? singleRowStride : k.index(tokenStride),
          colStrideOfLoad, dst);
    };
    load(args.q, tokenOffset(k, batch, token, args.seqLen, h, qkHead, kDim),
         h * kDim, 1, t.q);
    load(args.k, tokenOffset(k, batch, token, args.seqLen, h, qkHead, kDim),
         h * kDim, 1, t.key);
    load(args.v,
         k.add(tokenOffset(k, batch, token, args.seqLen, hv, head, vDim),
               column),
         hv * vDim, 1, t.v);
    kda::GateGranularity granularity = op.getGate();
    if (granularity == kda::GateGranularity::channel)
      load(args.g, tokenOffset(k, batch, token, args.seqLen, hv, head, kDim),
           hv * kDim, 1, t.gate);
    else if (granularity == kda::GateGranularity::scalar)
      load(args.g, tokenOffset(k, batch, token, args.seqLen, hv, head, 1), hv,
           0, t.gate);
    load(args.beta, tokenOffset(k, batch, token, args.seqLen, hv, head, 1), hv,
         0, t.beta);
  }

  /// The tokens' prologue on their tiles, between two barriers: q and k L2
  /// norms, the gate activation and beta's sigmoid. `cumulative` also
  /// turns the gate into its running sum over the tokens (the chunk form).
  void tokenPrologue(const GlobalArgs &args, Value head, Value tokens,
                     const TokenTiles &t, bool cumulative) {
    if (args.qkL2Norm) {
      kdk::L2NormRowsOp::create(b, loc, t.q);
      kdk::L2NormRowsOp::create(b, loc, t.key);
    }
    if (args.activation != kda::GateActivation::none)
      kdk::GateActivationOp::create(
          b, loc, t.gate, head, tokens, args.aLog, args.dtBias,
          args.activation, args.lowerBound,
          op.getGate() == kda::GateGranularity::scalar, cumulative);
    else if (cumulative)
      kdk::CumsumRowsOp::create(b, loc, t.gate);
    if (args.betaSigmoid)
      kdk::SigmoidOp::create(b, loc, t.beta, tokens);
  }

  /// What the chunk form takes from build()'s common start.
  struct TokenChunk {
    const GlobalArgs &args;
    Value token, batch, head, qkHead, column, state, slotOffset, destination;
    int64_t rowStride;
    bool asyncState;
    /// token_records, written instead of the state (see kda.recurrence).
    Value records;
  };

  /// Stores `rows` rows of `tile` into the token records at column `field`
  /// of each token's record row.
  void storeRecordRows(const TokenChunk &c, Value tile, Value rows,
                       Value field) {
    int64_t width = 2 * kDim + vDim;
    Value offset = tokenOffset(k, c.batch, c.token, c.args.seqLen, hv, c.head,
                               width);
    kdk::StoreTileOp::create(b, loc, tile, c.records, k.add(offset, field),
                             rows, k.index(hv * width), 1);
  }

  /// The call's n tokens (static, at most kDecodeTokenGroup) as one chunk
  /// of the chunked forward, on a state slice that stays in shared memory
  /// as it was loaded: with G_t = exp(gc_t) the decay up to token t,
  ///   [K S; Q S] = [k G; scale q G] S           one tensor-core product
  ///   v' = (I + diag(beta) tril(k k^T G_t / G_i, -1))^-1 diag(beta) (v - K S)
  ///   o  = Q S + scale tril(q k^T G_t / G_i) v'
  ///   S' = diag(G_n) S + (k G_n / G)^T v'       one pass, to global memory
  /// so a 16-bit state is read and written once and rounded only there.
  /// With token records the state is only read: each token's k, g and v'
  /// go to the records instead (the key's and gate's by the first V tile).
  void buildTokenChunk(const TokenChunk &c) {
    Type f32 = b.getF32Type();
    int64_t n = plan.chunkTokens, width = plan.vTile;
    Value tokens = k.index(n);
    auto tile = [&](ArrayRef<int64_t> shape, Type type) {
      return sharedTiles.get(shape, type);
    };
    // The product's A: rows [0, n) the decayed keys, [half, half + n) the
    // decayed queries; the rest stay zero (M = 16 for the tensor cores).
    int64_t half = kDecodeTokenGroup;
    Value factors = tile({2 * half, kDim}, plan.elementType);
    Value products = tile({2 * half, width}, f32);
    kdk::FillOp::create(b, loc, factors, b.getF64FloatAttr(0.0));
    Value q = tile({n, kDim}, f32), key = tile({n, kDim}, f32);
    Value v = tile({n, width}, f32), gate = tile({n, kDim}, f32);
    Value beta = tile({n}, f32);

    const GlobalArgs &args = c.args;
    Value token = c.token, batch = c.batch;
    TokenTiles inputs{q, key, v, gate, beta};
    loadTokenRows(args, batch, token, c.head, c.qkHead, c.column, tokens,
                  Value(), inputs);
    barrier();
    // The prologue; the gate becomes its running sum gc (after the records
    // took the per-token gate).
    tokenPrologue(args, c.head, tokens, inputs, /*cumulative=*/!c.records);
    barrier();
    if (c.records) {
      {
        OpBuilder::InsertionGuard guard(b);
        k.enterIf(k.compare(arith::CmpIPredicate::eq, c.column, k.index(0)));
        storeRecordRows(c, key, tokens, k.index(0));
        storeRecordRows(c, gate, tokens, k.index(kDim));
      }
      barrier();
      kdk::CumsumRowsOp::create(b, loc, gate);
      barrier();
    }

    double scale = op.getEffectiveScale();
    auto rows = [&](Value t, int64_t row, int64_t count, int64_t cols) {
      return blockView(b, loc, t, row, 0, {count, cols});
    };
    kdk::DecayRowsOp::create(b, loc, key, gate, Value(),
                             rows(factors, 0, n, kDim), false,
                             llvm::APFloat(1.0));
    kdk::DecayRowsOp::create(b, loc, q, gate, Value(),
                             rows(factors, half, n, kDim), false,
                             llvm::APFloat(scale));
    Value akk = tile({n, n}, f32), aqk = tile({n, n}, f32);
    kdk::DecayedGramOp::create(b, loc, key, key, gate, beta, akk,
                               kda::CausalMask::strict, llvm::APFloat(1.0),
                               /*anchor_block=*/0, /*tensor_cores=*/false,
                               /*first_warp=*/0);
    kdk::DecayedGramOp::create(b, loc, q, key, gate, Value(), aqk,
                               kda::CausalMask::inclusive, llvm::APFloat(scale),
                               /*anchor_block=*/0, /*tensor_cores=*/false,
                               /*first_warp=*/0);
    if (c.asyncState)
      kdk::WaitAsyncOp::create(b, loc);
    barrier();

    // The queries are spent: their tile takes the keys decayed to the end.
    kdk::MmaOp::create(b, loc, factors, c.state, products, false, false,
                       llvm::APFloat(1.0));
    Value inverse = tile({n, n}, f32);
    kdk::TriInverseOp::create(b, loc, akk, inverse);
    Value keysToEnd = q, totalDecay = tile({kDim}, f32);
    kdk::DecayRowsOp::create(b, loc, key, gate, Value(), keysToEnd, true,
                             llvm::APFloat(1.0));
    kdk::LastRowExpOp::create(b, loc, gate, totalDecay);
    barrier();
    // Spent: the gate (v' takes its place) and the keys' gram.
    sharedTiles.release(gate);
    sharedTiles.release(akk);

    // u = diag(beta) (v - K S) in v's tile, then v' = A u in the gate's.
    kdk::SubOp::create(b, loc, v, rows(products, 0, n, width), v);
    kdk::ScaleRowsOp::create(b, loc, v, beta, Value());
    barrier();
    Value corrected = tile({n, width}, f32);
    kdk::MmaOp::create(b, loc, inverse, v, corrected, false, false,
                       llvm::APFloat(1.0));
    barrier();
    if (c.records)
      storeRecordRows(c, corrected, tokens, k.add(k.index(2 * kDim), c.column));

    Value out = rows(products, half, n, width);
    kdk::MmaOp::create(b, loc, aqk, corrected, out, false, true,
                       llvm::APFloat(1.0));
    if (c.destination)
      kdk::ChunkStateStoreOp::create(b, loc, c.state, totalDecay, keysToEnd,
                                     corrected, c.destination, c.slotOffset,
                                     k.index(c.rowStride));
    barrier();
    kdk::StoreTileOp::create(
        b, loc, out, args.o,
        k.add(tokenOffset(k, batch, token, args.seqLen, hv, c.head, vDim),
              c.column),
        tokens, k.index(hv * vDim), 1);
  }

  LogicalResult build(const GlobalArgs &args, const PoolArgs &poolArgs) {
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
    int64_t vTileWidth = plan.vTile;
    Value column = k.mul(vTile, vTileWidth);

    // The state slice lives in registers for the whole call.
    bool kv = op.getLayout() == kda::StateLayout::kv;
    int64_t rowStride = kv ? vDim : 1, colStride = kv ? 1 : kDim;
    auto stateOffset = [&](Value slot) {
      Value base = k.mul(k.add(k.mul(slot, hv), head), kDim * vDim);
      return k.add(base, kv ? column : k.mul(column, kDim));
    };
    auto storeState = [&](Value state, Value buffer, Value offset) {
      Value stride = k.index(rowStride);
      Value rows = k.index(kDim);
      kdk::StoreTileOp::create(b, loc, state, buffer, offset, rows, stride,
                               colStride);
    };
    Value slot = startSlot(poolArgs, sequence);
    if (poolArgs.indices)
      k.enterIf(k.compare(arith::CmpIPredicate::sge, slot, k.index(0)));
    Value slotOffset = stateOffset(slot);
    Value state;
    // A shared slice of the storage type arrives by cp.async, overlapping
    // the token's prologue; the first token waits for it.
    bool asyncState = false;
    if (plan.inShared) {
      // Unpadded for token steps: each quarter-warp reads two rows' runs
      // of one warp's columns, in the same banks with or without 16 bytes
      // of padding, and the 2 KB saved is what lets six blocks share an
      // SM. The chunk form pads: its product reads the state by ldmatrix.
      state = sharedTiles.get({kDim, vTileWidth}, plan.elementType,
                              plan.chunkTokens > 0
                                  ? TilePool::RowPadding::SixteenBytes
                                  : TilePool::RowPadding::None);
      asyncState = args.initialState && kv &&
                   plan.elementType == elementTypeOf(args.initialState);
    } else {
      auto fragmentLayout = kdk::FragmentLayoutAttr::get(
          b.getContext(), plan.axis, plan.vector, plan.lanes);
      state = kdk::AllocTileOp::create(
          b, loc,
          MemRefType::get({kDim, vTileWidth}, plan.elementType,
                          MemRefLayoutAttrInterface(), fragmentLayout),
          /*offset=*/nullptr);
    }
    if (args.initialState) {
      Value stride = k.index(rowStride);
      Value rows = k.index(kDim);
      kdk::LoadTileOp::create(b, loc, args.initialState, slotOffset, rows,
                              stride, colStride, state, asyncState);
    } else
      kdk::FillOp::create(b, loc, state, b.getF64FloatAttr(0.0));

    if (plan.chunkTokens > 0) {
      // (A pool here has one slot per sequence: the chunk form keeps no
      // per-token states.)
      // Token records leave the pool as it was.
      Value destination = poolArgs.records ? Value()
                          : poolArgs.pool  ? poolArgs.pool
                                           : args.finalState;
      TokenChunk chunk{args,      range.getStart(), range.getBatch(),
                       head,      qkHead,           column,
                       state,     slotOffset,       destination,
                       rowStride, asyncState,       poolArgs.records};
      buildTokenChunk(chunk);
      b.setInsertionPointToEnd(&k.getFunction().getBody().front());
      return success();
    }

    // The tokens' vectors live in shared memory, read by every column: one
    // row per token of a group (see kDecodeTokenGroup).
    bool oneToken = oneTokenPerCall(op);
    int64_t group = oneToken ? 1 : tokenGroupOf(op);
    auto vector = [&](ArrayRef<int64_t> shape) {
      return sharedTiles.get(shape, f32);
    };
    Value q = vector({group, kDim}), key = vector({group, kDim});
    Value v = vector({group, vTileWidth}), gate = vector({group, kDim});
    Value beta = vector({group});
    // A group's decays are its exponentiated gate rows, in place.
    Value decay = oneToken ? vector({kDim}) : gate;
    Value out = vector({group, vTileWidth});
    Value one = k.index(1);

    // A one-token call has no token loop: nothing waits for a next token.
    // Otherwise each iteration prepares a group of tokens at once and runs
    // their steps back to back.
    scf::ForOp loop;
    Value first = k.index(0), tokens = one;
    if (!oneToken) {
      loop = scf::ForOp::create(b, loc, k.index(0), range.getNumChunks(),
                                k.index(group));
      b.setInsertionPointToStart(loop.getBody());
      first = loop.getInductionVar();
      tokens = k.min(k.index(group), k.sub(range.getNumChunks(), first));
    }
    Value token = k.add(range.getStart(), first);
    Value batch = range.getBatch();
    TokenTiles inputs{q, key, v, gate, beta};
    loadTokenRows(args, batch, token, head, qkHead, column, tokens,
                  oneToken ? one : Value(), inputs);
    kda::GateGranularity granularity = op.getGate();
    bool prologueMath = args.qkL2Norm || args.betaSigmoid ||
                        args.activation != kda::GateActivation::none;
    bool decays = granularity != kda::GateGranularity::none;
    // The last barrier before kdk.delta_step also publishes the state's
    // cp.async copies, once each thread has waited for its own.
    auto barrierBeforeStep = [&](bool last) {
      if (last && asyncState)
        kdk::WaitAsyncOp::create(b, loc);
      barrier();
    };
    barrierBeforeStep(!prologueMath && !decays);

    tokenPrologue(args, head, tokens, inputs, /*cumulative=*/false);
    if (prologueMath)
      barrierBeforeStep(!decays);

    // One token on the state: kS and qS in one pass against the undecayed
    // state, v' and o where the columns are reduced, then the decayed
    // update in one pass (kdk.delta_step).
    if (decays) {
      if (oneToken)
        kdk::LastRowExpOp::create(b, loc, gate, decay);
      else
        kdk::ExpOp::create(b, loc, gate, decay);
      barrierBeforeStep(true);
    }
    // Where the state goes after the call: its pool slot or final_state
    // (none for per-token slots, stored token by token below). A one-token
    // shared state goes there straight from the update pass.
    Value destination = poolArgs.pool && !poolArgs.perToken ? poolArgs.pool
                                                             : args.finalState;
    bool storeFromStep = plan.inShared && oneToken && kv && destination;
    // A group's steps need no barrier between them: each warp owns whole
    // columns of the state and only reads the token rows.
    Value row, step = first;
    scf::ForOp steps;
    if (!oneToken) {
      steps = scf::ForOp::create(b, loc, k.index(0), tokens, one);
      b.setInsertionPointToStart(steps.getBody());
      row = steps.getInductionVar();
      step = k.add(first, row);
    }
    kdk::DeltaStepOp::create(
        b, loc, state, q, key, v, beta, row, decays ? decay : Value(), out,
        storeFromStep ? destination : Value(),
        storeFromStep ? slotOffset : Value(),
        storeFromStep ? k.index(rowStride) : Value(),
        op.getUpdate() == kda::UpdateRule::additive,
        llvm::APFloat(op.getEffectiveScale()));
    auto storeOut = [&] {
      kdk::StoreTileOp::create(
          b, loc, out, args.o,
          k.add(tokenOffset(k, batch, token, args.seqLen, hv, head, vDim),
                column),
          tokens, oneToken ? one : k.index(hv * vDim), 1);
    };
    // Every draft token's state goes to its own slot, if it has one.
    auto storeTokenState = [&] {
      Value inside = k.compare(arith::CmpIPredicate::slt, step,
                               poolArgs.slotsPerSequence);
      Value safeStep = arith::SelectOp::create(b, loc, inside, step, k.index(0));
      Value tokenSlot = loadIndex(
          poolArgs.indices,
          k.add(k.mul(sequence, poolArgs.slotsPerSequence), safeStep));
      OpBuilder::InsertionGuard guard(b);
      k.enterIf(arith::AndIOp::create(
          b, loc, inside,
          k.compare(arith::CmpIPredicate::sge, tokenSlot, k.index(0))));
      storeState(state, poolArgs.pool, stateOffset(tokenSlot));
    };
    if (oneToken) {
      barrier();
      storeOut();
      if (poolArgs.perToken)
        storeTokenState();
    } else {
      if (poolArgs.perToken) {
        // A shared state is read across warps: the step must be complete,
        // and the store done before the next step.
        if (plan.inShared)
          barrier();
        storeTokenState();
        if (plan.inShared)
          barrier();
      }
      b.setInsertionPointAfter(steps);
      barrier();
      storeOut();
    }
    if (loop) {
      // The next group's loads overwrite these tiles.
      barrier();
      b.setInsertionPointAfter(loop);
    }
    // The barrier after the step (or the loop's last) orders a shared
    // state's writes before this store.
    if (destination && !storeFromStep)
      storeState(state, destination, slotOffset);
    // Leave the skip guard: the kernel's return goes after it.
    b.setInsertionPointToEnd(&k.getFunction().getBody().front());
    return success();
  }
};

struct ConvertKDARecurrenceToKDKPass
    : kdac::impl::ConvertKDARecurrenceToKDKBase<ConvertKDARecurrenceToKDKPass> {
  using ConvertKDARecurrenceToKDKBase::ConvertKDARecurrenceToKDKBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string problem = checkConversionOptions(
        "convert-kda-recurrence-to-kdk", blockThreads,
        /*recurrenceBlockThreads=*/0, valueTile, sharedMemoryLimit);
    FailureOr<kda::RecurrenceOp> op = findSingleOp<kda::RecurrenceOp>(
        module, "convert-kda-recurrence-to-kdk", "kda.recurrence");
    if (succeeded(op) && !problem.empty())
      op->emitError() << problem;
    if (failed(op) || !problem.empty() || failed(convert(module, *op)))
      signalPassFailure();
  }

  /// The tokens of a call that runs them as one chunk on a read-only
  /// shared state, or 0: a static T of 2 (1 with token records) to
  /// kDecodeTokenGroup per sequence (not varlen), a kv state, a gated delta
  /// rule, and no per-token states (the chunk form forms only the last).
  static int64_t chunkTokensOf(kda::RecurrenceOp op) {
    auto qType = cast<RankedTensorType>(op.getQ().getType());
    int64_t t = qType.getDimSize(1);
    bool perToken = op.getStateIndices() &&
                    cast<RankedTensorType>(op.getStateIndices().getType())
                            .getRank() == 2;
    // Token records come out of the chunk form only, at any static T.
    int64_t fewest = op.getTokenRecords() ? 1 : 2;
    if (op.getCuSeqlens() || ShapedType::isDynamic(t) || t < fewest ||
        t > kDecodeTokenGroup || op.getLayout() != kda::StateLayout::kv ||
        perToken || op.getGate() == kda::GateGranularity::none ||
        op.getUpdate() == kda::UpdateRule::additive)
      return 0;
    return t;
  }

  /// The shared state tile keeps a 16-bit storage type for one token per
  /// call (like a packed fragment) and for the chunk form, which never
  /// writes it; token steps on it need f32.
  static Type sharedTileType(kda::RecurrenceOp op, Type storage) {
    return oneTokenPerCall(op) || chunkTokensOf(op)
               ? storage
               : Float32Type::get(op.getContext());
  }

  /// The state-in option: `auto` streams a 16-bit kv state of a one-token
  /// call through shared memory, where it measured fastest.
  FailureOr<bool> stateGoesInShared(kda::RecurrenceOp op, Type storage) {
    if (op.getTokenRecords()) {
      if (stateIn == "registers")
        return op.emitError()
               << "convert-kda-recurrence-to-kdk: token records come from the "
                  "chunk form, on a shared state: state-in=registers does not "
                  "apply";
      return true;
    }
    if (stateIn == "registers")
      return false;
    if (stateIn == "shared")
      return true;
    if (stateIn != "auto")
      return op.emitError() << "convert-kda-recurrence-to-kdk: unknown "
                               "state-in '"
                            << stateIn << "' (registers | shared | auto)";
    return storage.getIntOrFloatBitWidth() == 16 &&
           (oneTokenPerCall(op) || chunkTokensOf(op)) &&
           op.getLayout() == kda::StateLayout::kv;
  }

  LogicalResult convert(ModuleOp module, kda::RecurrenceOp op) {
    OpBuilder builder(&getContext());
    int64_t vDim = op.getValueDim();
    if (valueTile > 0 && vDim % valueTile != 0)
      return op.emitError() << "convert-kda-recurrence-to-kdk: v-tile "
                            << int64_t(valueTile) << " does not divide V = "
                            << vDim;
    // The fragment keeps the storage type of the state it moves (f32 when
    // no state is read or written).
    Type storage = builder.getF32Type();
    if (Value state = op.getInitialState())
      storage = elementTypeOf(state);
    else if (Value state = op.getWrittenState())
      storage = elementTypeOf(state);
    FailureOr<bool> inShared = stateGoesInShared(op, storage);
    if (failed(inShared))
      return failure();
    int64_t requestedVTile = std::min<int64_t>(valueTile, vDim);
    FailureOr<StateFragmentPlan> plan =
        *inShared
            ? planSharedState(op, "convert-kda-recurrence-to-kdk",
                              op.getKeyDim(), vDim, requestedVTile,
                              blockThreads, sharedTileType(op, storage),
                              "change the v-tile or use state-in=registers")
            : planStateFragment(op, requestedVTile, blockThreads, storage);
    if (failed(plan))
      return failure();
    if (plan->inShared)
      plan->chunkTokens = chunkTokensOf(op);
    int64_t width = plan->vTile, threads = plan->threads;
    int64_t hv = op.getNumValueHeads();
    KernelFunction k(builder, module, "kda_recurrent", threads,
                     {vDim / width, hv,
                      kdk::GridAttr::kSequences});
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
    PoolArgs poolArgs;
    if (Value indices = op.getStateIndices()) {
      // One buffer, read and written in place.
      poolArgs.pool =
          k.addTensor("state_pool", elementTypeOf(op.getInitialState()));
      args.initialState = poolArgs.pool;
    } else if (op.getInitialState()) {
      args.initialState =
          k.addTensor("initial_state", elementTypeOf(op.getInitialState()));
    }
    if (op.getCuSeqlens())
      args.cuSeqlens = k.addTensor("cu_seqlens", elementTypeOf(op.getCuSeqlens()));
    if (Value indices = op.getStateIndices()) {
      poolArgs.indices = k.addTensor("state_indices", elementTypeOf(indices));
      poolArgs.perToken =
          cast<RankedTensorType>(indices.getType()).getRank() == 2;
    }
    if (Value accepted = op.getNumAccepted())
      poolArgs.accepted = k.addTensor("num_accepted", elementTypeOf(accepted));
    args.o = k.addTensor("o", elementTypeOf(op.getO()));
    if (Value records = op.getRecords())
      poolArgs.records =
          k.addTensor("token_records", elementTypeOf(records));
    if (op.getWrittenState() && !poolArgs.pool)
      args.finalState =
          k.addTensor("final_state", elementTypeOf(op.getWrittenState()));
    args.seqLen = k.addSize("T");
    if (poolArgs.perToken)
      poolArgs.slotsPerSequence = k.addSize("S");
    args.qkL2Norm = op.getQkL2norm();
    args.betaSigmoid = op.getBetaSigmoid();
    args.activation = op.getActivation();
    args.lowerBound = op.getLowerBoundAttr();
    k.beginBody();

    // The smaller of the option and what the module's target allows.
    TilePool pool(k, kdk::sharedMemoryLimitOf(module, sharedMemoryLimit));
    DecodeKernelBuilder kernel{k,
                                  k.b,
                                  k.loc,
                                  pool,
                                  op,
                                  op.getNumQKHeads(),
                                  hv,
                                  op.getKeyDim(),
                                  vDim,
                                  *plan};
    if (failed(kernel.build(args, poolArgs)) ||
        failed(k.finish(pool, op, "recurrent kernel", "use a smaller v-tile")))
      return failure();
    // Token-by-token: every "chunk" is one token.
    module->setAttr(kdk::kChunkSizeAttr, builder.getI64IntegerAttr(1));
    op->getParentOfType<func::FuncOp>().erase();
    return success();
  }
};
} // namespace
