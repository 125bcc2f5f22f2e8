//===- KernelCompilerTest.cpp - NVRTC behind the cubin cache --------------===//
//
// The cache key must change with anything that changes the compiled image,
// and the compiler must recompile rather than return a damaged disk entry.
//
//===----------------------------------------------------------------------===//
#include "kdac/runtime/KernelCompiler.h"

#include "RuntimeTestSupport.h"

#include <gtest/gtest.h>

#include <fstream>

using namespace kdac::rt;
using kdac::rt::test::TemporaryDirectory;

namespace {

const char *kTinyKernel = R"cuda(
#include "kdac/kdac_math.cuh"
extern "C" __global__ void tiny(float *out) {
  out[threadIdx.x] = kdac::warpReduceSum(float(threadIdx.x));
}
)cuda";

CompileRequest baseRequest() {
  CompileRequest request;
  request.source = kTinyKernel;
  request.programName = "tiny.cu";
  request.arch = "sm_90a";
  request.extraOptions = {"-DKDAC_TEST=1"};
  return request;
}

std::string keyOf(const CompileRequest &request,
                  NvrtcVersion version = {13, 0}) {
  return computeCacheKey(request, request.extraOptions, version);
}

bool isElf(const KernelImage &image) {
  return image && image->size() > 4 && (*image)[0] == 0x7f &&
         (*image)[1] == 'E';
}

} // namespace

TEST(KernelCompiler, KeyIsHexSha256AndDeterministic) {
  std::string key = keyOf(baseRequest());
  EXPECT_TRUE(CubinCache::isValidKey(key)) << key;
  EXPECT_EQ(key, keyOf(baseRequest()));
}

TEST(KernelCompiler, KeyChangesWithEveryInput) {
  std::string base = keyOf(baseRequest());
  auto expectDifferent = [&](const CompileRequest &request, const char *what,
                             NvrtcVersion version = {13, 0}) {
    EXPECT_NE(keyOf(request, version), base) << what;
  };
  CompileRequest request = baseRequest();
  request.source += " ";
  expectDifferent(request, "source");
  request = baseRequest();
  request.extraOptions = {"-DKDAC_TEST=2"};
  expectDifferent(request, "options");
  request = baseRequest();
  request.extraOptions.push_back("-lineinfo");
  expectDifferent(request, "an added option");
  request = baseRequest();
  request.arch = "sm_80";
  expectDifferent(request, "arch");
  request = baseRequest();
  request.programName = "other.cu";
  expectDifferent(request, "program name");
  request = baseRequest();
  request.headers = {{"extra.cuh", "#define X 1\n"}};
  expectDifferent(request, "an extra header");
  request = baseRequest();
  request.includeDeviceLibrary = false;
  expectDifferent(request, "the device library");
  expectDifferent(baseRequest(), "NVRTC version", NvrtcVersion{13, 1});
  expectDifferent(baseRequest(), "NVRTC version", NvrtcVersion{12, 9});
}

TEST(KernelCompiler, KeyCoversTheResolvedOptions) {
  Expected<const Nvrtc *> nvrtc = Nvrtc::load();
  ASSERT_TRUE(nvrtc.ok()) << nvrtc.error();
  KernelCompiler compiler({"", false});
  CompileRequest request = baseRequest();
  Expected<std::string> withPath = compiler.cacheKey(request);
  request.addCudaIncludePath = false;
  Expected<std::string> withoutPath = compiler.cacheKey(request);
  ASSERT_TRUE(withPath.ok() && withoutPath.ok());
  EXPECT_NE(*withPath, *withoutPath);
}

TEST(KernelCompiler, CompilesOnceThenHitsMemoryThenDisk) {
  TemporaryDirectory dir;
  KernelCompiler compiler({dir.path(), true});
  Expected<CompiledKernel> first =
      compiler.getCubin(kTinyKernel, "tiny.cu", "sm_90a");
  ASSERT_TRUE(first.ok()) << first.error();
  EXPECT_EQ(first->source, CacheSource::Compiled);
  EXPECT_TRUE(isElf(first->image));
  EXPECT_GT(first->milliseconds, 0.0);

  Expected<CompiledKernel> second =
      compiler.getCubin(kTinyKernel, "tiny.cu", "sm_90a");
  ASSERT_TRUE(second.ok()) << second.error();
  EXPECT_EQ(second->source, CacheSource::Memory);
  EXPECT_EQ(second->key, first->key);
  EXPECT_EQ(second->image, first->image) << "a memory hit shares the image";

  KernelCompilerStats stats = compiler.stats();
  EXPECT_EQ(stats.compiles, 1u);
  EXPECT_EQ(stats.cache.memoryHits, 1u);
  EXPECT_EQ(stats.cache.misses, 1u);
  EXPECT_EQ(stats.cache.stores, 1u);
  EXPECT_GT(stats.compileMilliseconds, 0.0);

  KernelCompiler fresh({dir.path(), true});
  Expected<CompiledKernel> fromDisk =
      fresh.getCubin(kTinyKernel, "tiny.cu", "sm_90a");
  ASSERT_TRUE(fromDisk.ok()) << fromDisk.error();
  EXPECT_EQ(fromDisk->source, CacheSource::Disk);
  EXPECT_EQ(*fromDisk->image, *first->image);
  EXPECT_EQ(fresh.stats().compiles, 0u);
  EXPECT_EQ(fresh.stats().cache.diskHits, 1u);

  // Another arch is another entry.
  Expected<CompiledKernel> sm80 =
      fresh.getCubin(kTinyKernel, "tiny.cu", "sm_80");
  ASSERT_TRUE(sm80.ok()) << sm80.error();
  EXPECT_EQ(sm80->source, CacheSource::Compiled);
  EXPECT_NE(sm80->key, first->key);
}

TEST(KernelCompiler, CorruptedDiskEntryIsRecompiled) {
  TemporaryDirectory dir;
  Expected<CompiledKernel> original =
      KernelCompiler({dir.path(), true})
          .getCubin(kTinyKernel, "tiny.cu", "sm_90a");
  ASSERT_TRUE(original.ok()) << original.error();
  std::string path = CubinCache(dir.path()).entryPath(original->key);
  {
    // Overwrite some payload bytes in place, as a disk error would.
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(file.good());
    file.seekp(200);
    file.write("garbage!", 8);
  }
  KernelCompiler afterCorruption({dir.path(), true});
  Expected<CompiledKernel> recompiled =
      afterCorruption.getCubin(kTinyKernel, "tiny.cu", "sm_90a");
  ASSERT_TRUE(recompiled.ok()) << recompiled.error();
  EXPECT_EQ(recompiled->source, CacheSource::Compiled);
  EXPECT_EQ(*recompiled->image, *original->image);
  EXPECT_EQ(afterCorruption.stats().cache.corruptEntries, 1u);

  Expected<CompiledKernel> repaired =
      KernelCompiler({dir.path(), true})
          .getCubin(kTinyKernel, "tiny.cu", "sm_90a");
  ASSERT_TRUE(repaired.ok()) << repaired.error();
  EXPECT_EQ(repaired->source, CacheSource::Disk);
}

TEST(KernelCompiler, MemoryOnlyWritesNoFiles) {
  TemporaryDirectory dir;
  KernelCompiler compiler({dir.path(), false});
  EXPECT_TRUE(compiler.cacheDirectory().empty());
  ASSERT_TRUE(compiler.getCubin(kTinyKernel, "tiny.cu", "sm_80").ok());
  EXPECT_TRUE(TemporaryDirectory::list(dir.path()).empty());
}

TEST(KernelCompiler, VirtualArchYieldsNulTerminatedPtx) {
  KernelCompiler compiler({"", false});
  Expected<CompiledKernel> kernel =
      compiler.getCubin(kTinyKernel, "tiny.cu", "compute_80");
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  ASSERT_FALSE(kernel->image->empty());
  EXPECT_EQ(kernel->image->back(), '\0');
  EXPECT_TRUE(test::contains(kernel->image->data(), ".entry tiny"));
}

TEST(KernelCompiler, CompileErrorsAreReportedAndCounted) {
  KernelCompiler compiler({"", false});
  Expected<CompiledKernel> kernel = compiler.getCubin(
      "__global__ void k() { this is not C++ }", "bad.cu", "sm_90a");
  ASSERT_FALSE(kernel.ok());
  EXPECT_TRUE(test::contains(kernel.error(), "bad.cu(1)")) << kernel.error();
  EXPECT_EQ(compiler.stats().compileFailures, 1u);
  EXPECT_FALSE(compiler.getCubin(kTinyKernel, "tiny.cu", "sm_9x").ok());
}
