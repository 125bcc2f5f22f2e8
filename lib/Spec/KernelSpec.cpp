//===- KernelSpec.cpp - Names and consistency rules of KernelSpec ---------===//
//
// String forms shared by the CLI, case files and diagnostics, and the same
// consistency rules the kda.recurrence verifier applies, for callers that
// hold a spec but no IR (the JIT, the oracle).
//
//===----------------------------------------------------------------------===//
#include "kdac/Spec/KernelSpec.h"
#include "kdac/Spec/Limits.h"

#include <cmath>
#include <cstdio>
#include <type_traits>
#include <sstream>

namespace kdac {

bool KernelSpec::keepsTokensStatic() const {
  return (isDecode() || isCommit()) && !varlen && T >= 1 &&
         T <= limits::kMaxStaticDecodeTokens;
}

double KernelSpec::effectiveScale() const {
  return scale ? *scale : 1.0 / std::sqrt(static_cast<double>(K));
}

const char *toString(DType t) {
  switch (t) {
  case DType::F32: return "f32";
  case DType::F16: return "f16";
  case DType::BF16: return "bf16";
  }
  return "?";
}
const char *toString(GateGranularity g) {
  switch (g) {
  case GateGranularity::None: return "none";
  case GateGranularity::Scalar: return "scalar";
  case GateGranularity::Channel: return "channel";
  }
  return "?";
}
const char *toString(GateActivation a) {
  switch (a) {
  case GateActivation::None: return "none";
  case GateActivation::Softplus: return "softplus";
  case GateActivation::LowerBound: return "lowerbound";
  }
  return "?";
}
const char *toString(UpdateRule u) {
  return u == UpdateRule::Delta ? "delta" : "additive";
}
const char *toString(StateLayout l) {
  return l == StateLayout::KV ? "kv" : "vk";
}
const char *toString(KernelOp op) {
  switch (op) {
  case KernelOp::Forward: return "forward";
  case KernelOp::Decode: return "decode";
  case KernelOp::Backward: return "backward";
  case KernelOp::Commit: return "commit";
  }
  return "?";
}

template <typename Enum, size_t N>
static std::optional<Enum> parseEnum(const std::string &s,
                                     const Enum (&values)[N]) {
  for (Enum value : values)
    if (s == toString(value))
      return value;
  return std::nullopt;
}

std::optional<DType> parseDType(const std::string &s) {
  static const DType all[] = {DType::F32, DType::F16, DType::BF16};
  if (s == "fp32" || s == "float32") return DType::F32;
  if (s == "fp16" || s == "float16") return DType::F16;
  if (s == "bfloat16") return DType::BF16;
  return parseEnum(s, all);
}
std::optional<GateGranularity> parseGateGranularity(const std::string &s) {
  static const GateGranularity all[] = {
      GateGranularity::None, GateGranularity::Scalar, GateGranularity::Channel};
  return parseEnum(s, all);
}
std::optional<GateActivation> parseGateActivation(const std::string &s) {
  static const GateActivation all[] = {GateActivation::None,
                                       GateActivation::Softplus,
                                       GateActivation::LowerBound};
  return parseEnum(s, all);
}
std::optional<UpdateRule> parseUpdateRule(const std::string &s) {
  static const UpdateRule all[] = {UpdateRule::Delta, UpdateRule::Additive};
  return parseEnum(s, all);
}
std::optional<StateLayout> parseStateLayout(const std::string &s) {
  static const StateLayout all[] = {StateLayout::KV, StateLayout::VK};
  return parseEnum(s, all);
}
std::optional<KernelOp> parseKernelOp(const std::string &s) {
  static const KernelOp all[] = {KernelOp::Forward, KernelOp::Decode,
                                 KernelOp::Backward, KernelOp::Commit};
  return parseEnum(s, all);
}

#define KDAC_SPEC_ENUM(ENUM, PARSE, NAMES)                                      \
  template <> std::optional<ENUM> parseName<ENUM>(const std::string &s) {      \
    return PARSE(s);                                                           \
  }                                                                            \
  template <> const char *acceptedNames<ENUM>() { return NAMES; }
KDAC_SPEC_ENUM(DType, parseDType, "bf16, f16 or f32")
KDAC_SPEC_ENUM(GateGranularity, parseGateGranularity, "none, scalar or channel")
KDAC_SPEC_ENUM(GateActivation, parseGateActivation,
               "none, softplus or lowerbound")
KDAC_SPEC_ENUM(UpdateRule, parseUpdateRule, "delta or additive")
KDAC_SPEC_ENUM(StateLayout, parseStateLayout, "kv or vk")
KDAC_SPEC_ENUM(KernelOp, parseKernelOp, "forward, decode, backward or commit")
#undef KDAC_SPEC_ENUM

// A field's value as the keys print it.
static std::string fieldText(int64_t v) { return std::to_string(v); }
static std::string fieldText(bool v) { return v ? "1" : "0"; }
static std::string fieldText(const std::string &v) { return v; }
static std::string fieldText(const std::optional<double> &v) {
  if (!v)
    return "none";
  // Round-trip precision: two scales that differ anywhere are two keys.
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", *v);
  return buf;
}
template <typename Enum,
          typename = std::enable_if_t<std::is_enum_v<Enum>>>
static std::string fieldText(Enum v) {
  return toString(v);
}

std::string specFieldsKey(const KernelSpec &spec) {
  KernelSpec s = spec;
  s.scale = s.effectiveScale();
  std::string key;
#define KDAC_SPEC_FIELD(TYPE, MEMBER, DEFAULT, KEY, TUNING, TOKEN)             \
  key += (key.empty() ? "" : " ") + std::string(KEY) + "=" +                  \
         fieldText(s.MEMBER);
#include "kdac/Spec/KernelSpec.def"
  return key;
}

// A field's token in the tuning key: a flag's word when set, else the
// token followed by the value.
static std::string tuningToken(const char *token, bool v) {
  return v ? token : "";
}
template <typename Value>
static std::string tuningToken(const char *token, const Value &v) {
  return token + fieldText(v);
}

std::string tuningSpecKey(const KernelSpec &s) {
  std::string key;
  auto add = [&](SpecTuning rule, bool isDefault, std::string token) {
    bool printed = rule == SpecTuning::Always ||
                   (rule == SpecTuning::UnlessDefault && !isDefault) ||
                   (rule == SpecTuning::WhenTokensStatic &&
                    s.keepsTokensStatic());
    if (printed && !token.empty())
      key += (key.empty() ? "" : " ") + token;
  };
  const KernelSpec defaults;
#define KDAC_SPEC_FIELD(TYPE, MEMBER, DEFAULT, KEY, TUNING, TOKEN)             \
  add(TUNING, s.MEMBER == defaults.MEMBER, tuningToken(TOKEN, s.MEMBER));
#include "kdac/Spec/KernelSpec.def"
  return key;
}

std::string validate(const KernelSpec &spec) {
  std::ostringstream err;
  if (spec.H <= 0 || spec.HV <= 0 || spec.K <= 0 || spec.V <= 0)
    err << "H, HV, K and V must be positive";
  else if (spec.H > limits::kMaxHeads || spec.HV > limits::kMaxHeads)
    err << "H and HV must be at most " << limits::kMaxHeads
        << " (the grid's y extent; got H=" << spec.H << ", HV=" << spec.HV
        << ")";
  else if (spec.HV % spec.H != 0)
    err << "HV (" << spec.HV << ") must be a multiple of H (" << spec.H << ")";
  else if (spec.K > limits::kMaxHeadDim || spec.V > limits::kMaxHeadDim)
    err << "K and V must be at most " << limits::kMaxHeadDim << " (got K="
        << spec.K << ", V=" << spec.V << ")";
  else if (spec.B != kDynamic && spec.B <= 0)
    err << "B must be positive";
  else if (spec.B != kDynamic && spec.B > limits::kMaxSequences)
    err << "B must be at most " << limits::kMaxSequences
        << " (the grid's z extent; got " << spec.B << ")";
  else if (spec.T != kDynamic && spec.T < 0)
    err << "T must be non-negative";
  else if (spec.T != kDynamic &&
           limits::checkedMul(spec.T, spec.B == kDynamic ? 1 : spec.B)
                   .value_or(limits::kMaxTokens + 1) > limits::kMaxTokens)
    err << "B * T must be at most " << limits::kMaxTokens << " tokens (got B="
        << spec.B << ", T=" << spec.T << ")";
  else if (spec.varlen && spec.B != 1)
    err << "varlen (cu_seqlens) requires B == 1";
  else if (spec.activation != GateActivation::None &&
           spec.gate == GateGranularity::None)
    err << "a gate activation needs a gate (scalar or channel)";
  else if (spec.activation == GateActivation::None &&
           (spec.hasALog || spec.hasDtBias))
    err << "A_log and dt_bias need a fused gate activation";
  else if (spec.activation == GateActivation::Softplus && !spec.hasALog)
    err << "activation softplus needs A_log";
  else if (spec.activation == GateActivation::LowerBound &&
           (!spec.lowerBound || !(*spec.lowerBound >= limits::kMinLowerBound &&
                                  *spec.lowerBound < 0.0)))
    err << "activation lowerbound needs a lower bound in [-5, 0)";
  else if (spec.activation != GateActivation::LowerBound && spec.lowerBound)
    err << "a lower bound needs activation lowerbound";
  else if (spec.scale && !(*spec.scale > 0.0 && std::isfinite(*spec.scale)))
    err << "scale must be positive and finite";
  else if (spec.stateDType == DType::F16)
    err << "state dtype must be f32 or bf16";
  else if (spec.statePool && !spec.isDecode() && !spec.isCommit())
    err << "a state pool needs the decode kernel (--op=decode)";
  else if (spec.statePool && (spec.hasInitialState || spec.hasFinalState))
    err << "a state pool is both the initial and the final state: drop "
           "initial/final state";
  else if (spec.perTokenStates && !spec.statePool)
    err << "per-token states need a state pool";
  else if (spec.acceptedCounts && !spec.perTokenStates && !spec.isCommit())
    err << "accepted counts need per-token states ([N, S] state indices)";
  else if (spec.isCommit() && !(spec.statePool && spec.tokenRecords))
    err << "a commit needs a state pool and token records";
  else if (spec.tokenRecords && !spec.statePool)
    err << "token records need a state pool";
  else if (std::string records =
               spec.tokenRecords
                   ? limits::checkTokenRecordCall(
                         {spec.T, spec.varlen, spec.perTokenStates,
                          spec.acceptedCounts,
                          spec.stateLayout == StateLayout::KV,
                          spec.gate != GateGranularity::None,
                          spec.update == UpdateRule::Delta, spec.isCommit()})
                   : "";
           !records.empty())
    err << records;
  else if (std::string arch = limits::checkArch(spec.arch, "the target");
           !arch.empty())
    err << arch;
  return err.str();
}

} // namespace kdac
