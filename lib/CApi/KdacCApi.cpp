//===- KdacCApi.cpp - The C interface over kdac::Jit ----------------------===//
//
// Translates the plain C structs of kdac-c/Kdac.h to KernelSpec and
// KdaLaunchArgs, keeps one Jit per device for the life of the process, and
// turns every llvm::Error into a thread-local message and a return code, so
// that no failure crosses the C boundary as an exception or an abort.
//
//===----------------------------------------------------------------------===//
#include "kdac-c/Kdac.h"

#include "kdac/Jit/Jit.h"
#include "kdac/Spec/Limits.h"
#include "kdac/runtime/CudaDriver.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>

using namespace kdac;

struct kdac_kernel {
  std::shared_ptr<KdaKernel> kernel;
  std::string description;
};

namespace {

thread_local std::string lastError;

int fail(const std::string &message) {
  lastError = message;
  return 1;
}

int fail(llvm::Error error) { return fail(llvm::toString(std::move(error))); }

std::optional<DType> floatDType(int32_t code) {
  switch (code) {
  case KDAC_F32:
    return DType::F32;
  case KDAC_F16:
    return DType::F16;
  case KDAC_BF16:
    return DType::BF16;
  default:
    return std::nullopt;
  }
}

std::optional<TensorDType> tensorDType(int32_t code) {
  switch (code) {
  case KDAC_F64:
    return TensorDType::F64;
  case KDAC_F32:
    return TensorDType::F32;
  case KDAC_F16:
    return TensorDType::F16;
  case KDAC_BF16:
    return TensorDType::BF16;
  case KDAC_I64:
    return TensorDType::I64;
  case KDAC_I32:
    return TensorDType::I32;
  default:
    return std::nullopt;
  }
}

/// The spec, or a message saying which field is out of range.
std::optional<KernelSpec> toSpec(const kdac_spec *in, std::string &error) {
  if (!in) {
    error = "kdac: spec is null";
    return std::nullopt;
  }
  KernelSpec s;
  s.B = in->B < 0 ? kDynamic : in->B;
  s.T = in->T < 0 ? kDynamic : in->T;
  s.H = in->H;
  s.HV = in->HV;
  s.K = in->K;
  s.V = in->V;
  s.varlen = in->varlen != 0;
  auto dtype = floatDType(in->dtype), gateDType = floatDType(in->gate_dtype),
       betaDType = floatDType(in->beta_dtype),
       stateDType = floatDType(in->state_dtype);
  if (!dtype || !gateDType || !betaDType || !stateDType) {
    error = "kdac: spec dtypes must be f32, f16 or bf16";
    return std::nullopt;
  }
  s.dtype = *dtype;
  s.gateDType = *gateDType;
  s.betaDType = *betaDType;
  s.stateDType = *stateDType;
  if (in->gate < 0 || in->gate > 2 || in->update < 0 || in->update > 1 ||
      in->activation < 0 || in->activation > 2) {
    error = "kdac: spec gate, update or activation code out of range";
    return std::nullopt;
  }
  s.gate = static_cast<GateGranularity>(in->gate);
  s.update = static_cast<UpdateRule>(in->update);
  s.activation = static_cast<GateActivation>(in->activation);
  if (in->has_lower_bound)
    s.lowerBound = in->lower_bound;
  s.hasALog = in->has_a_log != 0;
  s.hasDtBias = in->has_dt_bias != 0;
  s.qkL2Norm = in->qk_l2norm != 0;
  s.betaSigmoid = in->beta_sigmoid != 0;
  s.hasInitialState = in->has_initial_state != 0;
  s.hasFinalState = in->has_final_state != 0;
  s.stateLayout = in->state_v_first ? StateLayout::VK : StateLayout::KV;
  if (in->has_scale)
    s.scale = in->scale;
  if ((in->decode != 0) + (in->backward != 0) + (in->commit != 0) > 1) {
    error = "kdac: spec sets more than one of decode, backward and commit";
    return std::nullopt;
  }
  s.op = in->decode != 0     ? KernelOp::Decode
         : in->backward != 0 ? KernelOp::Backward
         : in->commit != 0   ? KernelOp::Commit
                             : KernelOp::Forward;
  s.statePool = in->state_pool != 0;
  s.perTokenStates = in->per_token_states != 0;
  s.acceptedCounts = in->accepted_counts != 0;
  s.tokenRecords = in->token_records != 0;
  std::string invalid = validate(s);
  if (!invalid.empty()) {
    error = "kdac: inconsistent spec: " + invalid;
    return std::nullopt;
  }
  return s;
}

bool toTensor(const kdac_tensor &in, const char *name, DeviceTensor &out,
              std::string &error) {
  out = DeviceTensor();
  if (!in.data)
    return true;
  std::optional<TensorDType> dtype = tensorDType(in.dtype);
  if (!dtype || in.rank < 0 || in.rank > KDAC_MAX_RANK) {
    error = std::string("kdac launch: ") + name +
            " has an unknown dtype code or rank";
    return false;
  }
  out.data = in.data;
  out.dtype = *dtype;
  out.shape.assign(in.shape, in.shape + in.rank);
  return true;
}

std::optional<KdaLaunchArgs> toArgs(const kdac_launch_args *in,
                                    std::string &error) {
  if (!in) {
    error = "kdac launch: arguments are null";
    return std::nullopt;
  }
  KdaLaunchArgs a;
  const std::pair<const kdac_tensor *, std::pair<const char *, DeviceTensor *>>
      fields[] = {{&in->q, {"q", &a.q}},
                  {&in->k, {"k", &a.k}},
                  {&in->v, {"v", &a.v}},
                  {&in->g, {"g", &a.g}},
                  {&in->beta, {"beta", &a.beta}},
                  {&in->a_log, {"A_log", &a.aLog}},
                  {&in->dt_bias, {"dt_bias", &a.dtBias}},
                  {&in->initial_state, {"initial_state", &a.initialState}},
                  {&in->cu_seqlens, {"cu_seqlens", &a.cuSeqlens}},
                  {&in->o, {"o", &a.o}},
                  {&in->final_state, {"final_state", &a.finalState}},
                  {&in->state_pool, {"state_pool", &a.statePool}},
                  {&in->state_indices, {"state_indices", &a.stateIndices}},
                  {&in->num_accepted, {"num_accepted", &a.numAccepted}},
                  {&in->d_o, {"do", &a.dO}},
                  {&in->dht, {"dht", &a.dht}},
                  {&in->dq, {"dq", &a.dq}},
                  {&in->dk, {"dk", &a.dk}},
                  {&in->dv, {"dv", &a.dv}},
                  {&in->dg, {"dg", &a.dg}},
                  {&in->dbeta, {"dbeta", &a.dbeta}},
                  {&in->da_log, {"dA_log", &a.dALog}},
                  {&in->ddt_bias, {"ddt_bias", &a.dDtBias}},
                  {&in->dh0, {"dh0", &a.dh0}},
                  {&in->token_records, {"token_records", &a.tokenRecords}}};
  for (const auto &field : fields)
    if (!toTensor(*field.first, field.second.first, *field.second.second,
                  error))
      return std::nullopt;
  return a;
}

/// A device's Jit and the target its kernels are generated for.
struct DeviceJit {
  std::unique_ptr<Jit> jit;
  std::string arch;
};

/// One Jit per device, created on first use and kept for the process; the
/// target comes from the device's compute capability.
llvm::Expected<DeviceJit *> jitFor(int device) {
  static std::mutex mutex;
  static std::map<int, DeviceJit> jits;
  if (device < 0)
    return llvm::createStringError("kdac: device " + std::to_string(device) +
                                   " is not a CUDA device index");
  std::lock_guard<std::mutex> lock(mutex);
  auto found = jits.find(device);
  if (found != jits.end())
    return &found->second;
  rt::Expected<rt::Device> opened = rt::Device::open(device);
  if (!opened)
    return llvm::createStringError("kdac: " + opened.error());
  const rt::DeviceProperties &properties = opened->properties();
  std::string error;
  std::string arch = limits::archForComputeCapability(
      properties.computeCapabilityMajor, properties.computeCapabilityMinor,
      error);
  if (arch.empty())
    return llvm::createStringError("kdac: device " + std::to_string(device) +
                                   " (" + properties.name + "): " + error);
  JitOptions options;
  options.device = device;
  DeviceJit &entry = jits[device];
  entry.jit = std::make_unique<Jit>(options);
  entry.arch = arch;
  return &entry;
}

} // namespace

extern "C" {

int kdac_api_version(void) { return KDAC_C_API_VERSION; }

const char *kdac_last_error(void) { return lastError.c_str(); }

int kdac_validate_spec(const kdac_spec *spec) {
  std::string error;
  return toSpec(spec, error) ? 0 : fail(error);
}

int kdac_check_launch(const kdac_spec *spec, const kdac_launch_args *args) {
  std::string error;
  std::optional<KernelSpec> s = toSpec(spec, error);
  if (!s)
    return fail(error);
  std::optional<KdaLaunchArgs> a = toArgs(args, error);
  if (!a)
    return fail(error);
  // The chunk size only changes the workspace slots, not what is valid.
  rt::Expected<rt::RuntimeSizes> sizes = checkLaunchArgs(*s, 64, *a);
  return sizes ? 0 : fail(sizes.error());
}

int kdac_get_kernel(const kdac_spec *spec, int64_t typical_t, int device,
                    kdac_kernel **kernel) {
  if (!kernel)
    return fail("kdac: kernel out-pointer is null");
  *kernel = nullptr;
  std::string error;
  std::optional<KernelSpec> s = toSpec(spec, error);
  if (!s)
    return fail(error);
  llvm::Expected<DeviceJit *> jit = jitFor(device);
  if (!jit)
    return fail(jit.takeError());
  s->arch = (*jit)->arch;
  llvm::Expected<std::shared_ptr<KdaKernel>> loaded =
      (*jit)->jit->get(*s, typical_t > 0 ? typical_t : 8192);
  if (!loaded)
    return fail(loaded.takeError());
  // Handles live as long as the process, like the Jit's own cache.
  static std::mutex mutex;
  static std::map<KdaKernel *, std::unique_ptr<kdac_kernel>> handles;
  std::lock_guard<std::mutex> lock(mutex);
  std::unique_ptr<kdac_kernel> &handle = handles[loaded->get()];
  if (!handle) {
    handle = std::make_unique<kdac_kernel>();
    handle->kernel = *loaded;
    const KernelTimings &t = (*loaded)->timings();
    handle->description =
        (*loaded)->configuration() + "; " + rt::toString(t.source) +
        " (generate " + std::to_string(t.generateMilliseconds) +
        " ms, compile " + std::to_string(t.compileMilliseconds) + " ms)";
  }
  *kernel = handle.get();
  return 0;
}

const char *kdac_kernel_description(const kdac_kernel *kernel) {
  return kernel ? kernel->description.c_str() : "";
}

int kdac_kernel_num_workspaces(const kdac_kernel *kernel) {
  return kernel ? int(kernel->kernel->launchDescriptor().workspaces.size())
                : 0;
}

int kdac_kernel_workspace_bytes(const kdac_kernel *kernel,
                                const kdac_launch_args *args, size_t *bytes,
                                int num_workspaces) {
  if (!kernel || (!bytes && num_workspaces > 0))
    return fail("kdac: kernel or bytes pointer is null");
  std::string error;
  std::optional<KdaLaunchArgs> a = toArgs(args, error);
  if (!a)
    return fail(error);
  llvm::Expected<std::vector<size_t>> sizes =
      kernel->kernel->workspaceBytes(*a);
  if (!sizes)
    return fail(sizes.takeError());
  if (int(sizes->size()) != num_workspaces)
    return fail("kdac: the kernel has " + std::to_string(sizes->size()) +
                " workspaces, room was given for " +
                std::to_string(num_workspaces));
  for (size_t i = 0; i < sizes->size(); ++i)
    bytes[i] = (*sizes)[i];
  return 0;
}

int kdac_kernel_launch(kdac_kernel *kernel, void *stream,
                       const kdac_launch_args *args,
                       const uint64_t *workspaces,
                       const size_t *workspace_bytes, int num_workspaces) {
  if (!kernel || num_workspaces < 0 ||
      (num_workspaces > 0 && (!workspaces || !workspace_bytes)))
    return fail("kdac: kernel or workspace pointers are null");
  std::string error;
  std::optional<KdaLaunchArgs> a = toArgs(args, error);
  if (!a)
    return fail(error);
  // uint64_t and rt::DevicePtr (unsigned long long) are both 64-bit
  // unsigned; the launch reads the caller's arrays in place.
  static_assert(sizeof(uint64_t) == sizeof(rt::DevicePtr));
  llvm::ArrayRef<rt::DevicePtr> pointers(
      reinterpret_cast<const rt::DevicePtr *>(workspaces), num_workspaces);
  llvm::ArrayRef<size_t> sizes(workspace_bytes, num_workspaces);
  if (llvm::Error e = kernel->kernel->launch(stream, *a, pointers, sizes))
    return fail(std::move(e));
  return 0;
}

} // extern "C"
