//===- Reference.h - fp64 oracle for the KDA recurrence ---------*- C++ -*-===//
//
// The token-by-token recurrence of DESIGN.md section 1, in double precision,
// for every family member and fused-prologue option a KernelSpec describes.
// Every backend (the chunked IR interpreter, the emitted CUDA) is checked
// against it, and it is checked against FLA's golden vectors.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_REFERENCE_REFERENCE_H
#define KDAC_REFERENCE_REFERENCE_H

#include "kdac/Spec/KernelSpec.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <vector>

namespace kdac {

/// Flat row-major arrays in FLA's shapes. B and T are the actual sizes (the
/// spec may leave them dynamic); N is B, or cuSeqlens.size() - 1 with varlen.
struct KdaInputs {
  int64_t B = 1, T = 0;
  std::vector<double> q, k;   // [B, T, H, K]
  std::vector<double> v;      // [B, T, HV, V]
  std::vector<double> g;      // [B, T, HV, K] channel, [B, T, HV] scalar,
                              // empty for gate none
  std::vector<double> beta;   // [B, T, HV]
  std::vector<double> aLog;   // [HV], empty unless spec.hasALog
  std::vector<double> dtBias; // [HV*K] channel or [HV] scalar, empty unless
                              // spec.hasDtBias
  std::vector<double> initialState; // [N, HV, K, V] (KV) or [N, HV, V, K]
                                    // (VK); empty unless spec.hasInitialState
  std::vector<int64_t> cuSeqlens;   // [N + 1], empty unless spec.varlen
};

struct KdaOutputs {
  std::vector<double> o;          // [B, T, HV, V]
  std::vector<double> finalState; // [N, HV, K, V] or [N, HV, V, K]
};

/// Checks that a problem of \p B x \p T tokens over \p N sequences is small
/// enough for the oracle to hold: every input and output tensor's element
/// count is computed without int64 overflow, and their sum is at most
/// limits::kMaxCaseElements. One line saying which size is too large.
llvm::Error checkProblemSize(const KernelSpec &spec, int64_t B, int64_t T,
                             int64_t N);

/// Checks \p inputs against \p spec (the checks runReference starts with):
/// an invalid spec, a problem too large to hold (checkProblemSize), array sizes that disagree with the spec and B/T (e.g. "q
/// has 100 elements, expected B*T*H*K = 128"), cu_seqlens that do not start
/// at 0, decrease, or end anywhere but T.
llvm::Error checkInputs(const KernelSpec &spec, const KdaInputs &inputs);

/// One token's fused prologue, as the oracle applies it: q and k after the
/// L2 norm, the per-channel log-decay after the gate activation (0 without
/// a gate; a scalar gate repeated over K) and beta after its sigmoid.
struct TokenPrologue {
  std::vector<double> q, k, logDecay;
  double beta = 0.0;
};
/// The prologue of row `t` of the flattened [B*T] token axis, value head
/// `hv`, of inputs that passed checkInputs.
void tokenPrologue(const KernelSpec &spec, const KdaInputs &inputs, int64_t t,
                   int64_t hv, TokenPrologue &out);

/// Runs the recurrence after checkInputs (whose errors it returns). The final
/// state is always produced.
llvm::Expected<KdaOutputs> runReference(const KernelSpec &spec,
                                        const KdaInputs &inputs);

/// Number of sequences the inputs describe (B, or cuSeqlens.size() - 1).
int64_t numSequences(const KernelSpec &spec, const KdaInputs &inputs);

/// ||x - ref|| / ||ref|| over the whole arrays (DESIGN.md's error measure).
/// With ||ref|| == 0 it returns ||x||; a size mismatch returns +infinity.
double relativeError(const std::vector<double> &x,
                     const std::vector<double> &ref);

} // namespace kdac

#endif // KDAC_REFERENCE_REFERENCE_H
