//===- Nvrtc.cpp - NVRTC loaded at run time -------------------------------===//
//
// The NVRTC C API is re-declared here (opaque handles, int results) instead of
// including nvrtc.h so that the runtime builds without a CUDA toolkit.
//
//===----------------------------------------------------------------------===//
#include "kdac/runtime/Nvrtc.h"

#include "DynamicLibrary.h"
#include "kdac/runtime/DeviceLibrary.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace kdac::rt {

namespace {
using nvrtcResult = int;
using nvrtcProgram = struct NvrtcProgramOpaque *;
constexpr nvrtcResult kNvrtcSuccess = 0;
} // namespace

struct Nvrtc::Api {
  const char *(*getErrorString)(nvrtcResult) = nullptr;
  nvrtcResult (*version)(int *, int *) = nullptr;
  nvrtcResult (*getNumSupportedArchs)(int *) = nullptr;
  nvrtcResult (*getSupportedArchs)(int *) = nullptr;
  nvrtcResult (*createProgram)(nvrtcProgram *, const char *, const char *, int,
                               const char *const *,
                               const char *const *) = nullptr;
  nvrtcResult (*destroyProgram)(nvrtcProgram *) = nullptr;
  nvrtcResult (*compileProgram)(nvrtcProgram, int,
                                const char *const *) = nullptr;
  nvrtcResult (*getPTXSize)(nvrtcProgram, size_t *) = nullptr;
  nvrtcResult (*getPTX)(nvrtcProgram, char *) = nullptr;
  nvrtcResult (*getCUBINSize)(nvrtcProgram, size_t *) = nullptr;
  nvrtcResult (*getCUBIN)(nvrtcProgram, char *) = nullptr;
  nvrtcResult (*getProgramLogSize)(nvrtcProgram, size_t *) = nullptr;
  nvrtcResult (*getProgramLog)(nvrtcProgram, char *) = nullptr;

  std::string describe(nvrtcResult result) const {
    const char *text = getErrorString ? getErrorString(result) : nullptr;
    return text ? std::string(text) : "NVRTC error " + std::to_string(result);
  }
};

namespace {

bool fileExists(const std::string &path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::string parentDirectory(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

/// Include directories a toolkit with this libnvrtc would have: lib64/ and
/// targets/<triple>/lib/ layouts both occur.
std::vector<std::string>
includeDirsNextToLibrary(const std::string &libraryPath) {
  if (libraryPath.find('/') == std::string::npos)
    return {};
  std::string libDir = parentDirectory(libraryPath);
  std::string root = parentDirectory(libDir);
  return {root + "/include",
          parentDirectory(parentDirectory(root)) + "/include"};
}

std::vector<std::string> cudaIncludeCandidates() {
  std::vector<std::string> candidates;
  auto addRoot = [&](const char *variable, const char *suffix) {
    std::string value = detail::getEnv(variable);
    if (!value.empty())
      candidates.push_back(value + suffix);
  };
  addRoot("KDAC_CUDA_INCLUDE_DIR", "");
  addRoot("CUDA_HOME", "/include");
  addRoot("CUDA_PATH", "/include");
  if (Expected<const Nvrtc *> nvrtc = Nvrtc::load())
    for (const std::string &dir :
         includeDirsNextToLibrary((*nvrtc)->libraryPath()))
      candidates.push_back(dir);
  candidates.push_back("/usr/local/cuda/include");
  candidates.push_back("/usr/include");
  return candidates;
}

Expected<std::unique_ptr<Nvrtc::Api>>
bindApi(const detail::DynamicLibrary &library) {
  auto api = std::make_unique<Nvrtc::Api>();
  Status status = Status::success();
  auto bind = [&](auto *&function, const char *name) {
    if (status.ok())
      status = library.bind(function, {name});
  };
  bind(api->getErrorString, "nvrtcGetErrorString");
  bind(api->version, "nvrtcVersion");
  bind(api->getNumSupportedArchs, "nvrtcGetNumSupportedArchs");
  bind(api->getSupportedArchs, "nvrtcGetSupportedArchs");
  bind(api->createProgram, "nvrtcCreateProgram");
  bind(api->destroyProgram, "nvrtcDestroyProgram");
  bind(api->compileProgram, "nvrtcCompileProgram");
  bind(api->getPTXSize, "nvrtcGetPTXSize");
  bind(api->getPTX, "nvrtcGetPTX");
  bind(api->getCUBINSize, "nvrtcGetCUBINSize");
  bind(api->getCUBIN, "nvrtcGetCUBIN");
  bind(api->getProgramLogSize, "nvrtcGetProgramLogSize");
  bind(api->getProgramLog, "nvrtcGetProgramLog");
  if (!status)
    return Error{status.error()};
  return std::move(api);
}

std::vector<std::string> nvrtcLibraryCandidates() {
  std::vector<std::string> candidates;
  std::string override = detail::getEnv("KDAC_NVRTC_LIBRARY");
  if (!override.empty())
    candidates.push_back(override);
  for (const char *name : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"})
    candidates.push_back(name);
  for (const char *variable : {"CUDA_HOME", "CUDA_PATH"}) {
    std::string root = detail::getEnv(variable);
    if (!root.empty())
      candidates.push_back(root + "/lib64/libnvrtc.so");
  }
  candidates.push_back("/usr/local/cuda/lib64/libnvrtc.so");
  return candidates;
}

/// RAII for an nvrtcProgram: destroyed on every exit path.
class ProgramHandle {
public:
  explicit ProgramHandle(const Nvrtc::Api &api) : api_(api) {}
  ~ProgramHandle() {
    if (program_)
      api_.destroyProgram(&program_);
  }
  ProgramHandle(const ProgramHandle &) = delete;
  ProgramHandle &operator=(const ProgramHandle &) = delete;
  nvrtcProgram *address() { return &program_; }
  nvrtcProgram get() const { return program_; }

private:
  const Nvrtc::Api &api_;
  nvrtcProgram program_ = nullptr;
};

std::string programLog(const Nvrtc::Api &api, nvrtcProgram program) {
  size_t size = 0;
  if (api.getProgramLogSize(program, &size) != kNvrtcSuccess || size <= 1)
    return "";
  std::string log(size, '\0');
  if (api.getProgramLog(program, log.data()) != kNvrtcSuccess)
    return "";
  log.resize(std::strlen(log.c_str()));
  return log;
}

bool hasOptionPrefix(const std::vector<std::string> &options,
                     std::initializer_list<const char *> prefixes) {
  for (const std::string &option : options)
    for (const char *prefix : prefixes)
      if (option.rfind(prefix, 0) == 0)
        return true;
  return false;
}

/// When a CUDA header was not found, says where we looked: NVRTC's own
/// message ("no directories in search list") does not say what to set.
std::string missingHeaderHint(const std::string &log) {
  bool missingFile =
      log.find("could not open source file") != std::string::npos ||
      log.find("cannot open source file") != std::string::npos;
  bool mentionsCudaHeader = log.find("\"cuda_") != std::string::npos ||
                            log.find("\"vector_types") != std::string::npos ||
                            log.find("\"crt/") != std::string::npos;
  if (!missingFile || !mentionsCudaHeader)
    return "";
  Expected<std::string> includeDir = findCudaIncludeDir();
  if (includeDir)
    return "\nnote: CUDA headers were searched in " + *includeDir;
  return "\nnote: " + includeDir.error();
}

} // namespace

std::string NvrtcVersion::toString() const {
  return std::to_string(major) + "." + std::to_string(minor);
}

Expected<bool> parseArchIsReal(const std::string &arch) {
  bool real = arch.rfind("sm_", 0) == 0;
  bool virtualArch = arch.rfind("compute_", 0) == 0;
  size_t digitsBegin = real ? 3 : 8;
  size_t position = digitsBegin;
  while (position < arch.size() && arch[position] >= '0' &&
         arch[position] <= '9')
    ++position;
  bool hasDigits = position > digitsBegin;
  bool validSuffix = position == arch.size() ||
                     (position + 1 == arch.size() &&
                      (arch[position] == 'a' || arch[position] == 'f'));
  if ((!real && !virtualArch) || !hasDigits || !validSuffix)
    return makeError("invalid CUDA architecture '" + arch +
                     "' (expected e.g. sm_80, sm_90a or compute_90a)");
  return real;
}

Expected<std::string> findCudaIncludeDir() {
  std::vector<std::string> candidates = cudaIncludeCandidates();
  std::string searched;
  for (const std::string &dir : candidates) {
    if (fileExists(dir + "/cuda_bf16.h") && fileExists(dir + "/cuda_fp16.h"))
      return dir;
    searched += (searched.empty() ? "" : ", ") + dir;
  }
  return makeError(
      "CUDA headers not found: no cuda_bf16.h/cuda_fp16.h in " + searched +
      "; set CUDA_HOME or KDAC_CUDA_INCLUDE_DIR to the CUDA toolkit");
}

Nvrtc::Nvrtc() = default;
Nvrtc::~Nvrtc() = default;

Expected<const Nvrtc *> Nvrtc::load() {
  static const Expected<const Nvrtc *> loaded =
      []() -> Expected<const Nvrtc *> {
    Expected<detail::DynamicLibrary> library =
        detail::DynamicLibrary::openFirst(nvrtcLibraryCandidates());
    if (!library)
      return makeError("NVRTC not available (libnvrtc.so not found): " +
                       library.error());
    Expected<std::unique_ptr<Api>> api = bindApi(*library);
    if (!api)
      return makeError("NVRTC library unusable: " + api.error());
    // Deliberately leaked: lives as long as the process, like the dlopen.
    auto *nvrtc = new Nvrtc();
    nvrtc->api_ = std::move(*api);
    nvrtc->libraryPath_ = library->path();
    const Api &functions = *nvrtc->api_;
    if (nvrtcResult result =
            functions.version(&nvrtc->version_.major, &nvrtc->version_.minor))
      return makeError("nvrtcVersion failed: " + functions.describe(result));
    int count = 0;
    if (functions.getNumSupportedArchs(&count) == kNvrtcSuccess && count > 0) {
      nvrtc->supportedArchs_.resize(count);
      if (functions.getSupportedArchs(nvrtc->supportedArchs_.data()) !=
          kNvrtcSuccess)
        nvrtc->supportedArchs_.clear();
    }
    return static_cast<const Nvrtc *>(nvrtc);
  }();
  return loaded;
}

std::vector<std::string>
Nvrtc::buildOptions(const CompileRequest &request) const {
  const std::vector<std::string> &extraOptions = request.extraOptions;
  std::vector<std::string> options = {"-arch=" + request.arch};
  if (!hasOptionPrefix(extraOptions, {"-std=", "--std="}))
    options.push_back("-std=c++17");
  if (!hasOptionPrefix(extraOptions, {"-default-device",
                                      "--device-as-default-execution-space"}))
    options.push_back("-default-device");
  if (request.addCudaIncludePath)
    if (Expected<std::string> includeDir = findCudaIncludeDir())
      options.push_back("--include-path=" + *includeDir);
  options.insert(options.end(), extraOptions.begin(), extraOptions.end());
  // For profiling (e.g. -lineinfo) without a rebuild; part of the cache key
  // because the key hashes these options.
  if (const char *fromEnvironment = std::getenv("KDAC_NVRTC_OPTIONS")) {
    std::istringstream words(fromEnvironment);
    for (std::string word; words >> word;)
      options.push_back(word);
  }
  return options;
}

Expected<CompileOutput> Nvrtc::compile(const CompileRequest &request) const {
  const Api &api = *api_;
  std::string where = request.programName + " for " + request.arch;
  Expected<bool> isReal = parseArchIsReal(request.arch);
  if (!isReal)
    return makeError("NVRTC cannot compile " + where + ": " + isReal.error());
  int archNumber = std::atoi(request.arch.c_str() + (*isReal ? 3 : 8));
  if (!supportedArchs_.empty() &&
      std::find(supportedArchs_.begin(), supportedArchs_.end(), archNumber) ==
          supportedArchs_.end()) {
    std::string supported;
    for (int arch : supportedArchs_)
      supported += " " + std::to_string(arch);
    return makeError("NVRTC " + version_.toString() + " does not support " +
                     request.arch + " (supported:" + supported + ")");
  }

  HeaderList headers = request.headers;
  if (request.includeDeviceLibrary) {
    const HeaderList &library = deviceLibraryHeaders();
    headers.insert(headers.end(), library.begin(), library.end());
  }
  std::vector<const char *> headerTexts, headerNames;
  for (const auto &[name, text] : headers) {
    headerNames.push_back(name.c_str());
    headerTexts.push_back(text.c_str());
  }

  CompileOutput output;
  output.options = buildOptions(request);
  std::vector<const char *> optionPointers;
  for (const std::string &option : output.options)
    optionPointers.push_back(option.c_str());

  auto start = std::chrono::steady_clock::now();
  ProgramHandle program(api);
  if (nvrtcResult result =
          api.createProgram(program.address(), request.source.c_str(),
                            request.programName.c_str(), int(headers.size()),
                            headerTexts.data(), headerNames.data()))
    return makeError("nvrtcCreateProgram failed for " + where + ": " +
                     api.describe(result));

  nvrtcResult compileResult = api.compileProgram(
      program.get(), int(optionPointers.size()), optionPointers.data());
  output.log = programLog(api, program.get());
  if (compileResult != kNvrtcSuccess) {
    std::string message = "NVRTC " + version_.toString() +
                          " failed to compile " + where + " (" +
                          api.describe(compileResult) + ")";
    if (!output.log.empty())
      message += ":\n" + output.log;
    message += missingHeaderHint(output.log);
    return makeError(message);
  }

  size_t ptxSize = 0;
  if (nvrtcResult result = api.getPTXSize(program.get(), &ptxSize))
    return makeError("nvrtcGetPTXSize failed for " + where + ": " +
                     api.describe(result));
  output.ptx.assign(ptxSize, '\0');
  if (nvrtcResult result = api.getPTX(program.get(), output.ptx.data()))
    return makeError("nvrtcGetPTX failed for " + where + ": " +
                     api.describe(result));
  // NVRTC counts the terminating NUL; the string keeps its own.
  output.ptx.resize(std::strlen(output.ptx.c_str()));

  if (*isReal) {
    size_t cubinSize = 0;
    if (nvrtcResult result = api.getCUBINSize(program.get(), &cubinSize))
      return makeError("nvrtcGetCUBINSize failed for " + where + ": " +
                       api.describe(result));
    if (cubinSize == 0)
      return makeError("NVRTC produced an empty CUBIN for " + where);
    output.cubin.resize(cubinSize);
    if (nvrtcResult result = api.getCUBIN(program.get(), output.cubin.data()))
      return makeError("nvrtcGetCUBIN failed for " + where + ": " +
                       api.describe(result));
  }
  output.compileMilliseconds = std::chrono::duration<double, std::milli>(
                                   std::chrono::steady_clock::now() - start)
                                   .count();
  return output;
}

Expected<CompileOutput>
Nvrtc::compile(const std::string &source, const std::string &programName,
               const std::string &arch,
               const std::vector<std::string> &extraOptions,
               const HeaderList &headers) const {
  CompileRequest request;
  request.source = source;
  request.programName = programName;
  request.arch = arch;
  request.extraOptions = extraOptions;
  request.headers = headers;
  return compile(request);
}

} // namespace kdac::rt
