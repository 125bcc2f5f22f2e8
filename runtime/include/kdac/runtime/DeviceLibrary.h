//===- DeviceLibrary.h - The CUDA tile primitives embedded for NVRTC ------===//
//
// Generated kernels #include "kdac/kdac_mma.cuh" and friends. The headers live
// in runtime/device/ and are embedded into the binary at build time, so a kdac
// binary compiles kernels anywhere without shipping a source tree.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_RUNTIME_DEVICELIBRARY_H
#define KDAC_RUNTIME_DEVICELIBRARY_H

#include <string>
#include <utility>
#include <vector>

namespace kdac::rt {

/// Every device-library header as (include name, text), e.g.
/// ("kdac/kdac_mma.cuh", "..."), in a stable (sorted) order.
const std::vector<std::pair<std::string, std::string>> &deviceLibraryHeaders();

} // namespace kdac::rt

#endif // KDAC_RUNTIME_DEVICELIBRARY_H
