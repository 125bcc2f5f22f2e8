//===- DynamicLibrary.cpp - dlopen with fallbacks and typed dlsym ---------===//
//
// RTLD_LOCAL keeps the CUDA libraries' symbols out of the global namespace so
// that a host process linking its own CUDA runtime is not disturbed.
//
//===----------------------------------------------------------------------===//
#include "DynamicLibrary.h"

#include <dlfcn.h>
#include <link.h>

#include <cstdlib>

namespace kdac::rt::detail {

Expected<DynamicLibrary>
DynamicLibrary::openFirst(const std::vector<std::string> &candidates) {
  std::string attempts;
  for (const std::string &candidate : candidates) {
    dlerror();
    void *handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char *reason = dlerror();
      // One line: callers print this as part of a single error line.
      attempts += (attempts.empty() ? " " : "; ") + candidate + ": " +
                  (reason ? reason : "unknown dlopen error");
      continue;
    }
    DynamicLibrary library;
    library.handle_ = handle;
    library.path_ = candidate;
    struct link_map *map = nullptr;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name &&
        *map->l_name)
      library.path_ = map->l_name;
    return library;
  }
  return makeError("tried" + attempts);
}

void *DynamicLibrary::symbol(const char *name) const {
  return handle_ ? dlsym(handle_, name) : nullptr;
}

std::string getEnv(const char *name) {
  const char *value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

} // namespace kdac::rt::detail
