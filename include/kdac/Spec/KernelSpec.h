//===- KernelSpec.h - The KDA problem description shared by every layer ---===//
//
// One plain struct describes a KDA problem: shapes, dtypes, family and fused
// prologue flags. The CLI builds it from flags, the IR frontend turns it into
// kda.recurrence, the reference oracle and the JIT consume it. It carries no
// MLIR types so that the runtime and the oracle can use it too.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_SPEC_KERNELSPEC_H
#define KDAC_SPEC_KERNELSPEC_H

#include <cstdint>
#include <optional>
#include <string>

namespace kdac {

enum class DType { F32, F16, BF16 };
enum class GateGranularity { None, Scalar, Channel };
enum class GateActivation { None, Softplus, LowerBound };
enum class UpdateRule { Delta, Additive };
enum class StateLayout { KV, VK };
/// What a spec's kernels compute: the chunkwise forward, the token-by-token
/// decode kernel (a few tokens per sequence, where the state's traffic
/// dominates), the gradients of every input, or the commit of a decode
/// call's token records: the state after each sequence's accepted prefix.
enum class KernelOp { Forward, Decode, Backward, Commit };

/// The tensors a KDA kernel binds, in the launch ABI's order (the JIT's
/// tensor slots); a kdk.param names one of them.
inline constexpr const char *kTensorNames[] = {
    "q",           "k",          "v",             "g",           "beta",
    "A_log",       "dt_bias",    "initial_state", "cu_seqlens",  "o",
    "final_state", "state_pool", "state_indices", "num_accepted",
    // The backward's cotangents in and gradients out (f32).
    "do",          "dht",        "dq",            "dk",          "dv",
    "dg",          "dbeta",      "dA_log",        "ddt_bias",    "dh0",
    // A decode call's per-token records (f32), which a commit consumes.
    "token_records"};

/// Sentinel for a dimension only known at run time (T, B or N).
constexpr int64_t kDynamic = -1;

struct KernelSpec {
  // Shapes. B and T may be kDynamic; with varlen, B must be 1 and the number
  // of sequences N is a run-time value (cu_seqlens has N + 1 entries).
  int64_t B = 1;
  int64_t T = kDynamic;
  int64_t H = 1;
  int64_t HV = 1;
  int64_t K = 128;
  int64_t V = 128;
  bool varlen = false;

  // Element types: q, k, v, o share `dtype`; g and beta have their own.
  DType dtype = DType::BF16;
  DType gateDType = DType::F32;
  DType betaDType = DType::BF16;

  // The family.
  GateGranularity gate = GateGranularity::Channel;
  UpdateRule update = UpdateRule::Delta;

  // The fused prologue.
  GateActivation activation = GateActivation::None;
  std::optional<double> lowerBound;  // only with GateActivation::LowerBound
  bool hasALog = false;              // A_log [HV]
  bool hasDtBias = false;            // dt_bias [HV*K] (channel) or [HV] (scalar)
  bool qkL2Norm = false;
  bool betaSigmoid = false;

  // State.
  bool hasInitialState = false;
  bool hasFinalState = false;
  StateLayout stateLayout = StateLayout::KV;
  DType stateDType = DType::F32;

  /// Output scale; unset means K^-1/2.
  std::optional<double> scale;

  KernelOp op = KernelOp::Forward;

  /// Decode with a state pool (continuous batching): one [P, HV, K, V]
  /// tensor `state_pool` is read and written in place, sequence n using slot
  /// state_indices[n] (i32; negative skips the sequence). Replaces
  /// hasInitialState / hasFinalState.
  bool statePool = false;
  /// state_indices is [N, S]: the state after token t goes to slot
  /// state_indices[n, t] (speculative decoding keeps every draft's state).
  bool perTokenStates = false;
  /// num_accepted [N] (i32, with perTokenStates): sequence n starts from slot
  /// state_indices[n, num_accepted[n] - 1] instead of column 0.
  bool acceptedCounts = false;
  /// Speculative decoding without per-token states: the decode kernel
  /// reads slot state_indices[n] ([N]), leaves the pool as it was and
  /// writes token_records [B, T, HV, 2K + V] (f32): per token t and value
  /// head, k_t (after the L2 norm), g_t (its log-decay, after the gate
  /// activation; per channel, or repeated over K for a scalar gate) and
  /// v'_t = beta_t (v_t - k_t^T Diag(exp g_t) S_{t-1}). A commit spec
  /// (KernelOp::Commit, with acceptedCounts) then rebuilds the state after
  /// the first num_accepted[n] tokens in place:
  ///   S <- Diag(exp g_t) S + k_t v'_t^T,  t < num_accepted[n].
  bool tokenRecords = false;

  /// Target architecture for code generation ("sm_90a", "sm_80").
  std::string arch = "sm_90a";

  double effectiveScale() const;
  bool isDecode() const { return op == KernelOp::Decode; }
  bool isCommit() const { return op == KernelOp::Commit; }
  /// Whether the kernels keep T static: a decode call (or the commit of its
  /// records) of 1 .. limits::kMaxStaticDecodeTokens tokens per sequence,
  /// not varlen. One token stays 16-bit in the kernel, a few run as one
  /// chunk (convert-kda-recurrence-to-kdk).
  bool keepsTokensStatic() const;
  /// The width of one token record row: k, g and v'.
  int64_t recordWidth() const { return 2 * K + V; }
  /// Number of state slots: B, or the number of sequences with varlen.
  int64_t numStates(int64_t numSeqs) const { return varlen ? numSeqs : B; }
};

const char *toString(DType t);
const char *toString(GateGranularity g);
const char *toString(GateActivation a);
const char *toString(UpdateRule u);
const char *toString(StateLayout l);
const char *toString(KernelOp op);
std::optional<DType> parseDType(const std::string &s);
std::optional<GateGranularity> parseGateGranularity(const std::string &s);
std::optional<GateActivation> parseGateActivation(const std::string &s);
std::optional<UpdateRule> parseUpdateRule(const std::string &s);
std::optional<StateLayout> parseStateLayout(const std::string &s);
std::optional<KernelOp> parseKernelOp(const std::string &s);

/// Checks the spec for internal consistency, as the kda.recurrence verifier
/// does for IR. Returns an empty string when valid, else one line saying what
/// is wrong.
std::string validate(const KernelSpec &spec);

} // namespace kdac

#endif // KDAC_SPEC_KERNELSPEC_H
