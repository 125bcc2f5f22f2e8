//===- Jit.h - Generate, compile, cache, load and launch KDA kernels -*- C++ -*-===//
//
// The host C++ API: a Jit turns a KernelSpec into a loaded kernel set
// (compiler -> CUDA -> NVRTC -> cubin cache -> module), and a KdaKernel
// launches it on device pointers after checking every argument against the
// spec. One kernel serves every batch size and sequence length.
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

/// A tensor in device memory, as the caller describes it. An absent tensor
/// has data == 0.
struct DeviceTensor {
  rt::DevicePtr data = 0;
  TensorDType dtype = TensorDType::F32;
  /// Inline up to rank 4 (every KDA tensor), so that describing a launch
  /// allocates nothing.
  llvm::SmallVector<int64_t, 4> shape;
  bool present() const { return data != 0; }
};

/// Every tensor of DESIGN.md section 1. Shapes follow FLA; cu_seqlens is
/// int64 [N + 1] and its contents are trusted (0, non-decreasing, ends at T).
/// A decode spec with a state pool takes statePool ([P, HV, K, V] or
/// [P, HV, V, K], updated in place) and int32 stateIndices ([N], or [N, S]
/// with per-token states) and numAccepted ([N]) instead of the initial and
/// final state; index contents are trusted to be < P (negative skips).
struct KdaLaunchArgs {
  DeviceTensor q, k, v, g, beta, aLog, dtBias, initialState, cuSeqlens;
  DeviceTensor o, finalState;
  DeviceTensor statePool, stateIndices, numAccepted;
};

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

class KdaKernel {
public:
  const KernelSpec &spec() const { return spec_; }
  const std::string &source() const { return source_; }
  const rt::LaunchDescriptor &launchDescriptor() const { return launch_; }
  const KernelTimings &timings() const { return timings_; }
  /// Where the compilation choices came from (defaults or tuning database).
  const std::string &configuration() const { return configuration_; }

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
  llvm::Error enqueue(rt::StreamHandle stream, const KdaLaunchArgs &args,
                      const rt::RuntimeSizes &sizes,
                      llvm::ArrayRef<rt::DevicePtr> workspaces);

  /// Resolves every kernel parameter to a tensor slot (TensorSlot order), a
  /// workspace index or a size, once at load time: launches then look
  /// nothing up by name and allocate nothing.
  llvm::Error bindParameters();

  /// A kernel parameter resolved by bindParameters().
  struct ParamBinding {
    rt::ParamKind kind;
    unsigned index = 0; ///< the tensor slot or the workspace index
  };

  KernelSpec spec_;
  std::string source_;
  rt::LaunchDescriptor launch_;
  std::vector<std::vector<ParamBinding>> bindings_; ///< per kernel
  KernelTimings timings_;
  std::string configuration_;
  std::vector<std::shared_ptr<rt::Module>> modules_; ///< one per kernel
  std::vector<rt::Function> functions_; ///< in launch order
  std::vector<rt::DeviceBuffer> workspaces_; ///< launch_.workspaces' order
  std::mutex mutex_;
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

/// What one tensor of DESIGN.md section 1 must be for a spec and run-time
/// sizes: whether the spec uses it, its dtype and its shape (a negative
/// extent takes any positive size: a pool's slots, S).
struct TensorLayout {
  bool present = false;
  TensorDType dtype = TensorDType::F32;
  llvm::SmallVector<int64_t, 4> shape;
};

/// Every tensor's layout by name (q k v g beta A_log dt_bias initial_state
/// cu_seqlens o final_state state_pool state_indices num_accepted), for B
/// batch rows of T tokens and N sequences.
std::map<std::string, TensorLayout> tensorLayouts(const KernelSpec &spec,
                                                  int64_t B, int64_t T,
                                                  int64_t N);

/// Checks launch arguments against the spec a kernel was generated for and
/// returns the run-time sizes they describe (needs no GPU).
llvm::Expected<rt::RuntimeSizes> checkLaunchArgs(const KernelSpec &spec,
                                                 int64_t chunkSize,
                                                 const KdaLaunchArgs &args);

/// A stable text key of everything in a spec that changes generated code.
std::string specKey(const KernelSpec &spec,
                    const ChunkedPipelineOptions &options);

} // namespace kdac

#endif // KDAC_JIT_JIT_H
