//===- StatePool.h - The oracle of decode with a state pool -----*- C++ -*-===//
//
// Inference engines keep every sequence's state in one pool and hand the
// decode kernel a slot per sequence (continuous batching), or a slot per
// draft token and an accepted count (speculative decoding). This runs a
// pooled spec on the fp64 oracle one token at a time with exactly the
// semantics of kda.recurrence's state_indices and num_accepted, so the GPU
// kernel's in-place pool updates can be checked.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_REFERENCE_STATEPOOL_H
#define KDAC_REFERENCE_STATEPOOL_H

#include "kdac/Reference/Reference.h"

namespace kdac {

struct StatePool {
  int64_t slots = 0;              ///< P
  std::vector<double> states;     ///< [P, HV, K, V] or [P, HV, V, K]
  std::vector<int32_t> indices;   ///< [N] or [N, S]; negative: no slot
  int64_t slotsPerSequence = 1;   ///< S (1 for [N] indices)
  std::vector<int32_t> accepted;  ///< [N], only with spec.acceptedCounts
  /// [N, T, HV, 2K + V]: what a token-records call wrote (k, g, v' per
  /// token and value head), which a commit consumes.
  std::vector<double> records;
};

/// A pool for `spec` (statePool set) serving `numSequences` sequences with
/// `slotsPerSequence` slots each (1 unless perTokenStates): 2 * N * S + 1
/// slots of N(0, 1) states rounded to the state dtype, indices a seeded
/// shuffle of the slots with every fourth sequence skipped (-1), and
/// accepted counts in [1, S], except sequence 1's, which is 0 (skipped).
StatePool makeRandomPool(const KernelSpec &spec, int64_t numSequences,
                         int64_t slotsPerSequence, uint64_t seed);

/// Runs `spec` (statePool set) on `inputs` (no initial state), updating
/// `pool` in place (with token records: filling pool.records instead,
/// NaN for skipped sequences). Returns o, with NaN in the rows of skipped
/// sequences, which the kernel must leave untouched.
llvm::Expected<std::vector<double>>
runPooledReference(const KernelSpec &spec, const KdaInputs &inputs,
                   StatePool &pool);

/// Commits `pool.records` (of a token-records call of T tokens) for a
/// commit spec: each sequence n with a slot state_indices[n] >= 0 replays
/// its first min(accepted[n], T) records onto that slot,
///   S <- Diag(exp g_t) S + k_t v'_t^T.
llvm::Error commitPooledRecords(const KernelSpec &spec, int64_t T,
                                StatePool &pool);

} // namespace kdac

#endif // KDAC_REFERENCE_STATEPOOL_H
