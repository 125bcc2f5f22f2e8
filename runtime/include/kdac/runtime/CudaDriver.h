//===- CudaDriver.h - The CUDA driver API loaded at run time --------------===//
//
// libcuda.so.1 is dlopen'ed so that kdac binaries start on machines without a
// GPU and say "no CUDA driver" instead of failing to load. The RAII wrappers
// (Module, DeviceBuffer, Stream, Event) are what the JIT, tests and
// benchmarks use; every CUresult becomes a message naming the call, its
// arguments and cuGetErrorName/cuGetErrorString.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_RUNTIME_CUDADRIVER_H
#define KDAC_RUNTIME_CUDADRIVER_H

#include "kdac/runtime/Expected.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kdac::rt {

/// A device address (CUdeviceptr). Kernel parameters of pointer type are
/// passed as a DevicePtr.
using DevicePtr = unsigned long long;
/// A CUstream; nullptr is the legacy default stream.
using StreamHandle = void *;

struct DeviceProperties {
  int ordinal = 0;
  std::string name;
  int computeCapabilityMajor = 0;
  int computeCapabilityMinor = 0;
  int multiprocessorCount = 0;
  int maxThreadsPerBlock = 0;
  /// Without opting in (48 KiB on every current GPU).
  int maxSharedMemoryPerBlock = 0;
  /// The most dynamic + static shared memory one block may opt into.
  int maxSharedMemoryPerBlockOptin = 0;
  int maxSharedMemoryPerMultiprocessor = 0;
  int l2CacheBytes = 0;
  size_t totalMemoryBytes = 0;

  /// The arch string to compile for: "sm_90a" on 9.0 (arch-specific features
  /// such as wgmma), "sm_80" on 8.0.
  std::string preferredArch() const;
};

class CudaDriver {
public:
  /// dlopens libcuda.so.1 once per process and calls cuInit(0). Errors start
  /// with "no CUDA driver (libcuda.so.1 not found): " or "no CUDA device: ".
  static Expected<const CudaDriver *> load();

  /// e.g. 13000 for CUDA 13.0.
  int driverVersion() const { return driverVersion_; }
  const std::string &libraryPath() const { return libraryPath_; }
  Expected<int> deviceCount() const;
  Expected<DeviceProperties> deviceProperties(int ordinal) const;

  /// "<call> failed: CUDA_ERROR_X (description)" for a CUresult.
  std::string describe(const std::string &call, int result) const;

  struct Api;
  const Api &api() const { return *api_; }
  ~CudaDriver();

private:
  CudaDriver();
  std::unique_ptr<Api> api_;
  int driverVersion_ = 0;
  std::string libraryPath_;
};

/// A device and its primary context. The context is retained once per process
/// and never released, so every other wrapper may outlive the Device object
/// that created it; open() also makes the context current on this thread.
class Device {
public:
  static Expected<Device> open(int ordinal = 0);

  const DeviceProperties &properties() const { return properties_; }
  int ordinal() const { return properties_.ordinal; }
  /// Makes the primary context current on the calling thread (needed once per
  /// thread before using the other wrappers there).
  Status makeCurrent() const;
  /// cuCtxSynchronize: waits for all work and reports asynchronous errors.
  Status synchronize() const;

private:
  DeviceProperties properties_;
  void *context_ = nullptr;
};

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

struct LaunchConfig {
  Dim3 grid;
  Dim3 block;
  unsigned dynamicSharedMemoryBytes = 0;
  StreamHandle stream = nullptr;
};

struct FunctionAttributes {
  int numRegisters = 0;
  int staticSharedMemoryBytes = 0;
  int localMemoryBytes = 0;
  int maxThreadsPerBlock = 0;
};

/// A kernel in a loaded Module; valid while the Module lives.
class Function {
public:
  /// Raises the dynamic shared memory limit (needed above 48 KiB).
  Status setMaxDynamicSharedMemory(int bytes) const;
  Expected<FunctionAttributes> attributes() const;
  /// `params[i]` points at the value of kernel parameter i.
  Status launchWithParams(const LaunchConfig &config, void **params) const;
  /// Passes each argument by address. The argument types must match the
  /// kernel's parameter types exactly (int64_t for a long long, DevicePtr for
  /// a pointer): the driver copies sizeof(parameter) bytes from each.
  template <typename... Args>
  Status launch(const LaunchConfig &config, const Args &...args) const {
    void *params[] = {const_cast<void *>(static_cast<const void *>(&args))...,
                      nullptr};
    return launchWithParams(config, params);
  }
  const std::string &name() const { return name_; }

private:
  friend class Module;
  void *handle_ = nullptr;
  std::string name_;
};

/// A CUBIN or PTX image loaded into the current context.
class Module {
public:
  /// `image` is a CUBIN, or NUL-terminated PTX text. The error carries the
  /// driver's JIT log when there is one.
  static Expected<Module> load(const void *image);
  static Expected<Module> load(const std::vector<char> &image) {
    return load(image.data());
  }
  /// Looks up an extern "C" kernel by name.
  Expected<Function> function(const std::string &name) const;

  Module(Module &&other) noexcept;
  Module &operator=(Module &&other) noexcept;
  ~Module();

private:
  Module() = default;
  void *handle_ = nullptr;
};

/// Device memory, freed on destruction.
class DeviceBuffer {
public:
  static Expected<DeviceBuffer> allocate(size_t bytes);

  DevicePtr get() const { return pointer_; }
  size_t size() const { return size_; }
  Status copyFromHost(const void *source, size_t bytes, size_t offset = 0);
  Status copyToHost(void *destination, size_t bytes, size_t offset = 0) const;
  /// Sets every byte (0xFF poisons floats with NaN before a launch).
  Status fill(uint8_t byte);
  Status fillAsync(uint8_t byte, StreamHandle stream);

  template <typename T> Status upload(const std::vector<T> &values) {
    return copyFromHost(values.data(), values.size() * sizeof(T));
  }
  template <typename T> Expected<std::vector<T>> download(size_t count) const {
    std::vector<T> values(count);
    Status status = copyToHost(values.data(), count * sizeof(T));
    if (!status)
      return makeError(status.error());
    return values;
  }

  DeviceBuffer(DeviceBuffer &&other) noexcept;
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  ~DeviceBuffer();

private:
  DeviceBuffer() = default;
  Status checkRange(const char *what, size_t bytes, size_t offset) const;
  DevicePtr pointer_ = 0;
  size_t size_ = 0;
};

/// A non-blocking stream, destroyed on destruction.
class Stream {
public:
  static Expected<Stream> create();
  StreamHandle get() const { return handle_; }
  Status synchronize() const;

  Stream(Stream &&other) noexcept;
  Stream &operator=(Stream &&other) noexcept;
  ~Stream();

private:
  Stream() = default;
  StreamHandle handle_ = nullptr;
};

/// A timing event, destroyed on destruction.
class Event {
public:
  static Expected<Event> create();
  Status record(StreamHandle stream = nullptr);
  Status synchronize() const;
  /// Milliseconds between two recorded, completed events.
  static Expected<float> elapsedMilliseconds(const Event &start,
                                             const Event &end);

  Event(Event &&other) noexcept;
  Event &operator=(Event &&other) noexcept;
  ~Event();

private:
  Event() = default;
  void *handle_ = nullptr;
};

} // namespace kdac::rt

#endif // KDAC_RUNTIME_CUDADRIVER_H
