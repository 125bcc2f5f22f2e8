//===- Launch.cpp - Check arguments and launch a KDA kernel set -----------===//
//
// Every tensor passed to KdaKernel::launch is checked against the spec:
// presence, dtype and shape, with the sizes B, T and N read off q and
// cu_seqlens. Only then are workspaces sized and the kernels enqueued, in
// the order and with the grids the launch descriptor gives.
//
//===----------------------------------------------------------------------===//
#include "kdac/Jit/Jit.h"

#include "kdac/Reference/Case.h"
#include "kdac/Spec/Limits.h"

#include <sstream>

namespace kdac {

namespace {

std::string shapeString(const std::vector<int64_t> &shape) {
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
                        TensorDType dtype, const std::vector<int64_t> &shape) {
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

} // namespace

std::map<std::string, TensorLayout> tensorLayouts(const KernelSpec &s,
                                                  int64_t B, int64_t T,
                                                  int64_t N) {
  TensorDType io = toTensorDType(s.dtype);
  TensorDType state = toTensorDType(s.stateDType);
  bool kv = s.stateLayout == StateLayout::KV;
  std::vector<int64_t> stateShape = {N, s.HV, kv ? s.K : s.V, kv ? s.V : s.K};
  std::vector<int64_t> poolShape = stateShape;
  poolShape[0] = -1;
  std::vector<int64_t> indexShape = {N};
  if (s.perTokenStates)
    indexShape.push_back(-1);
  bool channel = s.gate == GateGranularity::Channel;
  std::vector<int64_t> gShape = {B, T, s.HV};
  if (channel)
    gShape.push_back(s.K);
  return {
      {"q", {true, io, {B, T, s.H, s.K}}},
      {"k", {true, io, {B, T, s.H, s.K}}},
      {"v", {true, io, {B, T, s.HV, s.V}}},
      {"g", {s.gate != GateGranularity::None, toTensorDType(s.gateDType),
             gShape}},
      {"beta", {true, toTensorDType(s.betaDType), {B, T, s.HV}}},
      {"A_log", {s.hasALog, TensorDType::F32, {s.HV}}},
      {"dt_bias",
       {s.hasDtBias, TensorDType::F32, {channel ? s.HV * s.K : s.HV}}},
      {"initial_state", {s.hasInitialState, state, stateShape}},
      {"cu_seqlens", {s.varlen, TensorDType::I64, {N + 1}}},
      {"o", {true, io, {B, T, s.HV, s.V}}},
      {"final_state", {s.hasFinalState, state, stateShape}},
      {"state_pool", {s.statePool, state, poolShape}},
      {"state_indices", {s.statePool, TensorDType::I32, indexShape}},
      {"num_accepted", {s.acceptedCounts, TensorDType::I32, {N}}},
  };
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
  std::map<std::string, TensorLayout> layouts =
      tensorLayouts(s, sizes.B, sizes.T, sizes.N);
  const std::pair<const char *, const DeviceTensor *> passed[] = {
      {"q", &a.q},
      {"k", &a.k},
      {"v", &a.v},
      {"g", &a.g},
      {"beta", &a.beta},
      {"A_log", &a.aLog},
      {"dt_bias", &a.dtBias},
      {"initial_state", &a.initialState},
      {"cu_seqlens", &a.cuSeqlens},
      {"o", &a.o},
      {"final_state", &a.finalState},
      {"state_pool", &a.statePool},
      {"state_indices", &a.stateIndices},
      {"num_accepted", &a.numAccepted}};
  for (auto [name, tensor] : passed) {
    const TensorLayout &layout = layouts.at(name);
    if (llvm::Error e = checkTensor(name, *tensor, layout.present,
                                    layout.dtype, layout.shape))
      return std::move(e);
  }
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
  std::vector<rt::DevicePtr> pointers;
  for (const rt::Workspace &ws : launch_.workspaces) {
    size_t bytes = workspaceSize(ws, *sizes);
    auto it = workspaces_.find(ws.name);
    if (it == workspaces_.end() || it->second.size() < bytes) {
      rt::Expected<rt::DeviceBuffer> buffer =
          rt::DeviceBuffer::allocate(bytes);
      if (!buffer)
        return argError("allocating workspace '" + ws.name + "' (" +
                        llvm::Twine(bytes) + " bytes): " + buffer.error());
      workspaces_.erase(ws.name);
      it = workspaces_.emplace(ws.name, std::move(*buffer)).first;
    }
    pointers.push_back(it->second.get());
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

llvm::Error KdaKernel::enqueue(rt::StreamHandle stream,
                               const KdaLaunchArgs &args,
                               const rt::RuntimeSizes &sizes,
                               llvm::ArrayRef<rt::DevicePtr> workspaces) {
  std::map<std::string, rt::DevicePtr> workspaceByName;
  for (size_t i = 0; i < workspaces.size(); ++i)
    workspaceByName[launch_.workspaces[i].name] = workspaces[i];
  const std::map<std::string, const DeviceTensor *> tensors = {
      {"q", &args.q},         {"k", &args.k},
      {"v", &args.v},         {"g", &args.g},
      {"beta", &args.beta},   {"A_log", &args.aLog},
      {"dt_bias", &args.dtBias}, {"initial_state", &args.initialState},
      {"cu_seqlens", &args.cuSeqlens}, {"o", &args.o},
      {"final_state", &args.finalState}, {"state_pool", &args.statePool},
      {"state_indices", &args.stateIndices},
      {"num_accepted", &args.numAccepted}};

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

    // Parameter storage must outlive the launch call.
    std::vector<unsigned long long> pointers;
    std::vector<long long> scalars;
    pointers.reserve(kernel.params.size());
    scalars.reserve(kernel.params.size());
    std::vector<void *> params;
    for (const rt::KernelParam &param : kernel.params) {
      switch (param.kind) {
      case rt::ParamKind::Tensor: {
        auto it = tensors.find(param.name);
        if (it == tensors.end() || !it->second->present())
          return argError("kernel " + kernel.name + " needs tensor '" +
                          param.name + "', which was not passed");
        pointers.push_back(it->second->data);
        params.push_back(&pointers.back());
        break;
      }
      case rt::ParamKind::Workspace:
        pointers.push_back(workspaceByName.at(param.name));
        params.push_back(&pointers.back());
        break;
      case rt::ParamKind::SizeT:
      case rt::ParamKind::SizeN:
      case rt::ParamKind::SizeB:
      case rt::ParamKind::SizeS:
        scalars.push_back(param.kind == rt::ParamKind::SizeT   ? sizes.T
                          : param.kind == rt::ParamKind::SizeN ? sizes.N
                          : param.kind == rt::ParamKind::SizeB ? sizes.B
                                                               : sizes.S);
        params.push_back(&scalars.back());
        break;
      }
    }
    if (rt::Status s = functions_[i].launchWithParams(config, params.data()); !s)
      return argError("launching " + kernel.name + ": " + s.error());
  }
  return llvm::Error::success();
}

} // namespace kdac
