//===- CommitKernel.cpp - kda.commit_records -> a kdk kernel --------------===//
//
// Speculative decoding without per-token states: once the engine knows how
// many of a call's draft tokens each sequence keeps, this kernel replays
// their records onto the state the call started from. The accepted prefix
// is the state part of the decode chunk form (DecodeKernel.cpp) with the
// rejected tokens zeroed:
//   S' = Diag(G_p) S + (k Diag(G_p / G))^T v',   G_t = exp(g_0 + .. + g_t)
// so one block per (V tile, value head, sequence) reads its slice of the
// slot once, by cp.async into shared memory, and writes it once.
//
//===----------------------------------------------------------------------===//
#include "kdac/Conversion/Passes.h"

#include "DecodeStatePlan.h"
#include "Lowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;

namespace kdac {
#define GEN_PASS_DEF_CONVERTKDACOMMITTOKDK
#include "kdac/Conversion/Passes.h.inc"
} // namespace kdac

namespace {
using namespace kdac::lowering;

constexpr const char *kPass = "convert-kda-commit-to-kdk";

Type elementTypeOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

struct ConvertKDACommitToKDKPass
    : kdac::impl::ConvertKDACommitToKDKBase<ConvertKDACommitToKDKPass> {
  using ConvertKDACommitToKDKBase::ConvertKDACommitToKDKBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string problem =
        checkConversionOptions(kPass, blockThreads,
                               /*recurrenceBlockThreads=*/0, valueTile,
                               sharedMemoryLimit);
    FailureOr<kda::CommitRecordsOp> op = findSingleOp<kda::CommitRecordsOp>(
        module, kPass, "kda.commit_records");
    if (succeeded(op) && !problem.empty())
      op->emitError() << problem;
    if (failed(op) || !problem.empty() || failed(convert(module, *op)))
      signalPassFailure();
  }

  LogicalResult convert(ModuleOp module, kda::CommitRecordsOp op) {
    OpBuilder builder(&getContext());
    int64_t kDim = op.getKeyDim(), vDim = op.getValueDim();
    int64_t hv = op.getNumValueHeads(), tokens = op.getNumTokens();
    int64_t recordWidth = 2 * kDim + vDim;
    if (valueTile > 0 && vDim % valueTile != 0)
      return op.emitError() << kPass << ": v-tile " << int64_t(valueTile)
                            << " does not divide V = " << vDim;
    Type storage = elementTypeOf(op.getStatePool());
    FailureOr<StateFragmentPlan> plan = planSharedState(
        op, kPass, kDim, vDim, std::min<int64_t>(valueTile, vDim),
        blockThreads, storage, "change the v-tile");
    if (failed(plan))
      return failure();
    int64_t width = plan->vTile;
    KernelFunction k(builder, module, "kda_commit", plan->threads,
                     {vDim / width, hv,
                      kdk::GridAttr::kSequences});
    Value pool = k.addTensor("state_pool", storage);
    Value indices =
        k.addTensor("state_indices", elementTypeOf(op.getStateIndices()));
    Value accepted =
        k.addTensor("num_accepted", elementTypeOf(op.getNumAccepted()));
    Value records = k.addTensor("token_records", elementTypeOf(op.getRecords()));
    k.beginBody();
    OpBuilder &b = k.b;
    Location loc = k.loc;
    TilePool tiles(k, kdk::sharedMemoryLimitOf(module, sharedMemoryLimit));

    Value vTile = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 0);
    Value head = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 1);
    Value sequence = kdk::BlockIdOp::create(b, loc, b.getIndexType(), 2);
    Value column = k.mul(vTile, width);
    auto loadIndex = [&](Value buffer) {
      return kdk::LoadIndexOp::create(b, loc, b.getIndexType(), buffer,
                                      sequence);
    };
    Value slot = loadIndex(indices);
    // Signed: a negative count keeps nothing.
    Value kept = arith::MinSIOp::create(b, loc, loadIndex(accepted),
                                        k.index(tokens));
    // A skipped sequence, or one that keeps no token, keeps its slot.
    k.enterIf(arith::AndIOp::create(
        b, loc, k.compare(arith::CmpIPredicate::sge, slot, k.index(0)),
        k.compare(arith::CmpIPredicate::sgt, kept, k.index(0))));

    Value slotOffset = k.add(
        k.mul(k.add(k.mul(slot, hv), head), kDim * vDim), column);
    // Padded as the chunk form's: sharedChunkStateStore reads it the same.
    Value state = tiles.get({kDim, width}, storage,
                            TilePool::RowPadding::SixteenBytes);
    kdk::LoadTileOp::create(b, loc, pool, slotOffset, k.index(kDim),
                            k.index(vDim), 1, state, /*async=*/true);

    // Rows past the kept prefix load as zeros: their keys add nothing and
    // their zero log-decays leave the running sum at the prefix's end.
    Type f32 = b.getF32Type();
    Value key = tiles.get({tokens, kDim}, f32);
    Value gate = tiles.get({tokens, kDim}, f32);
    Value corrected = tiles.get({tokens, width}, f32);
    Value recordRow = k.mul(k.add(k.mul(sequence, tokens * hv), head),
                            recordWidth);
    Value recordStride = k.index(hv * recordWidth);
    auto loadField = [&](Value field, Value dst) {
      kdk::LoadTileOp::create(b, loc, records, k.add(recordRow, field), kept,
                              recordStride, 1, dst);
    };
    loadField(k.index(0), key);
    loadField(k.index(kDim), gate);
    loadField(k.add(k.index(2 * kDim), column), corrected);
    k.barrier();
    kdk::CumsumRowsOp::create(b, loc, gate);
    k.barrier();
    Value keysToEnd = tiles.get({tokens, kDim}, f32);
    Value totalDecay = tiles.get({kDim}, f32);
    kdk::DecayRowsOp::create(b, loc, key, gate, Value(), keysToEnd, true,
                             llvm::APFloat(1.0));
    kdk::LastRowExpOp::create(b, loc, gate, totalDecay);
    kdk::WaitAsyncOp::create(b, loc);
    k.barrier();
    kdk::ChunkStateStoreOp::create(b, loc, state, totalDecay, keysToEnd,
                                   corrected, pool, slotOffset, k.index(vDim));
    b.setInsertionPointToEnd(&k.getFunction().getBody().front());
    if (failed(k.finish(tiles, op, "commit kernel", "use a smaller v-tile",
                        kPass)))
      return failure();
    module->setAttr(kdk::kChunkSizeAttr, builder.getI64IntegerAttr(1));
    op->getParentOfType<func::FuncOp>().erase();
    return success();
  }
};
} // namespace
