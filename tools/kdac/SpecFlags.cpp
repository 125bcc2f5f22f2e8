//===- SpecFlags.cpp - Command-line flags that describe a KDA problem -----===//
//
// The flags that build a KernelSpec without writing MLIR by hand. They are
// shared by the top-level compile command and `kdac gen-case`. A field that
// is one flag comes from KernelSpec.def (KDAC_SPEC_FLAG_FIELD); the others
// (dynamic B and T, HV = H by default, beta's dtype following --dtype, the
// lower bound's default, A_log implied by softplus, the scale, the op, the
// state pool's three fields and the target) have a rule of their own here.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "llvm/Support/raw_ostream.h"

#include <type_traits>

namespace cl = llvm::cl;

namespace kdac::cli {

static cl::OptionCategory specCategory(
    "Problem spec (used when no .mlir file is given)");

/// Spec flags apply to the top level and to gen-case.
#define KDAC_SPEC_FLAG                                                         \
  cl::cat(specCategory), cl::sub(cl::SubCommand::getTopLevel()),              \
      cl::sub(genCaseCommand)

static cl::opt<std::string> opFlag(
    "op",
    cl::desc("Operation: forward (chunkwise kernels) | decode (token-by-token "
             "kernel for a few tokens per sequence) | backward (the gradients, "
             "kda IR stages only so far) | commit (the state after each "
             "sequence's accepted prefix of a decode call's token records) "
             "(default: forward)"),
    cl::init("forward"), KDAC_SPEC_FLAG);
static cl::opt<int64_t>
    batchFlag("B", cl::desc("Batch size (-1: dynamic) (default: 1)"),
              cl::init(1), KDAC_SPEC_FLAG);
static cl::opt<int64_t>
    seqFlag("T", cl::desc("Sequence length (-1: dynamic) (default: -1)"),
            cl::init(-1), KDAC_SPEC_FLAG);
static cl::opt<int64_t> headsFlag("H",
                                  cl::desc("Query/key heads (default: 32)"),
                                  cl::init(32), KDAC_SPEC_FLAG);
static cl::opt<int64_t> valueHeadsFlag(
    "HV", cl::desc("Value heads, a multiple of H (0: same as H) (default: 0)"),
    cl::init(0), KDAC_SPEC_FLAG);
static cl::opt<std::string> betaDtypeFlag(
    "beta-dtype", cl::desc("Element type of beta (default: --dtype)"),
    cl::init(""), KDAC_SPEC_FLAG);
static cl::opt<double> lowerBoundFlag(
    "lower-bound",
    cl::desc("Lower bound of the lowerbound gate, in [-5, 0) (default -5)"),
    KDAC_SPEC_FLAG);
static cl::opt<bool> aLogFlag(
    "a-log",
    cl::desc("Pass A_log [HV] to the fused gate (implied by softplus)"),
    KDAC_SPEC_FLAG);
static cl::opt<std::string> statePoolFlag(
    "state-pool",
    cl::desc("Decode state pool updated in place: none | slots "
             "(state_indices [N]) | per-token (state_indices [N, S], the "
             "state after each token to its own slot) | records "
             "(state_indices [N] only read; token_records [B, T, HV, 2K + V] "
             "f32 written, which --op=commit commits) (default: none)"),
    cl::init("none"), KDAC_SPEC_FLAG);
static cl::opt<double> scaleFlag(
    "scale", cl::desc("Output scale (default K^-1/2)"), KDAC_SPEC_FLAG);

// The fields that are one flag each (KernelSpec.def): numbers and switches
// as themselves, enums by name, with the table's default.
template <typename T> struct FlagValue { using type = std::string; };
template <> struct FlagValue<int64_t> { using type = int64_t; };
template <> struct FlagValue<bool> { using type = bool; };

template <typename T>
static typename FlagValue<T>::type flagDefault(T value) {
  if constexpr (std::is_enum_v<T>)
    return toString(value);
  else
    return value;
}

/// The help with the default appended (a switch's default is off).
template <typename T> static std::string flagHelp(const char *help, T value) {
  if constexpr (std::is_same_v<T, bool>)
    return help;
  else if constexpr (std::is_same_v<T, int64_t>)
    return std::string(help) + " (default: " + std::to_string(value) + ")";
  else
    return std::string(help) + " (default: " + toString(value) + ")";
}

#define KDAC_SPEC_FIELD(TYPE, MEMBER, DEFAULT, KEY, TUNING, TOKEN)
#define KDAC_SPEC_FLAG_FIELD(TYPE, MEMBER, DEFAULT, KEY, TUNING, TOKEN, FLAG,  \
                             HELP)                                             \
  static const std::string MEMBER##Help = flagHelp<TYPE>(HELP, DEFAULT);      \
  static cl::opt<FlagValue<TYPE>::type> MEMBER##Flag(                         \
      FLAG, cl::desc(MEMBER##Help), cl::init(flagDefault<TYPE>(DEFAULT)),     \
      KDAC_SPEC_FLAG);
#include "kdac/Spec/KernelSpec.def"
#undef KDAC_SPEC_FLAG

bool anySpecFlagGiven() {
  for (const auto &entry : cl::getRegisteredOptions(cl::SubCommand::getTopLevel()))
    if (llvm::is_contained(entry.second->Categories, &specCategory) &&
        entry.second->getNumOccurrences() > 0)
      return true;
  return false;
}

/// Parses an enumerated flag value or reports the allowed values.
template <typename Enum>
static std::optional<Enum> parseFlag(const cl::opt<std::string> &flag) {
  std::optional<Enum> value = parseName<Enum>(flag.getValue());
  if (!value)
    reportError("invalid value '" + flag.getValue() + "' for --" +
                flag.ArgStr + " (expected " + acceptedNames<Enum>() + ")");
  return value;
}

/// Sets a table field from its flag; false (reported) for a bad enum name.
static bool readFlag(const cl::opt<int64_t> &flag, int64_t &field) {
  field = flag;
  return true;
}
static bool readFlag(const cl::opt<bool> &flag, bool &field) {
  field = flag;
  return true;
}
template <typename Enum>
static bool readFlag(const cl::opt<std::string> &flag, Enum &field) {
  std::optional<Enum> value = parseFlag<Enum>(flag);
  if (value)
    field = *value;
  return value.has_value();
}

bool backwardFromFlags() {
  return parseKernelOp(opFlag) == KernelOp::Backward;
}

std::optional<KernelSpec> specFromFlags() {
  std::optional<KernelOp> op = parseFlag<KernelOp>(opFlag);
  if (!op)
    return std::nullopt;
  if (*op == KernelOp::Backward && statePoolFlag != "none") {
    reportError("--op=backward has no state pool (a decode-only option)");
    return std::nullopt;
  }
  if (statePoolFlag != "none" && statePoolFlag != "slots" &&
      statePoolFlag != "per-token" && statePoolFlag != "records") {
    reportError("invalid value '" + statePoolFlag +
                "' for --state-pool (expected none, slots, per-token or "
                "records)");
    return std::nullopt;
  }
  // A commit always consumes records into a pool, by accepted counts.
  if (*op == KernelOp::Commit && statePoolFlag != "none" &&
      statePoolFlag != "records") {
    reportError("--op=commit commits token records (--state-pool=records, "
                "implied), not --state-pool=" + statePoolFlag);
    return std::nullopt;
  }

  KernelSpec spec;
  bool read = true;
#define KDAC_SPEC_FIELD(TYPE, MEMBER, DEFAULT, KEY, TUNING, TOKEN)
#define KDAC_SPEC_FLAG_FIELD(TYPE, MEMBER, DEFAULT, KEY, TUNING, TOKEN, FLAG,  \
                             HELP)                                             \
  read = readFlag(MEMBER##Flag, spec.MEMBER) && read;
#include "kdac/Spec/KernelSpec.def"
  // The fields without a flag of their own (KDAC_SPEC_FIELD in the table).
  std::optional<DType> betaDtype =
      betaDtypeFlag.empty() ? spec.dtype : parseFlag<DType>(betaDtypeFlag);
  if (!read || !betaDtype)
    return std::nullopt;
  spec.betaDType = *betaDtype;
  spec.B = batchFlag < 0 ? kDynamic : batchFlag;
  spec.T = seqFlag < 0 ? kDynamic : seqFlag;
  spec.H = headsFlag;
  spec.HV = valueHeadsFlag == 0 ? headsFlag : valueHeadsFlag;
  if (spec.activation == GateActivation::LowerBound)
    spec.lowerBound =
        lowerBoundFlag.getNumOccurrences() ? lowerBoundFlag.getValue() : -5.0;
  else if (lowerBoundFlag.getNumOccurrences())
    spec.lowerBound = lowerBoundFlag.getValue();
  spec.hasALog = aLogFlag || spec.activation == GateActivation::Softplus;
  if (scaleFlag.getNumOccurrences())
    spec.scale = scaleFlag.getValue();
  spec.op = *op;
  bool commit = *op == KernelOp::Commit;
  spec.statePool = statePoolFlag != "none" || commit;
  spec.perTokenStates = statePoolFlag == "per-token";
  spec.tokenRecords = statePoolFlag == "records" || commit;
  spec.acceptedCounts = spec.acceptedCounts || commit;
  spec.arch = archFromFlags();
  if (spec.arch.empty())
    return std::nullopt;

  std::string problem = validate(spec);
  if (!problem.empty()) {
    reportError("inconsistent spec: " + problem);
    return std::nullopt;
  }
  return spec;
}

} // namespace kdac::cli
