//===- KernelCompiler.h - NVRTC behind the cubin cache --------------------===//
//
// The one entry point the JIT uses to turn CUDA C++ into a loadable image:
// the request is hashed into a cache key, looked up in memory and on disk,
// and compiled with NVRTC only on a miss. Statistics and timings are kept so
// that tools can report compile cost separately from kernel time.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_RUNTIME_KERNELCOMPILER_H
#define KDAC_RUNTIME_KERNELCOMPILER_H

#include "kdac/runtime/CubinCache.h"
#include "kdac/runtime/Nvrtc.h"

#include <mutex>
#include <string>
#include <vector>

namespace kdac::rt {

/// The cache key of a compile: SHA-256 over a format tag, the NVRTC version,
/// the arch, the program name, the source, every option NVRTC receives and
/// every header (device library included) by name and text.
std::string computeCacheKey(const CompileRequest &request,
                            const std::vector<std::string> &resolvedOptions,
                            const NvrtcVersion &nvrtcVersion);

struct KernelCompilerOptions {
  /// Empty: CubinCache::defaultDirectory().
  std::string cacheDirectory;
  /// False keeps compiled images in memory only.
  bool useDiskCache = true;
};

struct CompiledKernel {
  /// CUBIN for sm_XY archs, NUL-terminated PTX for compute_XY archs; either
  /// goes straight to Module::load.
  KernelImage image;
  std::string key;
  CacheSource source = CacheSource::Compiled;
  /// Time spent in getCubin for this request (lookup plus any compile).
  double milliseconds = 0;
};

struct KernelCompilerStats {
  CubinCacheStats cache;
  uint64_t compiles = 0;
  uint64_t compileFailures = 0;
  double compileMilliseconds = 0;
  double lookupMilliseconds = 0;
};

class KernelCompiler {
public:
  explicit KernelCompiler(KernelCompilerOptions options = {});

  Expected<CompiledKernel>
  getCubin(const std::string &source, const std::string &programName,
           const std::string &arch,
           const std::vector<std::string> &extraOptions = {});
  Expected<CompiledKernel> getCubin(const CompileRequest &request);

  /// The key getCubin would use (loads NVRTC for its version).
  Expected<std::string> cacheKey(const CompileRequest &request) const;

  KernelCompilerStats stats() const;
  const std::string &cacheDirectory() const { return cache_.directory(); }

private:
  CubinCache cache_;
  mutable std::mutex statsMutex_;
  KernelCompilerStats stats_;
};

} // namespace kdac::rt

#endif // KDAC_RUNTIME_KERNELCOMPILER_H
