//===- CudaDriver.cpp - The CUDA driver API loaded at run time ------------===//
//
// The driver API is re-declared here (opaque handles, int results, the few
// enum values used) instead of including cuda.h, so that the runtime builds
// without a CUDA toolkit. Versioned entry points (_v2) are bound by the names
// cuda.h maps them to, with the unversioned name as a fallback for older
// drivers.
//
//===----------------------------------------------------------------------===//
#include "kdac/runtime/CudaDriver.h"

#include "DynamicLibrary.h"

#include <cstdio>
#include <map>
#include <mutex>

namespace kdac::rt {

namespace {
using CUresult = int;
using CUdevice = int;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUevent = void *;
using CUdeviceptr = unsigned long long;

constexpr CUresult kCudaSuccess = 0;
constexpr CUresult kCudaErrorNoDevice = 100;

// CUdevice_attribute values (cuda.h, stable since their introduction).
constexpr int kAttrMaxThreadsPerBlock = 1;
constexpr int kAttrMaxSharedMemoryPerBlock = 8;
constexpr int kAttrMultiprocessorCount = 16;
constexpr int kAttrL2CacheSize = 38;
constexpr int kAttrComputeCapabilityMajor = 75;
constexpr int kAttrComputeCapabilityMinor = 76;
constexpr int kAttrMaxSharedMemoryPerMultiprocessor = 81;
constexpr int kAttrMaxSharedMemoryPerBlockOptin = 97;

// CUfunction_attribute values.
constexpr int kFuncMaxThreadsPerBlock = 0;
constexpr int kFuncSharedSizeBytes = 1;
constexpr int kFuncLocalSizeBytes = 3;
constexpr int kFuncNumRegs = 4;
constexpr int kFuncMaxDynamicSharedSizeBytes = 8;

// CUjit_option values.
constexpr int kJitInfoLogBuffer = 3;
constexpr int kJitInfoLogBufferSizeBytes = 4;
constexpr int kJitErrorLogBuffer = 5;
constexpr int kJitErrorLogBufferSizeBytes = 6;

constexpr unsigned kStreamNonBlocking = 1;
constexpr unsigned kEventDefault = 0;
} // namespace

struct CudaDriver::Api {
  CUresult (*getErrorName)(CUresult, const char **) = nullptr;
  CUresult (*getErrorString)(CUresult, const char **) = nullptr;
  CUresult (*init)(unsigned) = nullptr;
  CUresult (*driverGetVersion)(int *) = nullptr;
  CUresult (*deviceGetCount)(int *) = nullptr;
  CUresult (*deviceGet)(CUdevice *, int) = nullptr;
  CUresult (*deviceGetName)(char *, int, CUdevice) = nullptr;
  CUresult (*deviceGetAttribute)(int *, int, CUdevice) = nullptr;
  CUresult (*deviceTotalMem)(size_t *, CUdevice) = nullptr;
  CUresult (*primaryCtxRetain)(CUcontext *, CUdevice) = nullptr;
  CUresult (*ctxSetCurrent)(CUcontext) = nullptr;
  CUresult (*ctxSynchronize)() = nullptr;
  CUresult (*moduleLoadDataEx)(CUmodule *, const void *, unsigned, int *,
                               void **) = nullptr;
  CUresult (*moduleUnload)(CUmodule) = nullptr;
  CUresult (*moduleGetFunction)(CUfunction *, CUmodule, const char *) = nullptr;
  CUresult (*funcSetAttribute)(CUfunction, int, int) = nullptr;
  CUresult (*funcGetAttribute)(int *, int, CUfunction) = nullptr;
  CUresult (*launchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                           unsigned, unsigned, unsigned, CUstream, void **,
                           void **) = nullptr;
  CUresult (*memAlloc)(CUdeviceptr *, size_t) = nullptr;
  CUresult (*memFree)(CUdeviceptr) = nullptr;
  CUresult (*memcpyHtoD)(CUdeviceptr, const void *, size_t) = nullptr;
  CUresult (*memcpyDtoH)(void *, CUdeviceptr, size_t) = nullptr;
  CUresult (*memsetD8)(CUdeviceptr, unsigned char, size_t) = nullptr;
  CUresult (*memsetD8Async)(CUdeviceptr, unsigned char, size_t,
                            CUstream) = nullptr;
  CUresult (*streamCreate)(CUstream *, unsigned) = nullptr;
  CUresult (*streamDestroy)(CUstream) = nullptr;
  CUresult (*streamSynchronize)(CUstream) = nullptr;
  CUresult (*eventCreate)(CUevent *, unsigned) = nullptr;
  CUresult (*eventDestroy)(CUevent) = nullptr;
  CUresult (*eventRecord)(CUevent, CUstream) = nullptr;
  CUresult (*eventSynchronize)(CUevent) = nullptr;
  CUresult (*eventElapsedTime)(float *, CUevent, CUevent) = nullptr;
};

namespace {

Expected<std::unique_ptr<CudaDriver::Api>>
bindApi(const detail::DynamicLibrary &library) {
  auto api = std::make_unique<CudaDriver::Api>();
  Status status = Status::success();
  auto bind = [&](auto *&function, std::initializer_list<const char *> names) {
    if (status.ok())
      status = library.bind(function, names);
  };
  bind(api->getErrorName, {"cuGetErrorName"});
  bind(api->getErrorString, {"cuGetErrorString"});
  bind(api->init, {"cuInit"});
  bind(api->driverGetVersion, {"cuDriverGetVersion"});
  bind(api->deviceGetCount, {"cuDeviceGetCount"});
  bind(api->deviceGet, {"cuDeviceGet"});
  bind(api->deviceGetName, {"cuDeviceGetName"});
  bind(api->deviceGetAttribute, {"cuDeviceGetAttribute"});
  bind(api->deviceTotalMem, {"cuDeviceTotalMem_v2", "cuDeviceTotalMem"});
  bind(api->primaryCtxRetain, {"cuDevicePrimaryCtxRetain"});
  bind(api->ctxSetCurrent, {"cuCtxSetCurrent"});
  bind(api->ctxSynchronize, {"cuCtxSynchronize"});
  bind(api->moduleLoadDataEx, {"cuModuleLoadDataEx"});
  bind(api->moduleUnload, {"cuModuleUnload"});
  bind(api->moduleGetFunction, {"cuModuleGetFunction"});
  bind(api->funcSetAttribute, {"cuFuncSetAttribute"});
  bind(api->funcGetAttribute, {"cuFuncGetAttribute"});
  bind(api->launchKernel, {"cuLaunchKernel"});
  bind(api->memAlloc, {"cuMemAlloc_v2"});
  bind(api->memFree, {"cuMemFree_v2"});
  bind(api->memcpyHtoD, {"cuMemcpyHtoD_v2"});
  bind(api->memcpyDtoH, {"cuMemcpyDtoH_v2"});
  bind(api->memsetD8, {"cuMemsetD8_v2"});
  bind(api->memsetD8Async, {"cuMemsetD8Async"});
  bind(api->streamCreate, {"cuStreamCreate"});
  bind(api->streamDestroy, {"cuStreamDestroy_v2", "cuStreamDestroy"});
  bind(api->streamSynchronize, {"cuStreamSynchronize"});
  bind(api->eventCreate, {"cuEventCreate"});
  bind(api->eventDestroy, {"cuEventDestroy_v2", "cuEventDestroy"});
  bind(api->eventRecord, {"cuEventRecord"});
  bind(api->eventSynchronize, {"cuEventSynchronize"});
  bind(api->eventElapsedTime, {"cuEventElapsedTime_v2", "cuEventElapsedTime"});
  if (!status)
    return Error{status.error()};
  return std::move(api);
}

std::vector<std::string> driverLibraryCandidates() {
  std::vector<std::string> candidates;
  std::string override = detail::getEnv("KDAC_CUDA_DRIVER_LIBRARY");
  if (!override.empty())
    candidates.push_back(override);
  candidates.push_back("libcuda.so.1");
  return candidates;
}

/// The driver, for wrappers that exist only after a successful load().
const CudaDriver &loadedDriver() { return **CudaDriver::load(); }
const CudaDriver::Api &api() { return loadedDriver().api(); }

Status check(const std::string &call, CUresult result) {
  if (result == kCudaSuccess)
    return Status::success();
  return makeError(loadedDriver().describe(call, result));
}

std::string dimString(const Dim3 &dim) {
  return std::to_string(dim.x) + "x" + std::to_string(dim.y) + "x" +
         std::to_string(dim.z);
}

/// Destructors cannot return errors; they report them so that a leak or a
/// sticky context error is at least visible.
void reportInDestructor(const char *call, CUresult result) {
  if (result != kCudaSuccess)
    std::fprintf(stderr, "kdac runtime: %s\n",
                 loadedDriver().describe(call, result).c_str());
}

} // namespace

//===----------------------------------------------------------------------===//
// CudaDriver
//===----------------------------------------------------------------------===//

CudaDriver::CudaDriver() = default;
CudaDriver::~CudaDriver() = default;

Expected<const CudaDriver *> CudaDriver::load() {
  static const Expected<const CudaDriver *> loaded =
      []() -> Expected<const CudaDriver *> {
    Expected<detail::DynamicLibrary> library =
        detail::DynamicLibrary::openFirst(driverLibraryCandidates());
    if (!library)
      return makeError("no CUDA driver (libcuda.so.1 not found): " +
                       library.error());
    Expected<std::unique_ptr<Api>> functions = bindApi(*library);
    if (!functions)
      return makeError("CUDA driver " + library->path() +
                       " unusable: " + functions.error());
    // Deliberately leaked: lives as long as the process, like the dlopen.
    auto *driver = new CudaDriver();
    driver->api_ = std::move(*functions);
    driver->libraryPath_ = library->path();
    CUresult initResult = driver->api_->init(0);
    if (initResult == kCudaErrorNoDevice)
      return makeError("no CUDA device: " +
                       driver->describe("cuInit", initResult));
    if (initResult != kCudaSuccess)
      return makeError(
          "CUDA driver " + driver->libraryPath_ +
          " failed to initialise: " + driver->describe("cuInit", initResult));
    if (CUresult result =
            driver->api_->driverGetVersion(&driver->driverVersion_))
      return makeError(driver->describe("cuDriverGetVersion", result));
    return static_cast<const CudaDriver *>(driver);
  }();
  return loaded;
}

std::string CudaDriver::describe(const std::string &call, int result) const {
  const char *name = nullptr;
  const char *text = nullptr;
  if (api_->getErrorName(result, &name) != kCudaSuccess || !name)
    name = "unknown CUresult";
  if (api_->getErrorString(result, &text) != kCudaSuccess || !text)
    text = "no description";
  return call + " failed: " + name + " (" + std::to_string(result) + ": " +
         text + ")";
}

Expected<int> CudaDriver::deviceCount() const {
  int count = 0;
  if (CUresult result = api_->deviceGetCount(&count))
    return makeError(describe("cuDeviceGetCount", result));
  return count;
}

Expected<DeviceProperties> CudaDriver::deviceProperties(int ordinal) const {
  CUdevice device = 0;
  std::string where = " (device " + std::to_string(ordinal) + ")";
  if (CUresult result = api_->deviceGet(&device, ordinal))
    return makeError(describe("cuDeviceGet" + where, result));
  DeviceProperties properties;
  properties.ordinal = ordinal;
  char name[256] = {};
  if (CUresult result = api_->deviceGetName(name, sizeof(name) - 1, device))
    return makeError(describe("cuDeviceGetName" + where, result));
  properties.name = name;
  struct {
    int *field;
    int attribute;
    const char *what;
  } attributes[] = {
      {&properties.computeCapabilityMajor, kAttrComputeCapabilityMajor,
       "compute capability"},
      {&properties.computeCapabilityMinor, kAttrComputeCapabilityMinor,
       "compute capability"},
      {&properties.multiprocessorCount, kAttrMultiprocessorCount, "SM count"},
      {&properties.maxThreadsPerBlock, kAttrMaxThreadsPerBlock,
       "max threads per block"},
      {&properties.maxSharedMemoryPerBlock, kAttrMaxSharedMemoryPerBlock,
       "shared memory"},
      {&properties.maxSharedMemoryPerBlockOptin,
       kAttrMaxSharedMemoryPerBlockOptin, "opt-in shared memory"},
      {&properties.maxSharedMemoryPerMultiprocessor,
       kAttrMaxSharedMemoryPerMultiprocessor, "shared memory per SM"},
      {&properties.l2CacheBytes, kAttrL2CacheSize, "L2 size"},
  };
  for (auto &attribute : attributes)
    if (CUresult result = api_->deviceGetAttribute(attribute.field,
                                                   attribute.attribute, device))
      return makeError(describe(std::string("cuDeviceGetAttribute(") +
                                    attribute.what + ")" + where,
                                result));
  if (CUresult result =
          api_->deviceTotalMem(&properties.totalMemoryBytes, device))
    return makeError(describe("cuDeviceTotalMem" + where, result));
  return properties;
}

std::string DeviceProperties::preferredArch() const {
  // Arch-specific targets ("a") exist from 9.0 on and are needed for wgmma.
  return "sm_" + std::to_string(computeCapabilityMajor) +
         std::to_string(computeCapabilityMinor) +
         (computeCapabilityMajor >= 9 ? "a" : "");
}

//===----------------------------------------------------------------------===//
// Device
//===----------------------------------------------------------------------===//

Expected<Device> Device::open(int ordinal) {
  Expected<const CudaDriver *> driver = CudaDriver::load();
  if (!driver)
    return makeError(driver.error());
  Expected<int> count = (*driver)->deviceCount();
  if (!count)
    return makeError(count.error());
  if (*count == 0)
    return makeError("no CUDA device: the driver reports 0 devices");
  if (ordinal < 0 || ordinal >= *count)
    return makeError("no CUDA device " + std::to_string(ordinal) +
                     " (the driver reports " + std::to_string(*count) + ")");

  // Primary contexts are retained once and kept: re-creating one costs
  // hundreds of milliseconds and would invalidate every module and buffer.
  static std::mutex mutex;
  static std::map<int, Device> openDevices;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = openDevices.find(ordinal);
  if (found == openDevices.end()) {
    Expected<DeviceProperties> properties =
        (*driver)->deviceProperties(ordinal);
    if (!properties)
      return makeError(properties.error());
    const CudaDriver::Api &functions = (*driver)->api();
    CUdevice device = 0;
    if (CUresult result = functions.deviceGet(&device, ordinal))
      return makeError((*driver)->describe("cuDeviceGet", result));
    Device opened;
    opened.properties_ = std::move(*properties);
    if (CUresult result = functions.primaryCtxRetain(&opened.context_, device))
      return makeError((*driver)->describe("cuDevicePrimaryCtxRetain (device " +
                                               std::to_string(ordinal) + ")",
                                           result));
    found = openDevices.emplace(ordinal, std::move(opened)).first;
  }
  Device device = found->second;
  if (Status status = device.makeCurrent(); !status)
    return makeError(status.error());
  return device;
}

Status Device::makeCurrent() const {
  return check("cuCtxSetCurrent (device " + std::to_string(ordinal()) + ")",
               api().ctxSetCurrent(context_));
}

Status Device::synchronize() const {
  return check("cuCtxSynchronize", api().ctxSynchronize());
}

//===----------------------------------------------------------------------===//
// Module and Function
//===----------------------------------------------------------------------===//

Expected<Module> Module::load(const void *image) {
  Expected<const CudaDriver *> driver = CudaDriver::load();
  if (!driver)
    return makeError(driver.error());
  if (!image)
    return makeError("cuModuleLoadDataEx: null image");
  constexpr size_t kLogSize = 16384;
  std::vector<char> errorLog(kLogSize, '\0'), infoLog(kLogSize, '\0');
  int options[] = {kJitErrorLogBuffer, kJitErrorLogBufferSizeBytes,
                   kJitInfoLogBuffer, kJitInfoLogBufferSizeBytes};
  void *values[] = {
      errorLog.data(), reinterpret_cast<void *>(uintptr_t(kLogSize - 1)),
      infoLog.data(), reinterpret_cast<void *>(uintptr_t(kLogSize - 1))};
  Module module;
  CUresult result =
      api().moduleLoadDataEx(&module.handle_, image, 4, options, values);
  if (result != kCudaSuccess) {
    std::string message = (*driver)->describe("cuModuleLoadDataEx", result);
    if (errorLog[0])
      message += ":\n" + std::string(errorLog.data());
    return makeError(message);
  }
  return module;
}

Expected<Function> Module::function(const std::string &name) const {
  Function function;
  function.name_ = name;
  if (Status status = check(
          "cuModuleGetFunction(\"" + name + "\")",
          api().moduleGetFunction(&function.handle_, handle_, name.c_str()));
      !status)
    return makeError(status.error());
  return function;
}

Module::Module(Module &&other) noexcept : handle_(other.handle_) {
  other.handle_ = nullptr;
}

Module &Module::operator=(Module &&other) noexcept {
  std::swap(handle_, other.handle_);
  return *this;
}

Module::~Module() {
  if (handle_)
    reportInDestructor("cuModuleUnload", api().moduleUnload(handle_));
}

Status Function::setMaxDynamicSharedMemory(int bytes) const {
  return check(
      "cuFuncSetAttribute(" + name_ +
          ", max dynamic shared memory = " + std::to_string(bytes) + ")",
      api().funcSetAttribute(handle_, kFuncMaxDynamicSharedSizeBytes, bytes));
}

Expected<FunctionAttributes> Function::attributes() const {
  FunctionAttributes attributes;
  struct {
    int *field;
    int attribute;
  } queries[] = {{&attributes.numRegisters, kFuncNumRegs},
                 {&attributes.staticSharedMemoryBytes, kFuncSharedSizeBytes},
                 {&attributes.localMemoryBytes, kFuncLocalSizeBytes},
                 {&attributes.maxThreadsPerBlock, kFuncMaxThreadsPerBlock}};
  for (auto &query : queries)
    if (Status status = check(
            "cuFuncGetAttribute(" + name_ + ")",
            api().funcGetAttribute(query.field, query.attribute, handle_));
        !status)
      return makeError(status.error());
  return attributes;
}

Status Function::launchWithParams(const LaunchConfig &config,
                                  void **params) const {
  CUresult result = api().launchKernel(
      handle_, config.grid.x, config.grid.y, config.grid.z, config.block.x,
      config.block.y, config.block.z, config.dynamicSharedMemoryBytes,
      config.stream, params, nullptr);
  if (result == kCudaSuccess)
    return Status::success();
  return makeError(loadedDriver().describe(
      "cuLaunchKernel(" + name_ + ", grid " + dimString(config.grid) +
          ", block " + dimString(config.block) + ", dynamic smem " +
          std::to_string(config.dynamicSharedMemoryBytes) + ")",
      result));
}

//===----------------------------------------------------------------------===//
// DeviceBuffer
//===----------------------------------------------------------------------===//

Expected<DeviceBuffer> DeviceBuffer::allocate(size_t bytes) {
  Expected<const CudaDriver *> driver = CudaDriver::load();
  if (!driver)
    return makeError(driver.error());
  DeviceBuffer buffer;
  // cuMemAlloc rejects 0 bytes; an empty buffer is still a valid object.
  if (bytes == 0)
    return buffer;
  if (Status status = check("cuMemAlloc(" + std::to_string(bytes) + " bytes)",
                            api().memAlloc(&buffer.pointer_, bytes));
      !status)
    return makeError(status.error());
  buffer.size_ = bytes;
  return buffer;
}

Status DeviceBuffer::checkRange(const char *what, size_t bytes,
                                size_t offset) const {
  if (offset > size_ || bytes > size_ - offset)
    return makeError(std::string(what) + ": range [" + std::to_string(offset) +
                     ", " + std::to_string(offset + bytes) +
                     ") outside a buffer of " + std::to_string(size_) +
                     " bytes");
  return Status::success();
}

Status DeviceBuffer::copyFromHost(const void *source, size_t bytes,
                                  size_t offset) {
  if (Status status = checkRange("copyFromHost", bytes, offset);
      !status || bytes == 0)
    return status;
  return check("cuMemcpyHtoD(" + std::to_string(bytes) + " bytes)",
               api().memcpyHtoD(pointer_ + offset, source, bytes));
}

Status DeviceBuffer::copyToHost(void *destination, size_t bytes,
                                size_t offset) const {
  if (Status status = checkRange("copyToHost", bytes, offset);
      !status || bytes == 0)
    return status;
  return check("cuMemcpyDtoH(" + std::to_string(bytes) + " bytes)",
               api().memcpyDtoH(destination, pointer_ + offset, bytes));
}

Status DeviceBuffer::fill(uint8_t byte) {
  if (size_ == 0)
    return Status::success();
  return check("cuMemsetD8(" + std::to_string(size_) + " bytes)",
               api().memsetD8(pointer_, byte, size_));
}

Status DeviceBuffer::fillAsync(uint8_t byte, StreamHandle stream) {
  if (size_ == 0)
    return Status::success();
  return check("cuMemsetD8Async(" + std::to_string(size_) + " bytes)",
               api().memsetD8Async(pointer_, byte, size_, stream));
}

DeviceBuffer::DeviceBuffer(DeviceBuffer &&other) noexcept
    : pointer_(other.pointer_), size_(other.size_) {
  other.pointer_ = 0;
  other.size_ = 0;
}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  std::swap(pointer_, other.pointer_);
  std::swap(size_, other.size_);
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (pointer_)
    reportInDestructor("cuMemFree", api().memFree(pointer_));
}

//===----------------------------------------------------------------------===//
// Stream and Event
//===----------------------------------------------------------------------===//

Expected<Stream> Stream::create() {
  Expected<const CudaDriver *> driver = CudaDriver::load();
  if (!driver)
    return makeError(driver.error());
  Stream stream;
  if (Status status =
          check("cuStreamCreate",
                api().streamCreate(&stream.handle_, kStreamNonBlocking));
      !status)
    return makeError(status.error());
  return stream;
}

Status Stream::synchronize() const {
  return check("cuStreamSynchronize", api().streamSynchronize(handle_));
}

Stream::Stream(Stream &&other) noexcept : handle_(other.handle_) {
  other.handle_ = nullptr;
}

Stream &Stream::operator=(Stream &&other) noexcept {
  std::swap(handle_, other.handle_);
  return *this;
}

Stream::~Stream() {
  if (handle_)
    reportInDestructor("cuStreamDestroy", api().streamDestroy(handle_));
}

Expected<Event> Event::create() {
  Expected<const CudaDriver *> driver = CudaDriver::load();
  if (!driver)
    return makeError(driver.error());
  Event event;
  if (Status status = check("cuEventCreate",
                            api().eventCreate(&event.handle_, kEventDefault));
      !status)
    return makeError(status.error());
  return event;
}

Status Event::record(StreamHandle stream) {
  return check("cuEventRecord", api().eventRecord(handle_, stream));
}

Status Event::synchronize() const {
  return check("cuEventSynchronize", api().eventSynchronize(handle_));
}

Expected<float> Event::elapsedMilliseconds(const Event &start,
                                           const Event &end) {
  float milliseconds = 0;
  if (Status status = check(
          "cuEventElapsedTime",
          api().eventElapsedTime(&milliseconds, start.handle_, end.handle_));
      !status)
    return makeError(status.error());
  return milliseconds;
}

Event::Event(Event &&other) noexcept : handle_(other.handle_) {
  other.handle_ = nullptr;
}

Event &Event::operator=(Event &&other) noexcept {
  std::swap(handle_, other.handle_);
  return *this;
}

Event::~Event() {
  if (handle_)
    reportInDestructor("cuEventDestroy", api().eventDestroy(handle_));
}

} // namespace kdac::rt
