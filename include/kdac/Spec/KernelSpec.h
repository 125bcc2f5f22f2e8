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
/// tensor slots); a #kdk.tensor names one of them.
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

/// How a spec field enters the tuning database's spec key (KernelSpec.def).
enum class SpecTuning {
  Never,            ///< not part of it
  Always,           ///< always
  UnlessDefault,    ///< only when it differs from its default
  WhenTokensStatic, ///< only when the kernels keep T static
};

/// A KDA problem. Its fields, their defaults and keys are listed once, in
/// KernelSpec.def, with what each means.
struct KernelSpec {
#define KDAC_SPEC_FIELD(TYPE, MEMBER, DEFAULT, KEY, TUNING, TOKEN)             \
  TYPE MEMBER = DEFAULT;
#include "kdac/Spec/KernelSpec.def"

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

/// The parse function of each enum above, for code that is generic over the
/// spec's fields, and the names it accepts as "a, b or c" (for messages).
template <typename Enum> std::optional<Enum> parseName(const std::string &s);
template <typename Enum> const char *acceptedNames();

/// Every field as "key=value", in table order, with the effective scale:
/// the spec's part of the JIT's cache key, which thus tells apart any two
/// specs that differ in a field.
std::string specFieldsKey(const KernelSpec &spec);

/// The spec as the tuning database keys it: the fields KernelSpec.def marks
/// as deciding the kernels' speed (shapes, dtypes, family, fused ops,
/// states), not run-time sizes, baked-in constants (scale, lower bound) or
/// the tiny A_log / dt_bias reads, e.g. "H64 HV64 K128 V128 bf16 g:f32 ...".
std::string tuningSpecKey(const KernelSpec &spec);

/// Checks the spec for internal consistency, as the kda.recurrence verifier
/// does for IR. Returns an empty string when valid, else one line saying what
/// is wrong.
std::string validate(const KernelSpec &spec);

} // namespace kdac

#endif // KDAC_SPEC_KERNELSPEC_H
