//===- Evaluator.h - Per-op evaluation of kda IR ----------------*- C++ -*-===//
//
// One evaluate function per op, templated on the scalar type (double for the
// exact mode, float for the faithful fp32 mode) and instantiated for both in
// the file that defines it: Interpreter.cpp (dispatch), RecurrenceEval.cpp
// (kda.recurrence and the prologue), ChunkLoopEval.cpp (kda.chunk_loop),
// ChunkSplitEval.cpp (its split form), ChunkGradLoopEval.cpp and
// GradOpsEval.cpp (the backward) and ChunkOpsEval.cpp (the per-chunk
// algebra).
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LIB_INTERPRETER_EVALUATOR_H
#define KDAC_LIB_INTERPRETER_EVALUATOR_H

#include "Tensor.h"

#include "KDA/KDAOps.h"

#include "mlir/IR/Operation.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <cmath>
#include <optional>
#include <string>

namespace kdac::interp {

/// An error that names \p op and prints its location, so a failure deep in a
/// pipeline's output can be traced to the IR line.
llvm::Error opError(mlir::Operation *op, const llvm::Twine &msg);

/// "16x64" (or "scalar" for rank 0).
std::string shapeString(llvm::ArrayRef<int64_t> shape);

/// Fails unless \p got equals \p want; \p what names the operand.
llvm::Error expectShape(mlir::Operation *op, llvm::StringRef what,
                        llvm::ArrayRef<int64_t> got,
                        llvm::ArrayRef<int64_t> want);

/// The static shape of a result type, for ops whose result size is not
/// implied by their operands (kda.zero, kda.extract_block).
llvm::Expected<llvm::SmallVector<int64_t>> staticShape(mlir::Operation *op,
                                                       mlir::Type type);

/// The shapes of the operands kda.recurrence and kda.chunk_loop share.
struct SequenceOperands {
  llvm::ArrayRef<int64_t> q, k, v, beta;
  std::optional<llvm::ArrayRef<int64_t>> g, state;
  /// Null without varlen packing.
  const std::vector<int64_t> *cuSeqlens = nullptr;
  mlir::kda::GateGranularity gate = mlir::kda::GateGranularity::channel;
  bool vkLayout = false;
};

/// Sizes and token ranges of a batch, after every shape has been checked.
struct SequenceGeometry {
  int64_t B = 0, T = 0, H = 0, HV = 0, K = 0, V = 0, N = 0;
  /// Sequence n covers rows [bos[n], eos[n]) of the flattened [B*T] axis.
  std::vector<int64_t> bos, eos;
  llvm::SmallVector<int64_t, 4> stateShape() const;
  bool vkLayout = false;
  /// Offset of state element (i over K, j over V) within one state slot.
  int64_t stateIndex(int64_t i, int64_t j) const {
    return vkLayout ? j * K + i : i * V + j;
  }
};

llvm::Expected<SequenceGeometry> computeGeometry(mlir::Operation *op,
                                                 const SequenceOperands &s);

/// The tensors of an op shaped like a recurrence (kda.recurrence,
/// kda.chunk_loop), optional ones null when absent, with their geometry.
template <typename T> struct SequenceTensors {
  const Tensor<T> *q, *k, *v, *beta, *g, *initial, *cu;
  SequenceGeometry geo;
};

/// The state layout an op reads its states in (kda.chunk_map has none).
template <typename OpT> mlir::kda::StateLayout layoutOf(OpT op) {
  return op.getLayout();
}
inline mlir::kda::StateLayout layoutOf(mlir::kda::ChunkMapOp) {
  return mlir::kda::StateLayout::kv;
}

/// \p initial is the op's initial state (null for ops without one).
template <typename T, typename OpT>
llvm::Expected<SequenceTensors<T>>
readSequenceTensors(OpT op, const Env<T> &env, mlir::Value initial) {
  auto optional = [&](mlir::Value value) -> const Tensor<T> * {
    return value ? &env[value] : nullptr;
  };
  SequenceTensors<T> t{&env[op.getQ()],
                       &env[op.getK()],
                       &env[op.getV()],
                       &env[op.getBeta()],
                       optional(op.getG()),
                       optional(initial),
                       optional(op.getCuSeqlens()),
                       {}};
  SequenceOperands s;
  s.q = t.q->shape, s.k = t.k->shape, s.v = t.v->shape, s.beta = t.beta->shape;
  if (t.g)
    s.g = llvm::ArrayRef<int64_t>(t.g->shape);
  if (t.initial)
    s.state = llvm::ArrayRef<int64_t>(t.initial->shape);
  s.cuSeqlens = t.cu ? &t.cu->ints : nullptr;
  s.gate = op.getGate();
  s.vkLayout = layoutOf(op) == mlir::kda::StateLayout::vk;
  llvm::Expected<SequenceGeometry> geo = computeGeometry(op, s);
  if (!geo)
    return geo.takeError();
  t.geo = std::move(*geo);
  return t;
}

template <typename T, typename OpT>
llvm::Expected<SequenceTensors<T>> readSequenceTensors(OpT op,
                                                       const Env<T> &env) {
  return readSequenceTensors(op, env, op.getInitialState());
}

/// One chunk's operands as a loop body receives them: rows [start, start +
/// rows) of value head hv, zero-padded to C rows; q/k from the head's group.
template <typename T> struct ChunkTiles {
  Tensor<T> q, k, v, g, beta;
};

template <typename T>
ChunkTiles<T> gatherChunk(const SequenceTensors<T> &inputs, bool channel,
                          int64_t hv, int64_t start, int64_t rows, int64_t C);

/// Binds the tiles to a chunk body's first five arguments (q, k, v, g, beta:
/// the same positions in kda.chunk_loop's body and both regions of
/// kda.chunk_grad_loop).
template <typename T>
void bindChunkTiles(mlir::Block &body, ChunkTiles<T> tiles, Env<T> &env);

/// Runs a kda.chunk_loop body (or kda.chunk_grad_loop's forward region) on
/// one chunk: `state` goes in and comes out advanced; `o`, if given,
/// receives the chunk's output. `prepared` are the chunk's tiles of a scan's
/// prepared values, bound to the arguments after the state.
template <typename T>
llvm::Error runForwardChunk(mlir::Block &body, ChunkTiles<T> tiles,
                            Tensor<T> &state, const Env<T> &env, Tensor<T> *o,
                            std::vector<Tensor<T>> prepared = {});

/// Checks that each per-chunk-slot value a scan reads (kda.chunk_scan's
/// chunk values, the backward scans' prepared operands) holds [numSlots,
/// HV, tile...] with the tile of body argument `firstArg + i`, so that
/// slotTiles stays in bounds; `what` names them in the error.
template <typename T>
llvm::Error expectSlotTiles(mlir::Operation *op, llvm::StringRef what,
                            mlir::ValueRange values, mlir::Block &body,
                            unsigned firstArg, const Env<T> &env,
                            int64_t numSlots, int64_t hv);

/// Tile (slot, hv) of each per-chunk-slot value [slots, HV, tile dims...]
/// in `values` (checked by expectSlotTiles).
template <typename T>
std::vector<Tensor<T>> slotTiles(mlir::ValueRange values, const Env<T> &env,
                                 int64_t slot, int64_t hv);

/// The chunks of one sequence: the first token of each, and its first slot.
struct SequenceChunks {
  std::vector<int64_t> starts;
  int64_t firstSlot = 0;
};

/// Chunk starts per sequence, and chunk slots numbered over all sequences in
/// order (sequence n's chunk c is slot sum_{m < n} ceil(len_m / C) + c).
std::vector<SequenceChunks> chunksOf(const SequenceGeometry &geo, int64_t C,
                                     int64_t &numSlots);

/// Writes the first `rows` rows of a chunk's output tile into o
/// ([B, T, HV, V], flattened over B * T) from token `start` of value head hv.
template <typename T>
void scatterOutputRows(const Tensor<T> &tile, int64_t start, int64_t rows,
                       int64_t hv, const SequenceGeometry &geo, Tensor<T> &o) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t d = 0; d < geo.V; ++d)
      o.data[((start + r) * geo.HV + hv) * geo.V + d] = tile.at(r, d);
}

/// Prefixes an error from a loop body with the chunk it happened in.
llvm::Error inChunk(llvm::Error e, int64_t n, int64_t hv, int64_t chunk);

/// State slot `slot` of `states` (null: zero) as a K x V matrix, and back.
template <typename T>
Tensor<T> readStateSlot(const Tensor<T> *states, const SequenceGeometry &geo,
                        int64_t slot) {
  Tensor<T> S = Tensor<T>::zeros({geo.K, geo.V});
  if (states)
    for (int64_t i = 0; i < geo.K; ++i)
      for (int64_t j = 0; j < geo.V; ++j)
        S.at(i, j) = states->data[slot + geo.stateIndex(i, j)];
  return S;
}
template <typename T>
void writeStateSlot(const Tensor<T> &S, const SequenceGeometry &geo,
                    int64_t slot, Tensor<T> &states) {
  for (int64_t i = 0; i < geo.K; ++i)
    for (int64_t j = 0; j < geo.V; ++j)
      states.data[slot + geo.stateIndex(i, j)] = S.at(i, j);
}

/// PyTorch's F.softplus (beta 1, threshold 20), as the oracle computes it.
template <typename T> T softplus(T x) {
  return x > T(20) ? x : std::log1p(std::exp(x));
}

/// Sigmoid that never evaluates exp of a large positive argument.
template <typename T> T sigmoid(T x) {
  if (x >= T(0))
    return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}

template <typename T> struct Evaluator {
  /// Checks that every operand is bound and dispatches on the op.
  static llvm::Error evaluateOp(mlir::Operation *op, Env<T> &env);

  // RecurrenceEval.cpp
  static llvm::Error evaluate(mlir::kda::RecurrenceOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::L2NormOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::SigmoidOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::GateActivationOp op, Env<T> &env);

  // ChunkLoopEval.cpp
  static llvm::Error evaluate(mlir::kda::ChunkLoopOp op, Env<T> &env);

  // ChunkGradLoopEval.cpp
  static llvm::Error evaluate(mlir::kda::ChunkGradLoopOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::RecurrenceGradOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::ChunkStatesOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::ChunkStateGradsOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::ChunkGradMapOp op, Env<T> &env);

  // GradOpsEval.cpp
  static llvm::Error evaluate(mlir::kda::AddOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::ReverseCumsumOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::DecayedGramGradOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::UTInverseGradOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::WYGradOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::StateApplyGradOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::OutputGradOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::StateUpdateGradOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::ScaleRowsGradOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::L2NormGradOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::SigmoidGradOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::GateActivationGradOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::GroupSumOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::MulOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::RowDotOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::ColumnSumOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::AddToLastRowOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::TrilOp op, Env<T> &env);

  // ChunkOpsEval.cpp
  static llvm::Error evaluate(mlir::kda::CumsumOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::DecayedGramOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::UTInverseOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::ForwardSubstitutionOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::MatmulOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::AddIdentityOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::SubOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::ExtractBlockOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::InsertBlockOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::ZeroOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::WYOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::ScaleRowsOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::StateApplyOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::OutputOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::StateUpdateOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::DecayRowsOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::LastRowExpOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::DecayedOutputOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::DecayedStateUpdateOp op, Env<T> &env);

  // ChunkSplitEval.cpp
  static llvm::Error evaluate(mlir::kda::ChunkMapOp op, Env<T> &env);
  static llvm::Error evaluate(mlir::kda::ChunkScanOp op, Env<T> &env);
};

} // namespace kdac::interp

#endif // KDAC_LIB_INTERPRETER_EVALUATOR_H
