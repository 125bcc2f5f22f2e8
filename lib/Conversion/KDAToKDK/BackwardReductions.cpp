//===- BackwardReductions.cpp - The backward's deterministic sums ---------===//
//
// Two gradients sum over blocks of kda_bwd_map: GVA's dq and dk over the
// value heads of a group, and ddt_bias and dA_log over every chunk. The map
// writes each block's share to a workspace and these kernels add the
// shares in a fixed order (no atomics), so a gradient is the same bits on
// every run.
//
//===----------------------------------------------------------------------===//
#include "BackwardKernel.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;

namespace kdac::lowering {

LogicalResult buildGroupSum(OpBuilder &builder, ModuleOp module,
                            const Backward &bw, Operation *anchor) {
  const LoopGeometry &g = bw.g;
  BackwardKernel kernel(builder, module, bw, "kda_bwd_group_sum",
                        {kdk::GridAttr::kChunkSlots, g.h, 1});
  if (g.varlen)
    kernel.tensor("cu_seqlens");
  kernel.workspace(bw.dqHeads);
  kernel.workspace(bw.dkHeads);
  kernel.tensor("dq");
  kernel.tensor("dk");
  kernel.seqLen = kernel.k.addSize("T");
  kernel.k.beginBody();
  KernelFunction &k = kernel.k;
  OpBuilder &b = kernel.b;
  Type index = b.getIndexType();
  Value slot = kdk::BlockIdOp::create(b, kernel.loc, index, 0);
  Value qkHead = kdk::BlockIdOp::create(b, kernel.loc, index, 1);
  auto located = kdk::LocateChunkOp::create(
      b, kernel.loc, b.getI1Type(), index, index, index, index, slot,
      kernel.seqLen, kernel.args.lookup("cu_seqlens"), g.chunk);
  k.enterIf(located.getValid());
  const int64_t group = g.hv / g.h;
  Value sum = kernel.tile({g.chunk, g.kDim}),
        share = kernel.tile({g.chunk, g.kDim});
  for (auto [ws, name] : {std::pair<const WorkspaceSpec *, StringRef>{
                              &bw.dqHeads, "dq"},
                          {&bw.dkHeads, "dk"}}) {
    Value first = k.mul(qkHead, group);
    kernel.loadSlot(*ws, slot, first, sum, located.getRows());
    for (int64_t member = 1; member < group; ++member) {
      kernel.loadSlot(*ws, slot, k.add(first, k.index(member)), share,
                      located.getRows());
      k.barrier();
      kdk::AddOp::create(b, kernel.loc, sum, share, sum);
      // The next member's load overwrites `share`.
      k.barrier();
    }
    Value rowStride = k.index(g.h * g.kDim);
    Value offset = tokenOffset(k, located.getBatch(), located.getStart(),
                               kernel.seqLen, g.h, qkHead, g.kDim);
    kdk::StoreTileOp::create(b, kernel.loc, sum, kernel.args.lookup(name),
                             offset, located.getRows(), rowStride, 1);
    k.barrier();
  }
  return kernel.finish(anchor);
}

LogicalResult buildGateParams(OpBuilder &builder, ModuleOp module,
                              const Backward &bw, Operation *anchor) {
  const LoopGeometry &g = bw.g;
  const BackwardPrologue &p = bw.prologue;
  BackwardKernel kernel(builder, module, bw, "kda_bwd_gate_params",
                        {1, g.hv, 1});
  if (p.dtBiasGrad) {
    kernel.workspace(bw.dtBiasPartials);
    kernel.tensor("ddt_bias");
  }
  if (p.aLogGrad) {
    kernel.workspace(bw.aLogPartials);
    kernel.tensor("dA_log");
  }
  if (g.varlen)
    kernel.tensor("cu_seqlens");
  kernel.seqLen = kernel.k.addSize("T");
  Value slots = kernel.k.addSize("chunk_slots");
  kernel.k.beginBody();
  KernelFunction &k = kernel.k;
  OpBuilder &b = kernel.b;
  Value head =
      kdk::BlockIdOp::create(b, kernel.loc, b.getIndexType(), 1);
  // Each slot's share is a row of `width` columns: summed over the slots
  // in order, then (dA_log) over the columns. Thread t adds column t of
  // every share, read in place: the loop needs no barrier.
  const int64_t width = bw.gateWidth();
  Value sum = kernel.tile({1, width});
  Value total = p.aLogGrad ? kernel.tile({1}) : Value();
  for (auto [ws, name, present] :
       {std::tuple<const WorkspaceSpec *, StringRef, bool>{
            &bw.dtBiasPartials, "ddt_bias", p.dtBiasGrad},
        {&bw.aLogPartials, "dA_log", p.aLogGrad}}) {
    if (!present)
      continue;
    kdk::FillOp::create(b, kernel.loc, sum, b.getF64FloatAttr(0.0));
    Value step = k.index(1);
    Value first = k.index(0);
    auto loop = scf::ForOp::create(b, kernel.loc, first, slots, step);
    b.setInsertionPointToStart(loop.getBody());
    // Under varlen some slots hold no chunk: the map wrote nothing there.
    Value slot = loop.getInductionVar();
    Type index = b.getIndexType();
    auto located = kdk::LocateChunkOp::create(
        b, kernel.loc, b.getI1Type(), index, index, index, index, slot,
        kernel.seqLen, kernel.args.lookup("cu_seqlens"), g.chunk);
    k.enterIf(located.getValid());
    kdk::AddOp::create(b, kernel.loc, sum,
                       kernel.slotInPlace(*ws, slot, head), sum);
    b.setInsertionPointAfter(loop);
    k.barrier();
    Value global = kernel.args.lookup(name);
    if (name == "ddt_bias") {
      // dt_bias's layout: [HV * width].
      Value rowStride = k.index(width);
      Value one = k.index(1);
      Value offset = k.mul(head, width);
      kdk::StoreTileOp::create(b, kernel.loc, sum, global, offset, one,
                               rowStride, 1);
    } else {
      kdk::RowSumOp::create(b, kernel.loc, sum, total);
      k.barrier();
      Value one = k.index(1);
      kdk::StoreTileOp::create(b, kernel.loc, total, global, head, one, one, 0);
    }
    k.barrier();
  }
  return kernel.finish(anchor);
}

} // namespace kdac::lowering
