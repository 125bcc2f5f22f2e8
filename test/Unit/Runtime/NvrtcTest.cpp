//===- NvrtcTest.cpp - NVRTC wrapper and the embedded device library ------===//
//
// Runs without a GPU: NVRTC compiles to PTX and CUBIN offline. CI has the
// CUDA toolkit, so a libnvrtc that cannot be loaded is a failure, not a skip.
//
//===----------------------------------------------------------------------===//
#include "kdac/runtime/Nvrtc.h"
#include "kdac/runtime/DeviceLibrary.h"

#include "RuntimeTestSupport.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <thread>

using namespace kdac::rt;
using kdac::rt::test::contains;

namespace {

const Nvrtc &nvrtcOrDie() {
  Expected<const Nvrtc *> nvrtc = Nvrtc::load();
  if (!nvrtc) {
    ADD_FAILURE()
        << "NVRTC must be loadable where the CUDA toolkit is installed: "
        << nvrtc.error();
    std::abort();
  }
  return **nvrtc;
}

bool isElf(const std::vector<char> &image) {
  return image.size() > 4 && image[0] == 0x7f && image[1] == 'E' &&
         image[2] == 'L' && image[3] == 'F';
}

CompileRequest smokeRequest(const std::string &arch) {
  CompileRequest request;
  request.source = test::deviceLibrarySmokeKernel();
  request.programName = "smoke.cu";
  request.arch = arch;
  return request;
}

} // namespace

TEST(Nvrtc, LoadsAndReportsVersion) {
  Expected<const Nvrtc *> nvrtc = Nvrtc::load();
  ASSERT_TRUE(nvrtc.ok()) << nvrtc.error();
  EXPECT_GE((*nvrtc)->version().major, 12);
  EXPECT_FALSE((*nvrtc)->libraryPath().empty());
  const std::vector<int> &archs = (*nvrtc)->supportedArchs();
  EXPECT_NE(std::find(archs.begin(), archs.end(), 80), archs.end());
  EXPECT_NE(std::find(archs.begin(), archs.end(), 90), archs.end());
}

TEST(Nvrtc, DeviceLibraryIsEmbedded) {
  std::vector<std::string> names;
  for (const auto &[name, text] : deviceLibraryHeaders()) {
    names.push_back(name);
    EXPECT_FALSE(text.empty()) << name;
    EXPECT_TRUE(contains(text, "#ifndef KDAC_DEVICE_"))
        << name << " lacks an include guard";
  }
  for (const char *expected : {"kdac/kdac_copy.cuh", "kdac/kdac_math.cuh",
                               "kdac/kdac_mma.cuh", "kdac/kdac_types.cuh"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end())
        << expected;
}

TEST(Nvrtc, FindsCudaHeaders) {
  Expected<std::string> includeDir = findCudaIncludeDir();
  ASSERT_TRUE(includeDir.ok()) << includeDir.error();
  EXPECT_FALSE(includeDir->empty());
}

TEST(Nvrtc, DeviceLibraryCompilesToCubinForSm80AndSm90a) {
  const Nvrtc &nvrtc = nvrtcOrDie();
  for (const char *arch : {"sm_80", "sm_90a"}) {
    Expected<CompileOutput> output = nvrtc.compile(smokeRequest(arch));
    ASSERT_TRUE(output.ok()) << arch << ": " << output.error();
    EXPECT_TRUE(isElf(output->cubin)) << arch << ": CUBIN is not an ELF image";
    const std::string &ptx = output->ptx;
    EXPECT_TRUE(contains(ptx, ".target " + std::string(arch))) << arch;
    EXPECT_TRUE(
        contains(ptx, "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"))
        << arch;
    EXPECT_TRUE(
        contains(ptx, "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"))
        << arch;
    EXPECT_TRUE(contains(ptx, "ldmatrix.sync.aligned.m8n8.x4.shared.b16"))
        << arch;
    EXPECT_TRUE(contains(ptx, "ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16"))
        << arch;
    EXPECT_TRUE(contains(ptx, "cp.async.cg.shared.global")) << arch;
    EXPECT_TRUE(contains(ptx, "cp.async.wait_group 0")) << arch;
    EXPECT_TRUE(contains(ptx, "ex2.approx.ftz.f32")) << arch;
    EXPECT_TRUE(contains(ptx, "shfl.sync.bfly")) << arch;
    // Precision: --use_fast_math is not a default.
    for (const std::string &option : output->options)
      EXPECT_FALSE(contains(option, "fast_math")) << option;
  }
}

TEST(Nvrtc, ExtraHeadersAreVisibleByName) {
  const Nvrtc &nvrtc = nvrtcOrDie();
  Expected<CompileOutput> output = nvrtc.compile(
      "#include \"gen/params.h\"\n"
      "extern \"C\" __global__ void k(float *o) { o[0] = KDAC_GEN_VALUE; }\n",
      "with_headers.cu", "sm_80", {"-DUNUSED=1"},
      {{"gen/params.h", "#define KDAC_GEN_VALUE 42.0f\n"}});
  ASSERT_TRUE(output.ok()) << output.error();
  // 42.0f is stored as its bit pattern 0x42280000.
  EXPECT_TRUE(contains(output->ptx, "1109917696")) << output->ptx;
}

TEST(Nvrtc, VirtualArchGivesPtxOnly) {
  const Nvrtc &nvrtc = nvrtcOrDie();
  Expected<CompileOutput> output = nvrtc.compile(smokeRequest("compute_90a"));
  ASSERT_TRUE(output.ok()) << output.error();
  EXPECT_TRUE(output->cubin.empty());
  EXPECT_TRUE(contains(output->ptx, ".target sm_90a"));
  EXPECT_TRUE(contains(output->ptx, ".entry smoke"));
}

TEST(Nvrtc, DefaultOptions) {
  const Nvrtc &nvrtc = nvrtcOrDie();
  CompileRequest request = smokeRequest("sm_90a");
  request.extraOptions = {"-lineinfo"};
  std::vector<std::string> options = nvrtc.buildOptions(request);
  ASSERT_GE(options.size(), 4u);
  EXPECT_EQ(options[0], "-arch=sm_90a");
  EXPECT_NE(std::find(options.begin(), options.end(), "-std=c++17"),
            options.end());
  EXPECT_NE(std::find(options.begin(), options.end(), "-default-device"),
            options.end());
  EXPECT_EQ(options.back(), "-lineinfo");
  bool hasIncludePath = false;
  for (const std::string &option : options)
    hasIncludePath |= test::startsWith(option, "--include-path=");
  EXPECT_TRUE(hasIncludePath);

  request.extraOptions = {"-std=c++20"};
  options = nvrtc.buildOptions(request);
  EXPECT_EQ(std::find(options.begin(), options.end(), "-std=c++17"),
            options.end());
}

TEST(Nvrtc, SyntaxErrorCarriesTheLog) {
  const Nvrtc &nvrtc = nvrtcOrDie();
  CompileRequest request;
  request.source = "extern \"C\" __global__ void broken(float *out) {\n"
                   "  out[0] = undeclared_identifier_xyz + ;\n}\n";
  request.programName = "broken_kernel.cu";
  request.arch = "sm_90a";
  Expected<CompileOutput> output = nvrtc.compile(request);
  ASSERT_FALSE(output.ok());
  const std::string &error = output.error();
  EXPECT_TRUE(contains(error, "failed to compile broken_kernel.cu for sm_90a"))
      << error;
  EXPECT_TRUE(contains(error, "NVRTC_ERROR_COMPILATION")) << error;
  // The log itself, with file and line.
  EXPECT_TRUE(contains(error, "broken_kernel.cu(2)")) << error;
  EXPECT_TRUE(contains(error, "undeclared_identifier_xyz")) << error;
}

TEST(Nvrtc, MissingCudaHeaderIsExplained) {
  const Nvrtc &nvrtc = nvrtcOrDie();
  CompileRequest request;
  request.source = "#include <cuda_no_such_header.h>\n__global__ void k() {}\n";
  request.arch = "sm_80";
  Expected<CompileOutput> output = nvrtc.compile(request);
  ASSERT_FALSE(output.ok());
  EXPECT_TRUE(contains(output.error(), "cuda_no_such_header.h"))
      << output.error();
  EXPECT_TRUE(contains(output.error(), "note: CUDA headers")) << output.error();
}

// Records the toolkit fact the include-path default exists for: NVRTC 13
// has no builtin cuda_bf16.h. Either outcome passes; a failure must explain.
TEST(Nvrtc, Bf16HeaderNeedsTheToolkitIncludePath) {
  const Nvrtc &nvrtc = nvrtcOrDie();
  CompileRequest request;
  request.source = "#include <cuda_bf16.h>\n"
                   "extern \"C\" __global__ void k(__nv_bfloat16 *p) {"
                   " p[0] = __float2bfloat16(1.0f); }\n";
  request.arch = "sm_90a";
  request.includeDeviceLibrary = false;
  request.addCudaIncludePath = false;
  Expected<CompileOutput> withoutPath = nvrtc.compile(request);
  if (withoutPath.ok())
    std::printf("note: NVRTC %s ships a builtin cuda_bf16.h\n",
                nvrtc.version().toString().c_str());
  else
    EXPECT_TRUE(contains(withoutPath.error(), "cuda_bf16.h"))
        << withoutPath.error();

  request.addCudaIncludePath = true;
  Expected<CompileOutput> withPath = nvrtc.compile(request);
  EXPECT_TRUE(withPath.ok()) << withPath.error();
}

TEST(Nvrtc, RejectsBadArchStrings) {
  const Nvrtc &nvrtc = nvrtcOrDie();
  for (const char *arch :
       {"", "sm90", "sm_", "sm_90b", "compute_x", "gfx90a"}) {
    CompileRequest request = smokeRequest(arch);
    Expected<CompileOutput> output = nvrtc.compile(request);
    ASSERT_FALSE(output.ok()) << arch;
    EXPECT_TRUE(contains(output.error(), "invalid CUDA architecture"))
        << output.error();
  }
  Expected<CompileOutput> unsupported = nvrtc.compile(smokeRequest("sm_37"));
  ASSERT_FALSE(unsupported.ok());
  EXPECT_TRUE(contains(unsupported.error(), "does not support sm_37"))
      << unsupported.error();
}

TEST(Nvrtc, ArchParsing) {
  EXPECT_TRUE(*parseArchIsReal("sm_80"));
  EXPECT_TRUE(*parseArchIsReal("sm_90a"));
  EXPECT_TRUE(*parseArchIsReal("sm_100f"));
  EXPECT_FALSE(*parseArchIsReal("compute_90a"));
  EXPECT_FALSE(parseArchIsReal("sm_9x").ok());
}

TEST(Nvrtc, ConcurrentCompilesAgree) {
  const Nvrtc &nvrtc = nvrtcOrDie();
  std::vector<std::vector<char>> cubins(3);
  std::vector<std::string> errors(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] {
      Expected<CompileOutput> output = nvrtc.compile(smokeRequest("sm_90a"));
      if (output)
        cubins[i] = output->cubin;
      else
        errors[i] = output.error();
    });
  for (std::thread &thread : threads)
    thread.join();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(errors[i].empty()) << errors[i];
    EXPECT_EQ(cubins[i], cubins[0])
        << "NVRTC output differs between identical compiles";
  }
}
