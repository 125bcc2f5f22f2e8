//===- Jit.cpp - Generate, compile, cache and load KDA kernels ------------===//
//
// Jit::get: spec -> CUDA (Codegen) -> cubin (NVRTC through the cache) ->
// a loaded KernelSet, memoised per spec; KdaKernel's launches forward to it.
//
//===----------------------------------------------------------------------===//
#include "kdac/Jit/Jit.h"

#include "kdac/Jit/Codegen.h"

#include <chrono>
#include <cstdlib>
#include <future>
#include <sstream>

namespace kdac {

namespace {
double millisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - start)
      .count();
}

llvm::Error fromStatus(const std::string &what, const std::string &message) {
  return llvm::createStringError(what + ": " + message);
}
} // namespace

std::string specKey(const KernelSpec &spec,
                    const ChunkedPipelineOptions &options) {
  return specFieldsKey(kernelSpecFor(spec)) + " | " + optionsKey(options);
}

Jit::Jit(JitOptions options)
    : options_(std::move(options)),
      compiler_(rt::KernelCompilerOptions{options_.cacheDirectory,
                                          options_.useDiskCache}) {
  std::string path = options_.tuningDatabase;
  if (path.empty())
    if (const char *env = std::getenv("KDAC_TUNING_DB"))
      path = env;
  if (path.empty())
    return;
  llvm::Expected<TuningDatabase> db = TuningDatabase::load(path);
  if (db)
    tuning_ = std::make_unique<TuningDatabase>(std::move(*db));
  else
    tuningError_ = llvm::toString(db.takeError());
}

ChunkedPipelineOptions Jit::configurationFor(const KernelSpec &spec,
                                             int64_t typicalT,
                                             std::string *why) const {
  return chooseOptions(spec, typicalT, options_.pipeline, tuning_.get(), why);
}

llvm::Expected<std::shared_ptr<KdaKernel>> Jit::get(const KernelSpec &spec,
                                                     int64_t typicalT) {
  if (!tuningError_.empty())
    return llvm::createStringError("kdac JIT: tuning database: " +
                                   tuningError_);
  std::string why;
  ChunkedPipelineOptions pipeline = configurationFor(spec, typicalT, &why);
  std::string key = specKey(spec, pipeline);
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = kernels_.find(key); it != kernels_.end())
    return it->second;

  // The device first: without a driver there is nothing to compile for.
  rt::Expected<rt::Device> device = rt::Device::open(options_.device);
  if (!device)
    return fromStatus("kdac JIT", device.error());
  if (rt::Status s = device->makeCurrent(); !s)
    return fromStatus("kdac JIT", s.error());

  std::shared_ptr<KdaKernel> kernel(new KdaKernel());
  kernel->configuration_ = describe(pipeline) + " (" + why + ")";

  auto start = std::chrono::steady_clock::now();
  llvm::Expected<EmittedCuda> emitted = generateCuda(spec, pipeline);
  if (!emitted)
    return emitted.takeError();
  kernel->timings_.generateMilliseconds = millisecondsSince(start);
  kernel->source_ = std::move(emitted->source);

  // One NVRTC program per kernel, compiled concurrently: a cold start costs
  // the slowest kernel's compile instead of their sum.
  start = std::chrono::steady_clock::now();
  const std::vector<std::string> &sources = emitted->kernelSources;
  std::vector<std::future<rt::Expected<rt::CompiledKernel>>> pending;
  for (size_t i = 0; i < sources.size(); ++i) {
    rt::CompileRequest request;
    request.source = sources[i];
    request.programName = "kdac_" + emitted->launch.kernels[i].name + ".cu";
    request.arch = spec.arch;
    pending.push_back(std::async(std::launch::async, [this, request] {
      return compiler_.getCubin(request);
    }));
  }
  std::vector<rt::CompiledKernel> compiled;
  for (auto &future : pending) {
    rt::Expected<rt::CompiledKernel> one = future.get();
    if (!one)
      return fromStatus("kdac JIT: compiling the generated CUDA",
                        one.error());
    compiled.push_back(std::move(*one));
  }
  kernel->timings_.compileMilliseconds = millisecondsSince(start);
  // Compiled if any kernel was, else the slowest cache level that served.
  kernel->timings_.source = rt::CacheSource::Memory;
  for (const rt::CompiledKernel &one : compiled)
    kernel->timings_.source = std::max(kernel->timings_.source, one.source);

  start = std::chrono::steady_clock::now();
  std::vector<const void *> images;
  for (const rt::CompiledKernel &one : compiled)
    images.push_back(one.image->data());
  rt::Expected<std::shared_ptr<KernelSet>> set =
      KernelSet::load(kernelSpecFor(spec), std::move(emitted->launch), images);
  if (!set)
    return fromStatus("kdac JIT", set.error());
  kernel->set_ = std::move(*set);
  kernel->timings_.loadMilliseconds = millisecondsSince(start);
  kernels_[key] = kernel;
  return kernel;
}

llvm::Error KdaKernel::launch(rt::StreamHandle stream,
                              const KdaLaunchArgs &args) {
  rt::Status s = set_->launch(stream, args);
  return s ? llvm::Error::success() : llvm::createStringError(s.error());
}

llvm::Expected<std::vector<size_t>>
KdaKernel::workspaceBytes(const KdaLaunchArgs &args) const {
  rt::Expected<std::vector<size_t>> bytes = set_->workspaceBytes(args);
  if (!bytes)
    return llvm::createStringError(bytes.error());
  return std::move(*bytes);
}

llvm::Error KdaKernel::launch(rt::StreamHandle stream,
                              const KdaLaunchArgs &args,
                              llvm::ArrayRef<rt::DevicePtr> workspaces,
                              llvm::ArrayRef<size_t> workspaceSizes) {
  if (workspaces.size() != workspaceSizes.size())
    return llvm::createStringError(
        "kdac launch: " + std::to_string(workspaces.size()) +
        " workspaces but " + std::to_string(workspaceSizes.size()) + " sizes");
  rt::Status s = set_->launch(stream, args, workspaces.data(),
                              workspaceSizes.data(), workspaces.size());
  return s ? llvm::Error::success() : llvm::createStringError(s.error());
}

} // namespace kdac
