//===- KernelSpecTest.cpp - Consistency rules of KernelSpec ---------------===//
//
// The spec-level rules must agree with the IR verifier: each inconsistent
// combination is reported, each consistent one accepted. The keys built from
// the field table tell every field apart and keep the tuning format.
//
//===----------------------------------------------------------------------===//
#include "kdac/Spec/KernelSpec.h"
#include "kdac/Spec/Limits.h"

#include <gtest/gtest.h>

#include <type_traits>

using namespace kdac;

TEST(KernelSpec, DefaultIsValid) { EXPECT_EQ(validate(KernelSpec{}), ""); }

TEST(KernelSpec, DefaultScaleIsInverseSqrtK) {
  KernelSpec spec;
  spec.K = 64;
  EXPECT_DOUBLE_EQ(spec.effectiveScale(), 0.125);
  spec.scale = 0.37;
  EXPECT_DOUBLE_EQ(spec.effectiveScale(), 0.37);
}

TEST(KernelSpec, RejectsInconsistentCombinations) {
  auto expectError = [](auto mutate, const char *needle) {
    KernelSpec spec;
    mutate(spec);
    std::string err = validate(spec);
    EXPECT_NE(err.find(needle), std::string::npos) << "got: " << err;
  };
  expectError([](KernelSpec &s) { s.H = 2; s.HV = 3; }, "multiple of H");
  expectError([](KernelSpec &s) { s.K = 512; }, "at most 256");
  expectError([](KernelSpec &s) { s.varlen = true; s.B = 2; }, "B == 1");
  expectError([](KernelSpec &s) {
    s.gate = GateGranularity::None;
    s.activation = GateActivation::Softplus;
    s.hasALog = true;
  }, "needs a gate");
  expectError([](KernelSpec &s) { s.hasALog = true; }, "fused gate activation");
  expectError([](KernelSpec &s) { s.activation = GateActivation::Softplus; },
              "needs A_log");
  expectError([](KernelSpec &s) {
    s.activation = GateActivation::LowerBound;
    s.lowerBound = -6.0;
  }, "[-5, 0)");
  expectError([](KernelSpec &s) { s.lowerBound = -1.0; }, "needs activation");
  expectError([](KernelSpec &s) { s.scale = -1.0; }, "positive");
  expectError([](KernelSpec &s) { s.stateDType = DType::F16; }, "state dtype");
}

TEST(KernelSpec, ParsesNames) {
  EXPECT_EQ(parseDType("bf16"), DType::BF16);
  EXPECT_EQ(parseDType("fp32"), DType::F32);
  EXPECT_EQ(parseDType("int8"), std::nullopt);
  EXPECT_EQ(parseGateActivation("lowerbound"), GateActivation::LowerBound);
  EXPECT_EQ(parseStateLayout("vk"), StateLayout::VK);
  EXPECT_EQ(parseUpdateRule("additive"), UpdateRule::Additive);
  EXPECT_EQ(parseGateGranularity("scalar"), GateGranularity::Scalar);
}

TEST(KernelSpec, TargetsComeFromOneList) {
  KernelSpec spec;
  spec.arch = "sm_80";
  EXPECT_EQ(validate(spec), "");
  spec.arch = "sm_100a";
  EXPECT_EQ(validate(spec), "the target must be sm_90a or sm_80, got 'sm_100a'");
  std::string error;
  EXPECT_EQ(limits::archForComputeCapability(9, 0, error), "sm_90a");
  EXPECT_EQ(limits::archForComputeCapability(8, 9, error), "sm_80");
  EXPECT_EQ(error, "");
  EXPECT_EQ(limits::archForComputeCapability(10, 0, error), "");
  EXPECT_NE(error.find("this device has 10.0"), std::string::npos) << error;
}

// A value other than `v`, for each field type of KernelSpec.def.
static int64_t otherValue(int64_t v) { return v + 1; }
static bool otherValue(bool v) { return !v; }
static std::string otherValue(const std::string &v) { return v + "x"; }
static std::optional<double> otherValue(const std::optional<double> &v) {
  return v ? std::nullopt : std::optional<double>(-2.5);
}
template <typename Enum, typename = std::enable_if_t<std::is_enum_v<Enum>>>
static Enum otherValue(Enum v) {
  return static_cast<Enum>(static_cast<int>(v) == 0 ? 1 : 0);
}

TEST(KernelSpec, EveryFieldIsPartOfTheCacheKey) {
  const std::string base = specFieldsKey(KernelSpec{});
#define KDAC_SPEC_FIELD(TYPE, MEMBER, DEFAULT, KEY, TUNING, TOKEN)             \
  {                                                                            \
    KernelSpec changed;                                                        \
    changed.MEMBER = otherValue(changed.MEMBER);                               \
    EXPECT_NE(specFieldsKey(changed), base) << KEY;                            \
    EXPECT_NE(specFieldsKey(changed).find(std::string(KEY) + "="),             \
              std::string::npos);                                              \
  }
#include "kdac/Spec/KernelSpec.def"
  // The key holds the effective scale: unset and K^-1/2 are one kernel,
  // scales that differ past six digits are two.
  KernelSpec explicitScale;
  explicitScale.scale = explicitScale.effectiveScale();
  EXPECT_EQ(specFieldsKey(explicitScale), base);
  KernelSpec near = explicitScale;
  *near.scale += 1e-9;
  EXPECT_NE(specFieldsKey(near), base);
}

TEST(KernelSpec, TuningKeysKeepTheDatabaseFormat) {
  // tuning/h100.json's entry, keyed before the field table existed.
  KernelSpec s;
  s.H = s.HV = 64;
  s.dtype = s.gateDType = s.betaDType = DType::BF16;
  s.activation = GateActivation::LowerBound;
  s.lowerBound = -5.0;
  s.hasALog = s.hasDtBias = true;
  s.qkL2Norm = s.betaSigmoid = true;
  s.hasInitialState = s.hasFinalState = true;
  s.T = 8192;
  EXPECT_EQ(tuningSpecKey(s),
            "H64 HV64 K128 V128 bf16 g:bf16 beta:bf16 gate:channel delta "
            "act:lowerbound l2norm beta_sigmoid s0 sT kv state:f32");
  // The batch, T (unless static), constants and the target stay out.
  KernelSpec other = s;
  other.B = 8;
  other.T = 100;
  other.scale = 0.5;
  other.lowerBound = -1.0;
  other.arch = "sm_80";
  EXPECT_EQ(tuningSpecKey(other), tuningSpecKey(s));

  KernelSpec decode;
  decode.op = KernelOp::Decode;
  decode.T = 4;
  decode.statePool = decode.tokenRecords = true;
  EXPECT_EQ(tuningSpecKey(decode), "T4 H1 HV1 K128 V128 bf16 g:f32 beta:bf16 "
                                   "gate:channel delta act:none kv state:f32 "
                                   "decode pool records");
}
