//===- DynamicLibrary.h - dlopen with fallbacks and typed dlsym -----------===//
//
// libnvrtc and libcuda are loaded at run time so that kdac binaries start on
// machines without them (CI has no driver) and never carry a link-time
// dependency on a particular CUDA install. Internal to the runtime.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_RUNTIME_LIB_DYNAMICLIBRARY_H
#define KDAC_RUNTIME_LIB_DYNAMICLIBRARY_H

#include "kdac/runtime/Expected.h"

#include <initializer_list>
#include <string>
#include <vector>

namespace kdac::rt::detail {

class DynamicLibrary {
public:
  /// Opens the first candidate that loads; the error lists every attempt
  /// with its dlerror() text. Handles are never closed: the loaded tables are
  /// process-wide and unloading a driver at exit is a known source of crashes.
  static Expected<DynamicLibrary>
  openFirst(const std::vector<std::string> &candidates);

  /// The file the loader actually mapped (from dladdr/dlinfo), for messages.
  const std::string &path() const { return path_; }

  void *symbol(const char *name) const;

  /// Binds `function` to the first of `names` the library exports. Several
  /// names exist because the CUDA driver versions its entry points (_v2).
  template <typename Function>
  Status bind(Function *&function,
              std::initializer_list<const char *> names) const {
    for (const char *name : names) {
      if (void *address = symbol(name)) {
        function = reinterpret_cast<Function *>(address);
        return Status::success();
      }
    }
    return makeError("symbol " + std::string(*names.begin()) +
                     " not found in " + path_);
  }

private:
  void *handle_ = nullptr;
  std::string path_;
};

/// The value of an environment variable, or "" when unset.
std::string getEnv(const char *name);

} // namespace kdac::rt::detail

#endif // KDAC_RUNTIME_LIB_DYNAMICLIBRARY_H
