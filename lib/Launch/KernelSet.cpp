//===- KernelSet.cpp - Load and launch compiled KDA kernels ---------------===//
//
// Loading binds each kernel parameter to a tensor slot, a workspace or a
// size once; a launch checks the tensors, sizes the workspaces and enqueues
// the kernels in the descriptor's order with parameter values on the stack.
//
//===----------------------------------------------------------------------===//
#include "kdac/Launch/KernelSet.h"

#include "TensorSlots.h"

#include "kdac/Spec/Limits.h"

#include <algorithm>

namespace kdac {

using namespace launch;

namespace {

/// Parameters one kernel may take; the launch keeps their values on the
/// stack.
constexpr size_t kMaxKernelParams = 64;

/// Kernels whose dynamic shared memory needs the opt-in attribute.
constexpr int64_t kDefaultSharedMemoryBytes = 48 * 1024;

size_t workspaceSize(const rt::Workspace &ws, const rt::RuntimeSizes &sizes) {
  return static_cast<size_t>(ws.bytesPerChunkSlot) *
         static_cast<size_t>(std::max<int64_t>(sizes.chunkSlots, 1));
}

} // namespace

rt::Expected<std::shared_ptr<KernelSet>>
KernelSet::load(const KernelSpec &spec, rt::LaunchDescriptor launch,
                const std::vector<const void *> &images) {
  if (images.size() != launch.kernels.size() && images.size() != 1)
    return argError("the launch descriptor has " +
                    std::to_string(launch.kernels.size()) + " kernels, " +
                    std::to_string(images.size()) +
                    " images were given (one per kernel, or one for all)");
  std::shared_ptr<KernelSet> set(new KernelSet());
  set->spec_ = spec;
  set->launch_ = std::move(launch);
  if (rt::Status s = set->bindParameters(); !s)
    return s;
  set->modules_.reserve(images.size());
  for (size_t i = 0; i < set->launch_.kernels.size(); ++i) {
    const rt::KernelLaunch &kernel = set->launch_.kernels[i];
    if (i < images.size()) {
      rt::Expected<rt::Module> module = rt::Module::load(images[i]);
      if (!module)
        return std::move(module)
            .withContext("loading the module of " + kernel.name)
            .status();
      set->modules_.push_back(std::move(*module));
    }
    rt::Expected<rt::Function> function =
        set->modules_.back().function(kernel.name);
    if (!function)
      return function.status();
    if (kernel.dynamicSharedBytes > kDefaultSharedMemoryBytes)
      if (rt::Status s = function->setMaxDynamicSharedMemory(
              static_cast<int>(kernel.dynamicSharedBytes));
          !s)
        return std::move(s).withContext(
            "kernel " + kernel.name + " needs " +
            std::to_string(kernel.dynamicSharedBytes) +
            " bytes of shared memory");
    set->functions_.push_back(*function);
  }
  return set;
}

rt::Status KernelSet::bindParameters() {
  bindings_.clear();
  for (const rt::KernelLaunch &kernel : launch_.kernels) {
    if (kernel.params.size() > kMaxKernelParams)
      return argError("kernel " + kernel.name + " has " +
                      std::to_string(kernel.params.size()) +
                      " parameters, more than the launcher's " +
                      std::to_string(kMaxKernelParams));
    std::vector<ParamBinding> &bound = bindings_.emplace_back();
    for (const rt::KernelParam &param : kernel.params) {
      ParamBinding binding{param.kind, 0};
      if (param.kind == rt::ParamKind::Tensor) {
        const char *const *found = std::find_if(
            std::begin(kTensorNames), std::end(kTensorNames),
            [&](const char *name) { return param.name == name; });
        if (found == std::end(kTensorNames))
          return argError("kernel " + kernel.name + " takes tensor '" +
                          param.name + "', which is not a KDA tensor");
        binding.index = unsigned(found - std::begin(kTensorNames));
      } else if (param.kind == rt::ParamKind::Workspace) {
        auto found = std::find_if(launch_.workspaces.begin(),
                                  launch_.workspaces.end(),
                                  [&](const rt::Workspace &ws) {
                                    return ws.name == param.name;
                                  });
        if (found == launch_.workspaces.end())
          return argError("kernel " + kernel.name + " takes workspace '" +
                          param.name + "', which the launch does not declare");
        binding.index = unsigned(found - launch_.workspaces.begin());
      }
      bound.push_back(binding);
    }
  }
  return rt::Status::success();
}

rt::Expected<std::vector<size_t>>
KernelSet::workspaceBytes(const KdaLaunchArgs &args) const {
  rt::Expected<rt::RuntimeSizes> sizes =
      checkLaunchArgs(spec_, launch_.chunkSize, args);
  if (!sizes)
    return sizes.status();
  std::vector<size_t> bytes;
  for (const rt::Workspace &ws : launch_.workspaces)
    bytes.push_back(workspaceSize(ws, *sizes));
  return bytes;
}

rt::Status KernelSet::launch(rt::StreamHandle stream,
                             const KdaLaunchArgs &args) {
  rt::Expected<rt::RuntimeSizes> sizes =
      checkLaunchArgs(spec_, launch_.chunkSize, args);
  if (!sizes)
    return sizes.status();
  std::lock_guard<std::mutex> lock(mutex_);
  rt::DevicePtr pointers[kMaxKernelParams];
  if (launch_.workspaces.size() > kMaxKernelParams)
    return argError("more workspaces than the launcher's " +
                    std::to_string(kMaxKernelParams));
  for (size_t i = 0; i < launch_.workspaces.size(); ++i) {
    const rt::Workspace &ws = launch_.workspaces[i];
    size_t bytes = workspaceSize(ws, *sizes);
    if (workspaces_.size() <= i || workspaces_[i].size() < bytes) {
      rt::Expected<rt::DeviceBuffer> buffer =
          rt::DeviceBuffer::allocate(bytes);
      if (!buffer)
        return argError("allocating workspace '" + ws.name + "' (" +
                        std::to_string(bytes) + " bytes): " + buffer.error());
      if (workspaces_.size() <= i)
        workspaces_.push_back(std::move(*buffer));
      else
        workspaces_[i] = std::move(*buffer);
    }
    pointers[i] = workspaces_[i].get();
  }
  return enqueue(stream, args, *sizes, pointers);
}

rt::Status KernelSet::launch(rt::StreamHandle stream, const KdaLaunchArgs &args,
                             const rt::DevicePtr *workspaces,
                             const size_t *workspaceSizes, size_t count) {
  rt::Expected<rt::RuntimeSizes> sizes =
      checkLaunchArgs(spec_, launch_.chunkSize, args);
  if (!sizes)
    return sizes.status();
  if (count != launch_.workspaces.size())
    return argError("the kernel needs " +
                    std::to_string(launch_.workspaces.size()) +
                    " workspaces, " + std::to_string(count) + " were passed");
  for (size_t i = 0; i < count; ++i) {
    size_t bytes = workspaceSize(launch_.workspaces[i], *sizes);
    if (!workspaces[i] || workspaceSizes[i] < bytes)
      return argError("workspace '" + launch_.workspaces[i].name + "' has " +
                      std::to_string(workspaceSizes[i]) +
                      " bytes, the launch needs " + std::to_string(bytes));
  }
  return enqueue(stream, args, *sizes, workspaces);
}

rt::Status KernelSet::enqueue(rt::StreamHandle stream,
                              const KdaLaunchArgs &args,
                              const rt::RuntimeSizes &sizes,
                              const rt::DevicePtr *workspaces) {
  std::array<const DeviceTensor *, kNumTensorSlots> tensors = tensorSlots(args);
  for (size_t i = 0; i < launch_.kernels.size(); ++i) {
    const rt::KernelLaunch &kernel = launch_.kernels[i];
    rt::LaunchConfig config;
    int64_t grid[3];
    for (int d = 0; d < 3; ++d)
      grid[d] = kernel.grid[d].evaluate(sizes);
    if (grid[0] <= 0 || grid[1] <= 0 || grid[2] <= 0)
      continue; // Nothing to do (T = 0 leaves no chunk slots).
    if (grid[0] > limits::kMaxGridX || grid[1] > limits::kMaxGridYZ ||
        grid[2] > limits::kMaxGridYZ)
      return argError("kernel " + kernel.name + " would need a grid of [" +
                      std::to_string(grid[0]) + ", " + std::to_string(grid[1]) +
                      ", " + std::to_string(grid[2]) +
                      "] blocks, beyond CUDA's limits");
    config.grid = {static_cast<unsigned>(grid[0]),
                   static_cast<unsigned>(grid[1]),
                   static_cast<unsigned>(grid[2])};
    config.block = {static_cast<unsigned>(kernel.blockThreads), 1, 1};
    config.dynamicSharedMemoryBytes =
        static_cast<unsigned>(kernel.dynamicSharedBytes);
    config.stream = stream;

    // Parameter storage must outlive the launch call: one value slot per
    // parameter, pointers or sizes, on the stack.
    union Value {
      unsigned long long pointer;
      long long size;
    };
    Value values[kMaxKernelParams];
    void *params[kMaxKernelParams];
    const std::vector<ParamBinding> &bound = bindings_[i];
    for (size_t p = 0; p < bound.size(); ++p) {
      switch (bound[p].kind) {
      case rt::ParamKind::Tensor: {
        const DeviceTensor *t = tensors[bound[p].index];
        if (!t->present())
          return argError("kernel " + kernel.name + " needs tensor '" +
                          kTensorNames[bound[p].index] +
                          "', which was not passed");
        values[p].pointer = t->data;
        break;
      }
      case rt::ParamKind::Workspace:
        values[p].pointer = workspaces[bound[p].index];
        break;
      case rt::ParamKind::SizeT:
        values[p].size = sizes.T;
        break;
      case rt::ParamKind::SizeN:
        values[p].size = sizes.N;
        break;
      case rt::ParamKind::SizeB:
        values[p].size = sizes.B;
        break;
      case rt::ParamKind::SizeS:
        values[p].size = sizes.S;
        break;
      case rt::ParamKind::SizeChunkSlots:
        values[p].size = sizes.chunkSlots;
        break;
      }
      params[p] = &values[p];
    }
    if (rt::Status s = functions_[i].launchWithParams(config, params); !s)
      return argError("launching " + kernel.name + ": " + s.error());
  }
  return rt::Status::success();
}

} // namespace kdac
