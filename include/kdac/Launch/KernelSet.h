//===- KernelSet.h - Load and launch compiled KDA kernels, without LLVM -*- C++ -*-===//
//
// The launch-only half of kdac's host library (KDACLaunch): a kernel set is
// the compiled kernels of one spec (CUBIN or PTX images) and their launch
// descriptor, loaded on the current CUDA context. It checks every launch's
// tensors against the spec, takes the caller's stream and (optionally) the
// caller's workspaces, allocates nothing per launch and links no LLVM or
// MLIR: a deployment that ships `kdac --emit=cubin` output and the
// descriptor text (`kdac --emit=launch-descriptor`) needs only this
// library, the CUDA driver and libstdc++.
//
//   auto launch = kdac::parseLaunchDescriptor(descriptorText);
//   auto set = kdac::KernelSet::load(spec, *launch, {cubinImage});
//   std::vector<size_t> bytes = *(*set)->workspaceBytes(args);
//   rt::Status s = (*set)->launch(stream, args, workspaces.data(),
//                                 bytes.data(), bytes.size());
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_LAUNCH_KERNELSET_H
#define KDAC_LAUNCH_KERNELSET_H

#include "kdac/Launch/LaunchArgs.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kdac {

class KernelSet {
public:
  /// Loads one image per kernel of `launch` (in its order), or one image
  /// holding every kernel (what `kdac --emit=cubin` writes), on the current
  /// context; binds every kernel parameter to its tensor, workspace or size
  /// once, so a launch looks nothing up by name.
  static rt::Expected<std::shared_ptr<KernelSet>>
  load(const KernelSpec &spec, rt::LaunchDescriptor launch,
       const std::vector<const void *> &images);

  const KernelSpec &spec() const { return spec_; }
  const rt::LaunchDescriptor &launchDescriptor() const { return launch_; }

  /// The bytes each workspace (in launchDescriptor().workspaces order) needs
  /// for a launch with `args`, after the same checks as launch().
  rt::Expected<std::vector<size_t>> workspaceBytes(const KdaLaunchArgs &args) const;

  /// Checks `args` against the spec, then enqueues the kernels on `stream`
  /// with workspaces this object owns, grown to the largest problem seen
  /// (so it must not run on two streams at once).
  rt::Status launch(rt::StreamHandle stream, const KdaLaunchArgs &args);

  /// As launch(), on `count` workspaces the caller owns, one per
  /// launchDescriptor().workspaces entry, each at least workspaceBytes(args).
  /// Keeps no state: it may run on several streams at once and inside a
  /// CUDA graph capture.
  rt::Status launch(rt::StreamHandle stream, const KdaLaunchArgs &args,
                    const rt::DevicePtr *workspaces,
                    const size_t *workspaceSizes, size_t count);

private:
  KernelSet() = default;
  rt::Status bindParameters();
  rt::Status enqueue(rt::StreamHandle stream, const KdaLaunchArgs &args,
                     const rt::RuntimeSizes &sizes,
                     const rt::DevicePtr *workspaces);

  /// A kernel parameter resolved by bindParameters().
  struct ParamBinding {
    rt::ParamKind kind;
    unsigned index = 0; ///< the tensor slot or the workspace index
  };

  KernelSpec spec_;
  rt::LaunchDescriptor launch_;
  std::vector<std::vector<ParamBinding>> bindings_; ///< per kernel
  std::vector<rt::Module> modules_;                ///< one per kernel
  std::vector<rt::Function> functions_;            ///< in launch order
  std::vector<rt::DeviceBuffer> workspaces_;       ///< launch_.workspaces' order
  std::mutex mutex_;
};

/// The launch descriptor's text form (what `kdac --emit=cuda` prints at the
/// top of the source and `kdac-translate --kdk-to-launch-descriptor` prints),
/// and its reader, so compiled kernels can be shipped as files.
std::string printLaunchDescriptor(const rt::LaunchDescriptor &launch);
rt::Expected<rt::LaunchDescriptor> parseLaunchDescriptor(const std::string &text);

} // namespace kdac

#endif // KDAC_LAUNCH_KERNELSET_H
