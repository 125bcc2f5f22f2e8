//===- LaunchTest.cpp - The launch-only library without a GPU -------------===//
//
// The launch descriptor's text form reads back to what was printed, its
// reader names the line of every malformed entry, and the launch checks and
// a kernel set's loading refuse bad input before touching a device.
//
//===----------------------------------------------------------------------===//
#include "kdac/Launch/KernelSet.h"

#include <gtest/gtest.h>

using namespace kdac;

namespace {

rt::LaunchDescriptor sampleDescriptor() {
  rt::LaunchDescriptor d;
  d.chunkSize = 32;
  d.workspaces = {{"u", 16384}, {"glast", 512}};
  rt::KernelLaunch prep;
  prep.name = "kda_chunk_prep";
  prep.grid[0] = {0, 1, 0, 0}; // chunk_slots
  prep.grid[1] = {4, 0, 0, 0};
  prep.grid[2] = {1, 0, 0, 0};
  prep.blockThreads = 256;
  prep.dynamicSharedBytes = 39296;
  prep.params = {{rt::ParamKind::Tensor, "q"},
                 {rt::ParamKind::Workspace, "u"},
                 {rt::ParamKind::SizeT, "T"}};
  rt::KernelLaunch scan;
  scan.name = "kda_chunk_recurrence";
  scan.grid[0] = {1, 0, 2, 0}; // 2*sequences + 1
  scan.grid[1] = {0, 0, 0, 3}; // 3*batch
  scan.grid[2] = {7, 0, 0, 0};
  scan.blockThreads = 128;
  scan.params = {{rt::ParamKind::Workspace, "glast"},
                 {rt::ParamKind::SizeN, "N"},
                 {rt::ParamKind::SizeB, "B"},
                 {rt::ParamKind::SizeS, "S"},
                 {rt::ParamKind::Tensor, "o"}};
  d.kernels = {prep, scan};
  return d;
}

TEST(LaunchDescriptorText, ReadsBackWhatItPrints) {
  rt::LaunchDescriptor d = sampleDescriptor();
  std::string text = printLaunchDescriptor(d);
  EXPECT_NE(text.find("grid [2*sequences + 1, 3*batch, 7]"), std::string::npos)
      << text;
  rt::Expected<rt::LaunchDescriptor> read = parseLaunchDescriptor(text);
  ASSERT_TRUE(read.ok()) << read.error();
  EXPECT_EQ(printLaunchDescriptor(*read), text);
  ASSERT_EQ(read->kernels.size(), 2u);
  rt::RuntimeSizes sizes;
  sizes.B = 2, sizes.N = 5, sizes.chunkSlots = 11;
  for (int axis = 0; axis < 3; ++axis)
    for (size_t k = 0; k < 2; ++k)
      EXPECT_EQ(read->kernels[k].grid[axis].evaluate(sizes),
                d.kernels[k].grid[axis].evaluate(sizes))
          << "kernel " << k << " axis " << axis;
  EXPECT_EQ(read->kernels[1].params[1].kind, rt::ParamKind::SizeN);
  EXPECT_EQ(read->kernels[1].params[3].kind, rt::ParamKind::SizeS);
  EXPECT_EQ(read->workspaces[1].bytesPerChunkSlot, 512);
}

TEST(LaunchDescriptorText, MalformedEntriesNameTheirLine) {
  auto errorOf = [](const std::string &text) {
    rt::Expected<rt::LaunchDescriptor> read = parseLaunchDescriptor(text);
    return read.ok() ? std::string("accepted") : read.error();
  };
  EXPECT_EQ(errorOf("chunk_size 16\nworkspace u 3\n"),
            "launch descriptor line 2: expected `workspace \"name\" "
            "bytes_per_chunk_slot N`");
  EXPECT_EQ(errorOf("chunk_size 16\n  param tensor \"q\"\n"),
            "launch descriptor line 2: a param before any kernel");
  EXPECT_EQ(errorOf("chunk_size 16\nkernel \"k\" grid [chunk_slots, 4] "
                    "block_threads 128 dynamic_shared_bytes 0\n"),
            "launch descriptor line 2: expected `kernel \"name\" grid "
            "[x, y, z] block_threads N dynamic_shared_bytes N`");
  EXPECT_EQ(errorOf("chunk_size 16\nkernel \"k\" grid [1, 1, 1] "
                    "block_threads 128 dynamic_shared_bytes 0\n"
                    "  param size \"H\"\n"),
            "launch descriptor line 3: size \"H\" is not T, N, B, S or "
            "chunk_slots");
  EXPECT_EQ(errorOf("chunk_size 16\nkernels 3\n"),
            "launch descriptor line 2: unknown entry 'kernels'");
  EXPECT_EQ(errorOf("workspace \"u\" bytes_per_chunk_slot 4\n"),
            "launch descriptor: no chunk_size line");
  EXPECT_EQ(errorOf("chunk_size 99999999999999999999\n"),
            "launch descriptor line 1: expected one `chunk_size <positive "
            "integer>`");
}

KernelSpec smallSpec() {
  KernelSpec spec;
  spec.H = spec.HV = 2;
  spec.K = spec.V = 32;
  return spec;
}

TEST(LaunchArgs, ShapesBeyondAnyKdaRankAreRefused) {
  KdaLaunchArgs a;
  a.q = {0x1000, TensorDType::BF16, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
  rt::Expected<rt::RuntimeSizes> sizes = checkLaunchArgs(smallSpec(), 16, a);
  ASSERT_FALSE(sizes.ok());
  EXPECT_EQ(sizes.error(), "kdac launch: q must be a [B, T, H, K] device tensor");
  EXPECT_EQ(shapeString(a.q.shape), "[1, 2, 3, 4, 5, 6, 7, 8, ...]");
}

TEST(KernelSet, LoadRefusesADescriptorItCannotBind) {
  rt::LaunchDescriptor d = sampleDescriptor();
  rt::Expected<std::shared_ptr<KernelSet>> set =
      KernelSet::load(smallSpec(), d, {nullptr, nullptr, nullptr});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error(), "kdac launch: the launch descriptor has 2 kernels, 3 "
                         "images were given (one per kernel, or one for all)");
  d.kernels[0].params.push_back({rt::ParamKind::Tensor, "h0"});
  set = KernelSet::load(smallSpec(), d, {nullptr, nullptr});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error(), "kdac launch: kernel kda_chunk_prep takes tensor "
                         "'h0', which is not a KDA tensor");
  d = sampleDescriptor();
  d.kernels[1].params.push_back({rt::ParamKind::Workspace, "kg"});
  set = KernelSet::load(smallSpec(), d, {nullptr, nullptr});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error(), "kdac launch: kernel kda_chunk_recurrence takes "
                         "workspace 'kg', which the launch does not declare");
}

} // namespace
