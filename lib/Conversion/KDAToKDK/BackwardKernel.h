//===- BackwardKernel.h - Shared machinery of the backward's kernels -*- C++ -*-===//
//
// What convert-kda-grad-to-kdk's kernels share: the problem's sizes, the
// fused prologue they recompute on every chunk they load, the adjoints
// that map its cotangents back to the raw inputs, and a kernel builder
// with the backward's argument, tile and index helpers.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_CONVERSION_KDATOKDK_BACKWARDKERNEL_H
#define KDAC_LIB_CONVERSION_KDATOKDK_BACKWARDKERNEL_H

#include "Lowering.h"

#include "llvm/ADT/StringMap.h"

#include <cmath>

namespace kdac::lowering {

inline constexpr const char *kGradPass = "convert-kda-grad-to-kdk";

/// The forward's fused prologue, as the backward's kernels recompute it
/// after loading the raw inputs, and the adjoints the IR applies to the
/// chunk ops' cotangents (read off kda.l2norm_grad, group_sum,
/// gate_activation_grad and sigmoid_grad).
struct BackwardPrologue {
  bool qkL2Norm = false, betaSigmoid = false;
  mlir::kda::GateActivation activation = mlir::kda::GateActivation::none;
  std::optional<llvm::APFloat> lowerBound;
  /// The adjoints: l2norm_grad on dq and dk, group_sum (GVA), sigmoid_grad
  /// on dbeta, gate_activation_grad on dg with dA_log / ddt_bias.
  bool qkL2NormGrad = false, groupSum = false, betaSigmoidGrad = false,
       gateGrad = false, aLogGrad = false, dtBiasGrad = false;
};

/// One result of the scans' prepared kda.chunk_map (kda-grad-scan-prep):
/// its per-chunk-slot workspace, and whether its columns are V's (a scan
/// split by columns then loads its block of them).
struct PreparedValue {
  WorkspaceSpec ws;
  bool valueColumns = false;
};

/// What the backward's kernels share: sizes, the prologue, and the tensors
/// by launch name.
struct Backward {
  LoopGeometry g;
  BackwardPrologue prologue;
  llvm::StringMap<mlir::Type> tensorTypes;
  int64_t blockThreads = 256, sharedMemoryLimit = 0;
  /// Threads per block of the per-chunk kernels.
  int64_t mapBlockThreads = 256, prepBlockThreads = 256;
  /// The map reads S and dS in place from their workspaces.
  bool mapStatesInPlace = false;
  /// Columns of V one block of a scan owns when the scan's body is
  /// separable by columns (0: all of V).
  int64_t scanValueTile = 0;
  /// Blocks of a scan that must fit on one SM at once (0: no bound).
  int64_t scanBlocksPerSM = 0;
  WorkspaceSpec states, nextStateGrads;
  /// GVA's per-value-head dq and dk, summed by kda_bwd_group_sum.
  WorkspaceSpec dqHeads, dkHeads;
  /// Each chunk's column sums of ddt_bias and dA_log, summed by
  /// kda_bwd_gate_params.
  WorkspaceSpec dtBiasPartials, aLogPartials;
  /// The prepared map's results, by result number (none without it).
  llvm::SmallVector<PreparedValue> prepared;
  /// The workspace of a scan's prepared operand (a result of the map).
  const PreparedValue &preparedOf(mlir::Value operand) const {
    return prepared[llvm::cast<mlir::OpResult>(operand).getResultNumber()];
  }
  /// Columns of the gate: K, or 1 for a per-head gate.
  int64_t gateWidth() const {
    return g.gate == mlir::kda::GateGranularity::scalar ? 1 : g.kDim;
  }
};

/// One chunk's input tiles as the chunk ops see them (after the prologue).
struct ChunkTiles {
  mlir::Value q, k, v, gate, beta;
};

/// The chunk a block of a per-chunk kernel (grid [chunk_slots, HV, 1])
/// owns: its slot and value head from the block ids, its batch row, first
/// token and real rows.
struct ChunkSlot {
  mlir::Value slot, head, batch, token, rows;
};

/// A kernel of the backward and its argument and index helpers.
class BackwardKernel {
public:
  /// A kernel whose blocks own `columns` of V each (the grid's x extent is
  /// V / columns; all of V when 0), of `threads` per block (0:
  /// bw.blockThreads).
  BackwardKernel(mlir::OpBuilder &builder, mlir::ModuleOp module,
                 const Backward &bw, llvm::StringRef name,
                 llvm::ArrayRef<int64_t> grid, int64_t columns = 0,
                 int64_t threads = 0)
      : bw(bw), g(bw.g),
        k(builder, module, name, threads ? threads : bw.blockThreads, grid),
        b(k.b), loc(k.loc), columns(columns ? columns : bw.g.vDim) {
    markDecayBound();
  }

  mlir::Value tensor(llvm::StringRef name) {
    return args[name] = k.addTensor(name, bw.tensorTypes.lookup(name));
  }
  mlir::Value optionalTensor(llvm::StringRef name) {
    return bw.tensorTypes.count(name) ? tensor(name) : mlir::Value();
  }
  mlir::Value workspace(const WorkspaceSpec &ws) {
    return args[ws.name] = k.addWorkspace(ws, g);
  }
  /// q, k, v, g, beta, the prologue's A_log and dt_bias, cu_seqlens.
  void declareInputs();

  /// Loads one chunk's raw q, k, v, g, beta (rows [token, token + rows) of
  /// value head `head`, zero past `rows`), applies the fused prologue in
  /// place and binds the body's arguments; an argument the body does not
  /// read is neither loaded nor bound (its tile is null).
  ChunkTiles loadChunk(mlir::Block &body, class TileProgram &program,
                       mlir::Value batch, mlir::Value token, mlir::Value rows,
                       mlir::Value head);
  /// Loads the raw rows of input `name` ("q", "k", "g", "beta") into `dst`.
  void loadRaw(llvm::StringRef name, mlir::Value batch, mlir::Value token,
               mlir::Value rows, mlir::Value head, mlir::Value dst);

  /// Locates the block's chunk slot and enters the branch where it holds a
  /// chunk (varlen leaves trailing slots empty).
  ChunkSlot enterChunkSlot();

  /// The rows of do for the chunk (by cp.async when do is f32: then
  /// awaitLoads waits for it).
  mlir::Value loadDO(mlir::Value batch, mlir::Value token, mlir::Value rows,
                     mlir::Value head);

  /// Element offset of (slot, head)'s tile in workspace `ws` (and, in a
  /// kernel split by columns, of this block's columns in it when its
  /// columns are V's, as a state's are).
  mlir::Value slotOffset(const WorkspaceSpec &ws, mlir::Value slot,
                         mlir::Value head, bool valueColumns = true);
  /// Moves (slot, head)'s tile of `ws`: its first `rows` rows (all when
  /// null); `async` issues it by cp.async, waited for by awaitLoads.
  void loadSlot(const WorkspaceSpec &ws, mlir::Value slot, mlir::Value head,
                mlir::Value dst, mlir::Value rows = {},
                bool valueColumns = true, bool async = false);
  /// Issues the loads of a scan's prepared operands for (slot, head), all in
  /// flight at once (cp.async; awaitLoads waits), and binds them to the
  /// body's arguments from `firstArg` on: this block's columns of those
  /// whose columns are V's.
  void loadPrepared(mlir::ValueRange prepared, mlir::Block &body,
                    unsigned firstArg, class TileProgram &program,
                    mlir::Value slot, mlir::Value head);
  /// Declares the workspaces of a scan's prepared operands.
  void declarePrepared(mlir::ValueRange prepared);
  void storeSlot(mlir::Value src, const WorkspaceSpec &ws, mlir::Value slot,
                 mlir::Value head, mlir::Value rows = {});
  /// (slot, head)'s tile of `ws` as a kdk.global_tile, read in place (a
  /// vector as a 1 x n tile).
  mlir::Value slotInPlace(const WorkspaceSpec &ws, mlir::Value slot,
                          mlir::Value head);
  /// A user-facing [N, HV, K, V] (or [N, HV, V, K]) state of `sequence`.
  void transferState(mlir::Value tile, llvm::StringRef name,
                     mlir::Value sequence, mlir::Value head, bool store);

  mlir::Value tile(llvm::ArrayRef<int64_t> shape) {
    return pool.get(shape, b.getF32Type());
  }
  /// A K x V state tile (K x columns) the kernel loads or carries: rows
  /// padded by one element, since only column walks read it (SIMT
  /// products, row dots) and at K = V = 128 the map's two need every byte.
  mlir::Value stateTile() {
    return pool.get({g.kDim, columns}, b.getF32Type(),
                    TilePool::RowPadding::OneElement);
  }
  /// Whether the blocks own a column block of V rather than all of it.
  bool splitsColumns() const { return columns != g.vDim; }

  /// The K x V tile a scan carries, filled from the user tensor `source`
  /// (initial_state, dht) or zero when the spec has none; `sequence` and
  /// `head` come from the block ids (and, split by columns, the block's
  /// first column from the x id).
  mlir::Value carriedTile(llvm::StringRef source, mlir::Value &sequence,
                          mlir::Value &head);

  /// Records the gate's bound on the per-token log-decay on the kernel
  /// (kdk.decay_bound) when the prologue's gate has one, for the passes that
  /// choose the grams' form.
  void markDecayBound() {
    const BackwardPrologue &p = bw.prologue;
    if (p.activation == mlir::kda::GateActivation::lowerbound && p.lowerBound)
      k.getFunction()->setAttr(
          mlir::kdk::kDecayBoundAttr,
          b.getF64FloatAttr(std::abs(p.lowerBound->convertToDouble())));
  }
  /// Asks that `blocks` blocks fit on one SM at once
  /// (kdk.min_blocks_per_sm; none when 0).
  void boundBlocksPerSM(int64_t blocks) {
    if (blocks > 0)
      k.getFunction()->setAttr(mlir::kdk::kMinBlocksPerSMAttr,
                               b.getI64IntegerAttr(blocks));
  }
  /// The barrier after a chunk's loads, behind a kdk.wait_async when some
  /// were issued by cp.async.
  void awaitLoads();

  mlir::LogicalResult finish(mlir::Operation *anchor);

  const Backward &bw;
  const LoopGeometry &g;
  KernelFunction k;
  mlir::OpBuilder &b;
  mlir::Location loc;
  TilePool pool{k, bw.sharedMemoryLimit};
  llvm::StringMap<mlir::Value> args;
  mlir::Value seqLen;
  /// Columns of V each block owns, and (split by columns) this block's
  /// first.
  int64_t columns;
  mlir::Value firstColumn;
  /// cp.async loads issued since the last awaitLoads.
  bool loadsInFlight = false;
};

/// The body arguments (from `firstArg` on) of a scan's prepared operands
/// whose columns are V's, to slice when the scan splits by columns.
llvm::SmallVector<mlir::Value> valueColumnArgs(const Backward &bw,
                                               mlir::ValueRange prepared,
                                               mlir::Block &body,
                                               unsigned firstArg);

/// kda_bwd_group_sum: GVA's dq and dk, the sum over each q/k head's group
/// of value heads (one block per chunk slot and q/k head).
mlir::LogicalResult buildGroupSum(mlir::OpBuilder &builder, mlir::ModuleOp module,
                                  const Backward &bw, mlir::Operation *anchor);
/// kda_bwd_gate_params: ddt_bias and dA_log, the chunks' partial sums added
/// in slot order (one block per value head).
mlir::LogicalResult buildGateParams(mlir::OpBuilder &builder,
                                    mlir::ModuleOp module, const Backward &bw,
                                    mlir::Operation *anchor);

} // namespace kdac::lowering

#endif // KDAC_LIB_CONVERSION_KDATOKDK_BACKWARDKERNEL_H
