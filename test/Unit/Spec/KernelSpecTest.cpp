//===- KernelSpecTest.cpp - Consistency rules of KernelSpec ---------------===//
//
// The spec-level rules must agree with the IR verifier: each inconsistent
// combination is reported, each consistent one accepted.
//
//===----------------------------------------------------------------------===//
#include "kdac/Spec/KernelSpec.h"
#include "kdac/Spec/Limits.h"

#include <gtest/gtest.h>

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
