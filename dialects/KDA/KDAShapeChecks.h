//===- KDAShapeChecks.h - Shape rules shared by kda verifiers ---*- C++ -*-===//
//
// kda.recurrence and kda.chunk_loop take the same tensors in the same
// shapes, and kda.gate_activation the same gate parameters; one set of checks
// (and of messages) serves all three, each naming the operand and the
// dimension at fault. The bounds come from kdac/Spec/Limits.h.
//
//===----------------------------------------------------------------------===//
#ifndef KDA_KDASHAPECHECKS_H
#define KDA_KDASHAPECHECKS_H

#include "KDA/KDAOps.h"

#include <optional>

namespace mlir::kda {

/// One tensor operand or result, with the name diagnostics use for it.
struct NamedTensor {
  StringRef name;
  RankedTensorType type;
};

/// Checks tensors of one op; every failure is an error on that op.
class ShapeChecker {
public:
  explicit ShapeChecker(Operation *op) : op(op) {}

  InFlightDiagnostic error() { return op->emitOpError(); }
  LogicalResult rank(NamedTensor t, int64_t expected);
  /// `expected` may hold kDynamic, which (like a dynamic size in `t`)
  /// matches anything.
  LogicalResult dims(NamedTensor t, ArrayRef<int64_t> expected,
                     ArrayRef<StringRef> dimNames, StringRef layoutName);
  /// bf16, f16 or f32.
  LogicalResult floatElement(NamedTensor t);

private:
  Operation *op;
};

/// The sizes q, k, v, o and beta agree on; b and t may be dynamic.
struct HeadDims {
  int64_t b, t, h, hv, k, v;
};

/// q, k: [B, T, H, K]; v, o: [B, T, HV, V]; beta: [B, T, HV]. Ranks, float
/// element types, static head counts and dims within the limits, HV a
/// multiple of H, B and T consistent and within the limits. With
/// `oneInputType`, q, k and v must share an element type; o always has v's.
FailureOr<HeadDims> verifyHeadTensors(ShapeChecker &shapes, NamedTensor q,
                                      NamedTensor k, NamedTensor v,
                                      NamedTensor o, NamedTensor beta,
                                      bool oneInputType);

/// g: absent with gate = none, [B, T, HV] scalar, [B, T, HV, K] channel.
LogicalResult verifyGateTensor(ShapeChecker &shapes, Value g,
                               GateGranularity gate, const HeadDims &dims);

/// A_log [HV], dt_bias ([HV*K] channel, [HV] scalar) and lower_bound as the
/// activation needs them.
LogicalResult verifyGateParameters(ShapeChecker &shapes, GateGranularity gate,
                                   GateActivation activation, Value aLog,
                                   Value dtBias,
                                   std::optional<double> lowerBound,
                                   int64_t hv, int64_t kDim);

/// cu_seqlens: a 1-D i64/i32 tensor of N + 1 >= 2 offsets with B == 1.
/// Returns the number of state slots: B, or N (kDynamic when unknown).
FailureOr<int64_t> verifyCuSeqlens(ShapeChecker &shapes, Value cuSeqlens,
                                   const HeadDims &dims);

/// A state: f32 or bf16, [N, HV, K, V] (kv) or [N, HV, V, K] (vk).
LogicalResult verifyStateTensor(ShapeChecker &shapes, NamedTensor state,
                                StateLayout layout, int64_t numStates,
                                const HeadDims &dims);

/// A chunk loop body on [C, K] / [C, V] tiles: arguments q, k, v, g, beta
/// and the state (then one per type of `prepared`), ending in kda.yield of
/// the chunk output and the state.
LogicalResult verifyChunkBody(Operation *op, Region &region, int64_t c,
                              int64_t kDim, int64_t vDim,
                              TypeRange prepared = {});

/// The tile types a body receives of `prepared` per-chunk-slot values
/// [slots, HV, tile dims...]: their types without the two leading
/// dimensions. Fails (with a diagnostic on `op`) on a value of another
/// shape.
FailureOr<SmallVector<Type>> verifyPrepared(Operation *op, ValueRange prepared,
                                            int64_t hv);

/// \p value is a static tensor of rank `shape.size()` whose dimensions
/// equal `shape` where it is not kDynamic; `names` spell the expected shape
/// for the message ("[C, K]").
LogicalResult expectTile(Operation *op, StringRef name, Value value,
                         ArrayRef<int64_t> shape, StringRef names);

/// The tensors a split chunk loop (kda.chunk_map, kda.chunk_states, ...)
/// reads: the chunk size, q, k, v, beta, g and cu_seqlens as
/// verifyHeadTensors and its neighbours check them, with `output` (v, or
/// do) standing for o. Sets the number of state slots.
FailureOr<HeadDims> verifyChunkLoopTensors(Operation *op, int64_t c, Value q,
                                           Value k, Value v, Value output,
                                           Value beta, Value g,
                                           GateGranularity gate,
                                           Value cuSeqlens, int64_t &numStates);

/// Present scales are positive and finite.
LogicalResult verifyScale(ShapeChecker &shapes, std::optional<double> scale);

} // namespace mlir::kda

#endif // KDA_KDASHAPECHECKS_H
