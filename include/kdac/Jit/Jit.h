//===- Jit.h - Generate, compile, cache, load and launch KDA kernels -*- C++ -*-===//
//
// The host C++ API: a Jit turns a KernelSpec into a loaded kernel set
// (compiler -> CUDA -> NVRTC -> cubin cache -> module), and a KdaKernel
// launches it on device pointers after checking every argument against the
// spec. One kernel serves every batch size and sequence length. The loading
// and launching are the launch-only library's (kdac/Launch/KernelSet.h, no
// LLVM); this library adds the compiler.
//
//   kdac::Jit jit;                                   // NVRTC + disk cache
//   auto kernel = jit.get(spec);                     // Expected<shared_ptr>
//   kdac::KdaLaunchArgs args;                        // device tensors
//   args.q = {qPtr, kdac::TensorDType::BF16, {B, T, H, K}}; ...
//   if (llvm::Error e = (*kernel)->launch(stream, args)) ...
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_JIT_JIT_H
#define KDAC_JIT_JIT_H

#include "kdac/Launch/KernelSet.h"
#include "kdac/Pipelines/Pipelines.h"
#include "kdac/Spec/KernelSpec.h"
#include "kdac/Support/Safetensors.h"
#include "kdac/Tune/TuningDatabase.h"
#include "kdac/runtime/CudaDriver.h"
#include "kdac/runtime/KernelCompiler.h"
#include "kdac/runtime/LaunchDescriptor.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kdac {

struct JitOptions {
  /// Empty: $KDAC_CACHE_DIR, else $XDG_CACHE_HOME/kdac, else ~/.cache/kdac.
  std::string cacheDirectory;
  bool useDiskCache = true;
  /// The compiler's choices (chunk size, UT method, tiling, threads).
  ChunkedPipelineOptions pipeline;
  int device = 0;
  /// A tuning database (kdac tune) to take configurations from; empty:
  /// $KDAC_TUNING_DB if set. Entries override `pipeline` for their spec.
  std::string tuningDatabase;
};

/// Where a kernel's time went the first time it was requested.
struct KernelTimings {
  double generateMilliseconds = 0; ///< IR, passes and CUDA emission
  double compileMilliseconds = 0;  ///< NVRTC, or the cache lookup on a hit
  double loadMilliseconds = 0;     ///< module load and function lookup
  rt::CacheSource source = rt::CacheSource::Compiled;
};

/// A kernel set the JIT generated and loaded (KernelSet, the launch-only
/// library's), with how it was made and llvm::Error-returning launches.
class KdaKernel {
public:
  const KernelSpec &spec() const { return set_->spec(); }
  const std::string &source() const { return source_; }
  const rt::LaunchDescriptor &launchDescriptor() const {
    return set_->launchDescriptor();
  }
  const KernelTimings &timings() const { return timings_; }
  /// Where the compilation choices came from (defaults or tuning database).
  const std::string &configuration() const { return configuration_; }
  /// The loaded kernels themselves.
  KernelSet &kernelSet() const { return *set_; }

  /// Checks `args` against the spec (presence, dtype and shape of every
  /// tensor), then enqueues the kernels on `stream`. Workspace buffers are
  /// owned by this object and grow to the largest problem seen, so one
  /// KdaKernel must not be launched on two streams at once.
  llvm::Error launch(rt::StreamHandle stream, const KdaLaunchArgs &args);

  /// The bytes each workspace (in launchDescriptor().workspaces order) needs
  /// for a launch with `args`, after the same checks as launch().
  llvm::Expected<std::vector<size_t>>
  workspaceBytes(const KdaLaunchArgs &args) const;

  /// As launch(), on workspaces the caller owns (a framework's caching
  /// allocator): one pointer and its size per launchDescriptor().workspaces
  /// entry, each at least workspaceBytes(args). Keeps no state, so it may run
  /// on several streams at once and inside a CUDA graph capture.
  llvm::Error launch(rt::StreamHandle stream, const KdaLaunchArgs &args,
                     llvm::ArrayRef<rt::DevicePtr> workspaces,
                     llvm::ArrayRef<size_t> workspaceSizes);

private:
  friend class Jit;
  KdaKernel() = default;

  std::shared_ptr<KernelSet> set_;
  std::string source_;
  KernelTimings timings_;
  std::string configuration_;
};

class Jit {
public:
  /// Reads the tuning database if one is named; a database that does not
  /// parse is reported by every get() rather than silently ignored.
  explicit Jit(JitOptions options = {});

  /// Generates, compiles (or finds in the cache) and loads the kernels for
  /// `spec`, configured for sequences of about `typicalT` tokens (the tuning
  /// database's nearest bucket); repeated calls return the same object.
  llvm::Expected<std::shared_ptr<KdaKernel>> get(const KernelSpec &spec,
                                                 int64_t typicalT = 8192);

  /// The configuration get() would use, and why (defaults or database).
  ChunkedPipelineOptions configurationFor(const KernelSpec &spec,
                                          int64_t typicalT,
                                          std::string *why = nullptr) const;

  const JitOptions &options() const { return options_; }
  rt::KernelCompilerStats compilerStats() const { return compiler_.stats(); }

private:
  JitOptions options_;
  std::unique_ptr<TuningDatabase> tuning_;
  std::string tuningError_;
  rt::KernelCompiler compiler_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<KdaKernel>> kernels_;
};

/// A stable text key of everything in a spec that changes generated code.
std::string specKey(const KernelSpec &spec,
                    const ChunkedPipelineOptions &options);

} // namespace kdac

#endif // KDAC_JIT_JIT_H
