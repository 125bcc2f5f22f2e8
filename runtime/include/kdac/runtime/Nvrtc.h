//===- Nvrtc.h - NVRTC loaded at run time: CUDA C++ to PTX and CUBIN ------===//
//
// libnvrtc is dlopen'ed rather than linked so that kdac binaries carry no
// link-time CUDA dependency. The defaults are chosen for precision
// (no --use_fast_math) and so that generated code can include cuda_bf16.h.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_RUNTIME_NVRTC_H
#define KDAC_RUNTIME_NVRTC_H

#include "kdac/runtime/Expected.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kdac::rt {

/// Headers handed to NVRTC in memory, as (include name, text).
using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct NvrtcVersion {
  int major = 0;
  int minor = 0;
  std::string toString() const;
};

struct CompileRequest {
  std::string source;
  /// Appears in diagnostics ("name.cu(12): error ...") and line info.
  std::string programName = "kdac_kernel.cu";
  /// "sm_XY" / "sm_XYa": PTX and CUBIN. "compute_XY" / "compute_XYa": PTX only.
  std::string arch = "sm_90a";
  /// Appended after the defaults, so they can add -lineinfo, -D..., or
  /// replace -std=.
  std::vector<std::string> extraOptions;
  HeaderList headers;
  /// Adds deviceLibraryHeaders() to `headers`.
  bool includeDeviceLibrary = true;
  /// Adds --include-path=<findCudaIncludeDir()>: NVRTC 13 has no builtin
  /// cuda_bf16.h / cuda_fp16.h.
  bool addCudaIncludePath = true;
};

struct CompileOutput {
  std::string ptx;
  /// Empty when compiling for a virtual (compute_XY) architecture.
  std::vector<char> cubin;
  /// NVRTC's log of a successful compile (warnings); usually empty.
  std::string log;
  /// Exactly the options NVRTC received.
  std::vector<std::string> options;
  double compileMilliseconds = 0;
};

/// Checks an arch string ("sm_90a", "sm_80", "compute_90a") and tells whether
/// it names a real architecture (one with a CUBIN).
Expected<bool> parseArchIsReal(const std::string &arch);

/// The CUDA toolkit include directory that holds cuda_bf16.h. Searched, in
/// order: $KDAC_CUDA_INCLUDE_DIR, $CUDA_HOME/include, $CUDA_PATH/include,
/// the toolkit of the loaded libnvrtc, /usr/local/cuda/include, /usr/include.
/// NVRTC 13 does not ship cuda_bf16.h/cuda_fp16.h as builtins, so kernels
/// using bf16/f16 need this directory on the include path.
Expected<std::string> findCudaIncludeDir();

class Nvrtc {
public:
  /// Loads libnvrtc once per process ($KDAC_NVRTC_LIBRARY, libnvrtc.so.13,
  /// libnvrtc.so.12, libnvrtc.so, then $CUDA_HOME/lib64, $CUDA_PATH/lib64,
  /// /usr/local/cuda/lib64). The error lists every attempt.
  static Expected<const Nvrtc *> load();

  NvrtcVersion version() const { return version_; }
  /// Real architectures NVRTC can target, e.g. {75, 80, ..., 90, 100, ...}.
  const std::vector<int> &supportedArchs() const { return supportedArchs_; }
  const std::string &libraryPath() const { return libraryPath_; }

  /// The options compile() passes for a request: -arch=, -std=c++17,
  /// -default-device, --include-path=<CUDA include dir> when wanted and
  /// found, then the extras. Part of the cubin cache key.
  std::vector<std::string> buildOptions(const CompileRequest &request) const;

  /// Compiles; on failure the error holds NVRTC's log verbatim. Thread-safe.
  Expected<CompileOutput> compile(const CompileRequest &request) const;
  /// Shorthand for a request with the device library included.
  Expected<CompileOutput>
  compile(const std::string &source, const std::string &programName,
          const std::string &arch,
          const std::vector<std::string> &extraOptions = {},
          const HeaderList &headers = {}) const;

  struct Api;
  ~Nvrtc();

private:
  Nvrtc();
  std::unique_ptr<Api> api_;
  NvrtcVersion version_;
  std::vector<int> supportedArchs_;
  std::string libraryPath_;
};

} // namespace kdac::rt

#endif // KDAC_RUNTIME_NVRTC_H
