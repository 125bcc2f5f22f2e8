//===- Launch.cpp - Check arguments and launch a KDA kernel set -----------===//
//
// Every tensor passed to KdaKernel::launch is checked against the spec:
// presence, dtype and shape, with the sizes B, T and N read off q and
// cu_seqlens. Only then are workspaces sized and the kernels enqueued, in
// the order and with the grids the launch descriptor gives.
//
//===----------------------------------------------------------------------===//
#include "kdac/Jit/Jit.h"

#include "kdac/Spec/Limits.h"

#include <algorithm>
#include <array>
#include <sstream>

namespace kdac {

namespace {

std::string shapeString(llvm::ArrayRef<int64_t> shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    s << (i ? ", " : "");
    if (shape[i] < 0)
      s << "?"; // any positive size
    else
      s << shape[i];
  }
  s << "]";
  return s.str();
}

llvm::Error argError(const llvm::Twine &message) {
  return llvm::createStringError("kdac launch: " + message);
}

/// Checks one tensor: present iff `expected`, of dtype `dtype` and shape
/// `shape`.
llvm::Error checkTensor(const char *name, const DeviceTensor &t, bool expected,
                        TensorDType dtype, llvm::ArrayRef<int64_t> shape) {
  if (!expected) {
    if (t.present())
      return argError(llvm::Twine(name) +
                      " was passed but the kernel's spec has none");
    return llvm::Error::success();
  }
  if (!t.present())
    return argError(llvm::Twine(name) + " is required by the spec but missing");
  if (t.dtype != dtype)
    return argError(llvm::Twine(name) + " has dtype " + toString(t.dtype) +
                    ", the spec needs " + toString(dtype));
  bool matches = t.shape.size() == shape.size();
  for (size_t i = 0; matches && i < shape.size(); ++i)
    matches = shape[i] < 0 ? t.shape[i] > 0 : t.shape[i] == shape[i];
  if (!matches)
    return argError(llvm::Twine(name) + " has shape " + shapeString(t.shape) +
                    ", the spec needs " + shapeString(shape));
  return llvm::Error::success();
}

/// The tensors of a launch in a fixed order, so that a launch indexes them
/// instead of looking them up by name.
enum TensorSlot : unsigned {
  kQ, kK, kV, kG, kBeta, kALog, kDtBias, kInitialState, kCuSeqlens, kO,
  kFinalState, kStatePool, kStateIndices, kNumAccepted, kNumTensorSlots
};
static_assert(std::size(kTensorNames) == kNumTensorSlots,
              "a tensor slot per name of the launch ABI (KernelSpec.h)");

std::array<const DeviceTensor *, kNumTensorSlots>
tensorSlots(const KdaLaunchArgs &a) {
  return {&a.q,         &a.k,          &a.v,          &a.g,
          &a.beta,      &a.aLog,       &a.dtBias,     &a.initialState,
          &a.cuSeqlens, &a.o,          &a.finalState, &a.statePool,
          &a.stateIndices, &a.numAccepted};
}

/// Every tensor's layout in TensorSlot order (no allocation: shapes are
/// inline).
std::array<TensorLayout, kNumTensorSlots>
layoutsBySlot(const KernelSpec &s, int64_t B, int64_t T, int64_t N) {
  TensorDType io = toTensorDType(s.dtype);
  TensorDType state = toTensorDType(s.stateDType);
  bool kv = s.stateLayout == StateLayout::KV;
  llvm::SmallVector<int64_t, 4> stateShape = {N, s.HV, kv ? s.K : s.V,
                                              kv ? s.V : s.K};
  llvm::SmallVector<int64_t, 4> poolShape = stateShape;
  poolShape[0] = -1;
  llvm::SmallVector<int64_t, 4> indexShape = {N};
  if (s.perTokenStates)
    indexShape.push_back(-1);
  bool channel = s.gate == GateGranularity::Channel;
  llvm::SmallVector<int64_t, 4> gShape = {B, T, s.HV};
  if (channel)
    gShape.push_back(s.K);
  std::array<TensorLayout, kNumTensorSlots> l;
  l[kQ] = {true, io, {B, T, s.H, s.K}};
  l[kK] = {true, io, {B, T, s.H, s.K}};
  l[kV] = {true, io, {B, T, s.HV, s.V}};
  l[kG] = {s.gate != GateGranularity::None, toTensorDType(s.gateDType), gShape};
  l[kBeta] = {true, toTensorDType(s.betaDType), {B, T, s.HV}};
  l[kALog] = {s.hasALog, TensorDType::F32, {s.HV}};
  l[kDtBias] = {s.hasDtBias, TensorDType::F32, {channel ? s.HV * s.K : s.HV}};
  l[kInitialState] = {s.hasInitialState, state, stateShape};
  l[kCuSeqlens] = {s.varlen, TensorDType::I64, {N + 1}};
  l[kO] = {true, io, {B, T, s.HV, s.V}};
  l[kFinalState] = {s.hasFinalState, state, stateShape};
  l[kStatePool] = {s.statePool, state, poolShape};
  l[kStateIndices] = {s.statePool, TensorDType::I32, indexShape};
  l[kNumAccepted] = {s.acceptedCounts, TensorDType::I32, {N}};
  return l;
}

/// Parameters one kernel may take; the launch keeps their values on the
/// stack.
constexpr size_t kMaxKernelParams = 64;

} // namespace

std::map<std::string, TensorLayout> tensorLayouts(const KernelSpec &s,
                                                  int64_t B, int64_t T,
                                                  int64_t N) {
  std::array<TensorLayout, kNumTensorSlots> bySlot = layoutsBySlot(s, B, T, N);
  std::map<std::string, TensorLayout> layouts;
  for (unsigned i = 0; i < kNumTensorSlots; ++i)
    layouts[kTensorNames[i]] = bySlot[i];
  return layouts;
}

llvm::Expected<rt::RuntimeSizes> checkLaunchArgs(const KernelSpec &s,
                                                 int64_t chunkSize,
                                                 const KdaLaunchArgs &a) {
  if (!a.q.present() || a.q.shape.size() != 4)
    return argError("q must be a [B, T, H, K] device tensor");
  rt::RuntimeSizes sizes;
  sizes.B = a.q.shape[0];
  sizes.T = a.q.shape[1];
  if (sizes.B <= 0 || sizes.T < 0)
    return argError("q has shape " + shapeString(a.q.shape) +
                    ", which needs B > 0 and T >= 0");
  if (s.T != kDynamic && sizes.T != s.T)
    return argError("q has T = " + llvm::Twine(sizes.T) +
                    ", the kernel was compiled for T = " + llvm::Twine(s.T) +
                    " (a one-token decode spec); use a spec with T = -1 for "
                    "several tokens per call");
  if (s.varlen) {
    if (sizes.B != 1)
      return argError("varlen (cu_seqlens) needs B == 1, q has B = " +
                      llvm::Twine(sizes.B));
    if (!a.cuSeqlens.present() || a.cuSeqlens.shape.size() != 1 ||
        a.cuSeqlens.shape[0] < 2)
      return argError("cu_seqlens must be an int64 [N + 1] tensor with N >= 1");
    sizes.N = a.cuSeqlens.shape[0] - 1;
  } else {
    sizes.N = sizes.B;
  }
  if (sizes.N > limits::kMaxSequences)
    return argError(llvm::Twine(sizes.N) + " sequences, more than the " +
                    llvm::Twine(limits::kMaxSequences) +
                    " a launch can cover (the grid's z extent)");
  if (limits::checkedMul(sizes.B, sizes.T).value_or(limits::kMaxTokens + 1) >
      limits::kMaxTokens)
    return argError("B * T = " + llvm::Twine(sizes.B) + " * " +
                    llvm::Twine(sizes.T) + " tokens, more than the limit of " +
                    llvm::Twine(limits::kMaxTokens));
  sizes.chunkSlots =
      rt::chunkSlotsFor(sizes.B, sizes.T, sizes.N, s.varlen, chunkSize);
  std::array<TensorLayout, kNumTensorSlots> layouts =
      layoutsBySlot(s, sizes.B, sizes.T, sizes.N);
  std::array<const DeviceTensor *, kNumTensorSlots> passed = tensorSlots(a);
  for (unsigned i = 0; i < kNumTensorSlots; ++i)
    if (llvm::Error e = checkTensor(kTensorNames[i], *passed[i],
                                    layouts[i].present, layouts[i].dtype,
                                    layouts[i].shape))
      return std::move(e);
  if (s.perTokenStates) {
    sizes.S = a.stateIndices.shape[1];
    if (!s.varlen && sizes.S < sizes.T)
      return argError("state_indices has " + llvm::Twine(sizes.S) +
                      " slots per sequence, fewer than the T = " +
                      llvm::Twine(sizes.T) + " tokens of each");
  }
  return sizes;
}

static size_t workspaceSize(const rt::Workspace &ws,
                            const rt::RuntimeSizes &sizes) {
  return static_cast<size_t>(ws.bytesPerChunkSlot) *
         static_cast<size_t>(std::max<int64_t>(sizes.chunkSlots, 1));
}

llvm::Expected<std::vector<size_t>>
KdaKernel::workspaceBytes(const KdaLaunchArgs &args) const {
  llvm::Expected<rt::RuntimeSizes> sizes =
      checkLaunchArgs(spec_, launch_.chunkSize, args);
  if (!sizes)
    return sizes.takeError();
  std::vector<size_t> bytes;
  for (const rt::Workspace &ws : launch_.workspaces)
    bytes.push_back(workspaceSize(ws, *sizes));
  return bytes;
}

llvm::Error KdaKernel::launch(rt::StreamHandle stream,
                              const KdaLaunchArgs &args) {
  llvm::Expected<rt::RuntimeSizes> sizes =
      checkLaunchArgs(spec_, launch_.chunkSize, args);
  if (!sizes)
    return sizes.takeError();
  std::lock_guard<std::mutex> lock(mutex_);
  llvm::SmallVector<rt::DevicePtr, 8> pointers;
  for (auto [i, ws] : llvm::enumerate(launch_.workspaces)) {
    size_t bytes = workspaceSize(ws, *sizes);
    if (workspaces_.size() <= i || workspaces_[i].size() < bytes) {
      rt::Expected<rt::DeviceBuffer> buffer =
          rt::DeviceBuffer::allocate(bytes);
      if (!buffer)
        return argError("allocating workspace '" + ws.name + "' (" +
                        llvm::Twine(bytes) + " bytes): " + buffer.error());
      if (workspaces_.size() <= i)
        workspaces_.push_back(std::move(*buffer));
      else
        workspaces_[i] = std::move(*buffer);
    }
    pointers.push_back(workspaces_[i].get());
  }
  return enqueue(stream, args, *sizes, pointers);
}

llvm::Error KdaKernel::launch(rt::StreamHandle stream,
                              const KdaLaunchArgs &args,
                              llvm::ArrayRef<rt::DevicePtr> workspaces,
                              llvm::ArrayRef<size_t> workspaceSizes) {
  llvm::Expected<rt::RuntimeSizes> sizes =
      checkLaunchArgs(spec_, launch_.chunkSize, args);
  if (!sizes)
    return sizes.takeError();
  if (workspaces.size() != launch_.workspaces.size() ||
      workspaceSizes.size() != launch_.workspaces.size())
    return argError("the kernel needs " +
                    llvm::Twine(launch_.workspaces.size()) +
                    " workspaces, " + llvm::Twine(workspaces.size()) +
                    " were passed");
  for (size_t i = 0; i < workspaces.size(); ++i) {
    size_t bytes = workspaceSize(launch_.workspaces[i], *sizes);
    if (!workspaces[i] || workspaceSizes[i] < bytes)
      return argError("workspace '" + launch_.workspaces[i].name + "' has " +
                      llvm::Twine(workspaceSizes[i]) + " bytes, the launch needs " +
                      llvm::Twine(bytes));
  }
  return enqueue(stream, args, *sizes, workspaces);
}

llvm::Error KdaKernel::bindParameters() {
  bindings_.clear();
  for (const rt::KernelLaunch &kernel : launch_.kernels) {
    if (kernel.params.size() > kMaxKernelParams)
      return argError("kernel " + kernel.name + " has " +
                      llvm::Twine(uint64_t(kernel.params.size())) +
                      " parameters, more than the launcher's " +
                      llvm::Twine(uint64_t(kMaxKernelParams)));
    std::vector<ParamBinding> &bound = bindings_.emplace_back();
    for (const rt::KernelParam &param : kernel.params) {
      ParamBinding binding{param.kind, 0};
      if (param.kind == rt::ParamKind::Tensor) {
        const char *const *found =
            std::find(std::begin(kTensorNames), std::end(kTensorNames),
                      llvm::StringRef(param.name));
        if (found == std::end(kTensorNames))
          return argError("kernel " + kernel.name + " takes tensor '" +
                          param.name + "', which is not a KDA tensor");
        binding.index = unsigned(found - std::begin(kTensorNames));
      } else if (param.kind == rt::ParamKind::Workspace) {
        auto found = llvm::find_if(launch_.workspaces,
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
  return llvm::Error::success();
}

llvm::Error KdaKernel::enqueue(rt::StreamHandle stream,
                               const KdaLaunchArgs &args,
                               const rt::RuntimeSizes &sizes,
                               llvm::ArrayRef<rt::DevicePtr> workspaces) {
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
                      llvm::Twine(grid[0]) + ", " + llvm::Twine(grid[1]) +
                      ", " + llvm::Twine(grid[2]) +
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
      }
      params[p] = &values[p];
    }
    if (rt::Status s = functions_[i].launchWithParams(config, params); !s)
      return argError("launching " + kernel.name + ": " + s.error());
  }
  return llvm::Error::success();
}

} // namespace kdac
