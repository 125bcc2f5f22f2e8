//===- KdacCApiTest.cpp - libkdac_capi.so without a GPU --------------------===//
//
// The checks a binding relies on before any kernel exists: spec validation,
// launch-argument checks with messages naming the tensor, and refusals of
// null pointers and bad devices as codes with a message, never a crash.
//
//===----------------------------------------------------------------------===//
#include "kdac-c/Kdac.h"

#include <gtest/gtest.h>

#include <string>

namespace {

kdac_spec prefillSpec() {
  kdac_spec s = {};
  s.B = -1;
  s.T = -1;
  s.H = 2;
  s.HV = 2;
  s.K = 64;
  s.V = 64;
  s.dtype = s.gate_dtype = s.beta_dtype = KDAC_BF16;
  s.state_dtype = KDAC_F32;
  s.gate = 2;
  s.has_final_state = 1;
  return s;
}

void describe(kdac_tensor &t, int32_t dtype, std::initializer_list<int64_t> shape) {
  t.data = 0x1000; // never dereferenced: no launch happens here
  t.dtype = dtype;
  t.rank = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t extent : shape)
    t.shape[i++] = extent;
}

kdac_launch_args argsFor(int64_t B, int64_t T) {
  kdac_launch_args a = {};
  describe(a.q, KDAC_BF16, {B, T, 2, 64});
  describe(a.k, KDAC_BF16, {B, T, 2, 64});
  describe(a.v, KDAC_BF16, {B, T, 2, 64});
  describe(a.g, KDAC_BF16, {B, T, 2, 64});
  describe(a.beta, KDAC_BF16, {B, T, 2});
  describe(a.o, KDAC_BF16, {B, T, 2, 64});
  describe(a.final_state, KDAC_F32, {B, 2, 64, 64});
  return a;
}

std::string lastError() { return kdac_last_error(); }

TEST(KdacCApi, VersionMatchesTheHeader) {
  EXPECT_EQ(kdac_api_version(), KDAC_C_API_VERSION);
}

TEST(KdacCApi, ValidatesSpecs) {
  kdac_spec s = prefillSpec();
  EXPECT_EQ(kdac_validate_spec(&s), 0) << lastError();
  s.HV = 3;
  EXPECT_NE(kdac_validate_spec(&s), 0);
  EXPECT_NE(lastError().find("HV (3) must be a multiple of H (2)"),
            std::string::npos)
      << lastError();
  s = prefillSpec();
  s.dtype = 17;
  EXPECT_NE(kdac_validate_spec(&s), 0);
  EXPECT_NE(lastError().find("dtype"), std::string::npos) << lastError();
  EXPECT_NE(kdac_validate_spec(nullptr), 0);
  // The backward is the same spec with its op; it is not a decode.
  s = prefillSpec();
  s.backward = 1;
  EXPECT_EQ(kdac_validate_spec(&s), 0) << lastError();
  s.decode = 1;
  EXPECT_NE(kdac_validate_spec(&s), 0);
  EXPECT_NE(lastError().find("more than one of decode, backward and commit"), std::string::npos)
      << lastError();
}

TEST(KdacCApi, ChecksTheBackwardsGradients) {
  kdac_spec s = prefillSpec();
  s.backward = 1;
  kdac_launch_args a = argsFor(2, 10);
  // The backward takes no o: it reads do (and dht) and writes gradients.
  a.o = kdac_tensor{};
  a.final_state = kdac_tensor{};
  EXPECT_NE(kdac_check_launch(&s, &a), 0);
  EXPECT_NE(lastError().find("do"), std::string::npos) << lastError();
  describe(a.d_o, KDAC_F32, {2, 10, 2, 64});
  describe(a.dht, KDAC_F32, {2, 2, 64, 64});
  for (kdac_tensor *t : {&a.dq, &a.dk, &a.dv, &a.dg})
    describe(*t, KDAC_F32, {2, 10, 2, 64});
  describe(a.dbeta, KDAC_F32, {2, 10, 2});
  EXPECT_EQ(kdac_check_launch(&s, &a), 0) << lastError();
  describe(a.dq, KDAC_BF16, {2, 10, 2, 64});
  EXPECT_NE(kdac_check_launch(&s, &a), 0);
  EXPECT_NE(lastError().find("dq"), std::string::npos) << lastError();
}

TEST(KdacCApi, ChecksLaunchArguments) {
  kdac_spec s = prefillSpec();
  kdac_launch_args a = argsFor(3, 100);
  EXPECT_EQ(kdac_check_launch(&s, &a), 0) << lastError();

  a.k.shape[3] = 32;
  EXPECT_NE(kdac_check_launch(&s, &a), 0);
  EXPECT_NE(lastError().find("k has shape [3, 100, 2, 32]"), std::string::npos)
      << lastError();

  a = argsFor(3, 100);
  a.final_state.data = 0;
  EXPECT_NE(kdac_check_launch(&s, &a), 0);
  EXPECT_NE(lastError().find("final_state is required"), std::string::npos)
      << lastError();

  EXPECT_NE(kdac_check_launch(&s, nullptr), 0);
  EXPECT_NE(lastError().find("arguments are null"), std::string::npos);

  a = argsFor(3, 100);
  a.q.rank = 9;
  EXPECT_NE(kdac_check_launch(&s, &a), 0);
  EXPECT_FALSE(lastError().empty());
}

TEST(KdacCApi, RefusesNullPointersAndBadDevices) {
  kdac_spec s = prefillSpec();
  EXPECT_NE(kdac_get_kernel(&s, 1024, 0, nullptr), 0);
  EXPECT_NE(lastError().find("null"), std::string::npos) << lastError();
  kdac_kernel *kernel = reinterpret_cast<kdac_kernel *>(1);
  EXPECT_NE(kdac_get_kernel(&s, 1024, -1, &kernel), 0);
  EXPECT_EQ(kernel, nullptr);
  EXPECT_NE(lastError().find("not a CUDA device index"), std::string::npos)
      << lastError();
  kdac_launch_args a = argsFor(1, 8);
  EXPECT_NE(kdac_kernel_launch(nullptr, nullptr, &a, nullptr, nullptr, 0), 0);
  EXPECT_STREQ(kdac_kernel_description(nullptr), "");
  EXPECT_EQ(kdac_kernel_num_workspaces(nullptr), 0);
}

} // namespace
