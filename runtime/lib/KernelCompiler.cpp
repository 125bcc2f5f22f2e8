//===- KernelCompiler.cpp - NVRTC behind the cubin cache ------------------===//
//
// Two threads missing on the same key both compile; the second store simply
// replaces the first with identical bytes. That wastes a compile in a rare
// race but needs no cross-process lock.
//
//===----------------------------------------------------------------------===//
#include "kdac/runtime/KernelCompiler.h"

#include "kdac/runtime/DeviceLibrary.h"
#include "kdac/runtime/Sha256.h"

#include <chrono>
#include <cstdio>

namespace kdac::rt {

namespace {
double millisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - start)
      .count();
}
} // namespace

std::string computeCacheKey(const CompileRequest &request,
                            const std::vector<std::string> &resolvedOptions,
                            const NvrtcVersion &nvrtcVersion) {
  Sha256 hasher;
  // Bump the tag whenever what a key covers changes.
  hasher.updateField("kdac-cubin-key-v1");
  hasher.updateField(nvrtcVersion.toString());
  hasher.updateField(request.arch);
  hasher.updateField(request.programName);
  hasher.updateField(request.source);
  hasher.updateField(std::to_string(resolvedOptions.size()));
  for (const std::string &option : resolvedOptions)
    hasher.updateField(option);
  auto hashHeaders = [&](const HeaderList &headers) {
    hasher.updateField(std::to_string(headers.size()));
    for (const auto &[name, text] : headers) {
      hasher.updateField(name);
      hasher.updateField(text);
    }
  };
  hashHeaders(request.headers);
  hashHeaders(request.includeDeviceLibrary ? deviceLibraryHeaders()
                                           : HeaderList{});
  return Sha256::toHex(hasher.finish());
}

KernelCompiler::KernelCompiler(KernelCompilerOptions options)
    : cache_(options.useDiskCache ? (options.cacheDirectory.empty()
                                         ? CubinCache::defaultDirectory()
                                         : options.cacheDirectory)
                                  : std::string()) {}

Expected<std::string>
KernelCompiler::cacheKey(const CompileRequest &request) const {
  Expected<const Nvrtc *> nvrtc = Nvrtc::load();
  if (!nvrtc)
    return makeError(nvrtc.error());
  return computeCacheKey(request, (*nvrtc)->buildOptions(request),
                         (*nvrtc)->version());
}

Expected<CompiledKernel> KernelCompiler::getCubin(
    const std::string &source, const std::string &programName,
    const std::string &arch, const std::vector<std::string> &extraOptions) {
  CompileRequest request;
  request.source = source;
  request.programName = programName;
  request.arch = arch;
  request.extraOptions = extraOptions;
  return getCubin(request);
}

Expected<CompiledKernel>
KernelCompiler::getCubin(const CompileRequest &request) {
  auto start = std::chrono::steady_clock::now();
  Expected<const Nvrtc *> nvrtc = Nvrtc::load();
  if (!nvrtc)
    return makeError(nvrtc.error());
  Expected<bool> isReal = parseArchIsReal(request.arch);
  if (!isReal)
    return makeError(isReal.error());

  CompiledKernel kernel;
  kernel.key = computeCacheKey(request, (*nvrtc)->buildOptions(request),
                               (*nvrtc)->version());
  std::optional<CubinCache::Hit> hit = cache_.lookup(kernel.key);
  double lookupMilliseconds = millisecondsSince(start);
  if (hit) {
    kernel.image = hit->image;
    kernel.source = hit->source;
    kernel.milliseconds = lookupMilliseconds;
    std::lock_guard<std::mutex> lock(statsMutex_);
    stats_.lookupMilliseconds += lookupMilliseconds;
    return kernel;
  }

  Expected<CompileOutput> output = (*nvrtc)->compile(request);
  {
    std::lock_guard<std::mutex> lock(statsMutex_);
    stats_.lookupMilliseconds += lookupMilliseconds;
    if (!output) {
      ++stats_.compileFailures;
    } else {
      ++stats_.compiles;
      stats_.compileMilliseconds += output->compileMilliseconds;
    }
  }
  if (!output)
    return makeError(output.error());

  std::vector<char> image;
  if (*isReal) {
    image = std::move(output->cubin);
  } else {
    // PTX for the driver's JIT must be NUL-terminated.
    image.assign(output->ptx.begin(), output->ptx.end());
    image.push_back('\0');
  }
  kernel.image = std::make_shared<const std::vector<char>>(std::move(image));
  kernel.source = CacheSource::Compiled;
  // A cache that cannot be written (read-only home, full disk) costs a
  // recompile next time, not a failure now.
  if (Status status = cache_.store(kernel.key, kernel.image); !status)
    std::fprintf(stderr, "kdac runtime: warning: cubin cache: %s\n",
                 status.error().c_str());
  kernel.milliseconds = millisecondsSince(start);
  return kernel;
}

KernelCompilerStats KernelCompiler::stats() const {
  KernelCompilerStats stats;
  {
    std::lock_guard<std::mutex> lock(statsMutex_);
    stats = stats_;
  }
  stats.cache = cache_.stats();
  return stats;
}

} // namespace kdac::rt
