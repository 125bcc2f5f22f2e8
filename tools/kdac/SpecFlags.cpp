//===- SpecFlags.cpp - Command-line flags that describe a KDA problem -----===//
//
// The flags that build a KernelSpec without writing MLIR by hand. They are
// shared by the top-level compile command and `kdac gen-case`.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "llvm/Support/raw_ostream.h"

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
static cl::opt<bool> varlenFlag(
    "varlen", cl::desc("Packed variable-length sequences (cu_seqlens, B = 1)"),
    KDAC_SPEC_FLAG);
static cl::opt<int64_t> headsFlag("H",
                                  cl::desc("Query/key heads (default: 32)"),
                                  cl::init(32), KDAC_SPEC_FLAG);
static cl::opt<int64_t> valueHeadsFlag(
    "HV", cl::desc("Value heads, a multiple of H (0: same as H) (default: 0)"),
    cl::init(0), KDAC_SPEC_FLAG);
static cl::opt<int64_t> keyDimFlag("K", cl::desc("Key head dim (default: 128)"),
                                   cl::init(128), KDAC_SPEC_FLAG);
static cl::opt<int64_t> valueDimFlag("V",
                                     cl::desc("Value head dim (default: 128)"),
                                     cl::init(128), KDAC_SPEC_FLAG);
static cl::opt<std::string> dtypeFlag(
    "dtype",
    cl::desc("Element type of q, k, v, o: bf16 | f16 | f32 (default: bf16)"),
    cl::init("bf16"), KDAC_SPEC_FLAG);
static cl::opt<std::string> gateDtypeFlag(
    "gate-dtype",
    cl::desc("Element type of g: bf16 | f16 | f32 (default: f32)"),
    cl::init("f32"), KDAC_SPEC_FLAG);
static cl::opt<std::string> betaDtypeFlag(
    "beta-dtype", cl::desc("Element type of beta (default: --dtype)"),
    cl::init(""), KDAC_SPEC_FLAG);
static cl::opt<std::string> gateFlag(
    "gate",
    cl::desc("Gate granularity: none | scalar | channel (default: channel)"),
    cl::init("channel"), KDAC_SPEC_FLAG);
static cl::opt<std::string> updateFlag(
    "update",
    cl::desc("State update: delta | additive (GLA-style) (default: delta)"),
    cl::init("delta"), KDAC_SPEC_FLAG);
static cl::opt<std::string> activationFlag(
    "gate-activation",
    cl::desc(
        "Fused gate activation: none | softplus | lowerbound (default: none)"),
    cl::init("none"), KDAC_SPEC_FLAG);
static cl::opt<double> lowerBoundFlag(
    "lower-bound",
    cl::desc("Lower bound of the lowerbound gate, in [-5, 0) (default -5)"),
    KDAC_SPEC_FLAG);
static cl::opt<bool> aLogFlag(
    "a-log",
    cl::desc("Pass A_log [HV] to the fused gate (implied by softplus)"),
    KDAC_SPEC_FLAG);
static cl::opt<bool> dtBiasFlag(
    "dt-bias", cl::desc("Pass dt_bias to the fused gate"), KDAC_SPEC_FLAG);
static cl::opt<bool> l2normFlag("qk-l2norm",
                                cl::desc("Fuse the L2 norm of q and k"),
                                KDAC_SPEC_FLAG);
static cl::opt<bool> betaSigmoidFlag(
    "beta-sigmoid", cl::desc("Fuse sigmoid(beta)"), KDAC_SPEC_FLAG);
static cl::opt<bool> initialStateFlag(
    "initial-state", cl::desc("Read an initial state"), KDAC_SPEC_FLAG);
static cl::opt<bool> finalStateFlag(
    "final-state", cl::desc("Write the final state"), KDAC_SPEC_FLAG);
static cl::opt<std::string> stateLayoutFlag(
    "state-layout",
    cl::desc("State layout: kv ([N,HV,K,V]) | vk ([N,HV,V,K]) (default: kv)"),
    cl::init("kv"), KDAC_SPEC_FLAG);
static cl::opt<std::string>
    stateDtypeFlag("state-dtype",
                   cl::desc("State element type: f32 | bf16 (default: f32)"),
                   cl::init("f32"), KDAC_SPEC_FLAG);
static cl::opt<std::string> statePoolFlag(
    "state-pool",
    cl::desc("Decode state pool updated in place: none | slots "
             "(state_indices [N]) | per-token (state_indices [N, S], the "
             "state after each token to its own slot) | records "
             "(state_indices [N] only read; token_records [B, T, HV, 2K + V] "
             "f32 written, which --op=commit commits) (default: none)"),
    cl::init("none"), KDAC_SPEC_FLAG);
static cl::opt<bool> acceptedCountsFlag(
    "accepted-counts",
    cl::desc("Speculative decoding: num_accepted [N] picks each sequence's "
             "start slot (needs --state-pool=per-token)"),
    KDAC_SPEC_FLAG);
static cl::opt<double> scaleFlag(
    "scale", cl::desc("Output scale (default K^-1/2)"), KDAC_SPEC_FLAG);
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
static std::optional<Enum>
parseFlag(const cl::opt<std::string> &flag,
          std::optional<Enum> (*parse)(const std::string &),
          const char *allowed) {
  std::optional<Enum> value = parse(flag.getValue());
  if (!value)
    reportError("invalid value '" + flag.getValue() + "' for --" +
                flag.ArgStr + " (expected " + allowed + ")");
  return value;
}

bool backwardFromFlags() {
  return parseKernelOp(opFlag) == KernelOp::Backward;
}

std::optional<KernelSpec> specFromFlags() {
  std::optional<KernelOp> op = parseKernelOp(opFlag);
  if (!op) {
    reportError("invalid value '" + opFlag +
                "' for --op (expected forward, decode, backward or commit)");
    return std::nullopt;
  }
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
  auto dtype = parseFlag(dtypeFlag, parseDType, "bf16, f16 or f32");
  auto gateDtype = parseFlag(gateDtypeFlag, parseDType, "bf16, f16 or f32");
  auto betaDtype = betaDtypeFlag.empty()
                       ? dtype
                       : parseFlag(betaDtypeFlag, parseDType, "bf16, f16 or f32");
  auto gate = parseFlag(gateFlag, parseGateGranularity, "none, scalar or channel");
  auto update = parseFlag(updateFlag, parseUpdateRule, "delta or additive");
  auto activation = parseFlag(activationFlag, parseGateActivation,
                              "none, softplus or lowerbound");
  auto layout = parseFlag(stateLayoutFlag, parseStateLayout, "kv or vk");
  auto stateDtype = parseFlag(stateDtypeFlag, parseDType, "f32 or bf16");
  if (!dtype || !gateDtype || !betaDtype || !gate || !update || !activation ||
      !layout || !stateDtype)
    return std::nullopt;

  KernelSpec spec;
  spec.B = batchFlag < 0 ? kDynamic : batchFlag;
  spec.T = seqFlag < 0 ? kDynamic : seqFlag;
  spec.varlen = varlenFlag;
  spec.H = headsFlag;
  spec.HV = valueHeadsFlag == 0 ? headsFlag : valueHeadsFlag;
  spec.K = keyDimFlag;
  spec.V = valueDimFlag;
  spec.dtype = *dtype;
  spec.gateDType = *gateDtype;
  spec.betaDType = *betaDtype;
  spec.gate = *gate;
  spec.update = *update;
  spec.activation = *activation;
  if (spec.activation == GateActivation::LowerBound)
    spec.lowerBound =
        lowerBoundFlag.getNumOccurrences() ? lowerBoundFlag.getValue() : -5.0;
  else if (lowerBoundFlag.getNumOccurrences())
    spec.lowerBound = lowerBoundFlag.getValue();
  spec.hasALog = aLogFlag || spec.activation == GateActivation::Softplus;
  spec.hasDtBias = dtBiasFlag;
  spec.qkL2Norm = l2normFlag;
  spec.betaSigmoid = betaSigmoidFlag;
  spec.hasInitialState = initialStateFlag;
  spec.hasFinalState = finalStateFlag;
  spec.stateLayout = *layout;
  spec.stateDType = *stateDtype;
  if (scaleFlag.getNumOccurrences())
    spec.scale = scaleFlag.getValue();
  spec.op = *op;
  bool commit = *op == KernelOp::Commit;
  spec.statePool = statePoolFlag != "none" || commit;
  spec.perTokenStates = statePoolFlag == "per-token";
  spec.tokenRecords = statePoolFlag == "records" || commit;
  spec.acceptedCounts = acceptedCountsFlag || commit;
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
