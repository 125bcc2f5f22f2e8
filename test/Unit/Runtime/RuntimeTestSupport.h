//===- RuntimeTestSupport.h - Shared helpers of the runtime unit tests ----===//
//
// Temporary cache directories, the kernel that exercises every device-library
// header, and host-side bf16/f16 rounding so GPU results can be checked
// against exactly the inputs the GPU saw.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TEST_UNIT_RUNTIME_RUNTIMETESTSUPPORT_H
#define KDAC_TEST_UNIT_RUNTIME_RUNTIMETESTSUPPORT_H

#include "kdac/runtime/DeviceLibrary.h"

#include "../HalfBits.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace kdac::rt::test {

/// A fresh directory under $TMPDIR, removed recursively on destruction.
class TemporaryDirectory {
public:
  TemporaryDirectory() {
    const char *base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base && *base ? base : "/tmp") + "/kdac-rt-test-XXXXXX";
    if (mkdtemp(pattern.data()))
      path_ = pattern;
  }
  ~TemporaryDirectory() {
    if (!path_.empty())
      removeTree(path_);
  }
  TemporaryDirectory(const TemporaryDirectory &) = delete;
  TemporaryDirectory &operator=(const TemporaryDirectory &) = delete;

  const std::string &path() const { return path_; }

  /// Names of the entries in `directory` (no . and ..).
  static std::vector<std::string> list(const std::string &directory) {
    std::vector<std::string> names;
    if (DIR *handle = opendir(directory.c_str())) {
      while (dirent *entry = readdir(handle)) {
        std::string name = entry->d_name;
        if (name != "." && name != "..")
          names.push_back(name);
      }
      closedir(handle);
    }
    return names;
  }

private:
  static void removeTree(const std::string &path) {
    struct stat info;
    if (lstat(path.c_str(), &info) != 0)
      return;
    if (S_ISDIR(info.st_mode)) {
      for (const std::string &name : list(path))
        removeTree(path + "/" + name);
      rmdir(path.c_str());
    } else {
      unlink(path.c_str());
    }
  }
  std::string path_;
};

inline bool startsWith(const std::string &text, const std::string &prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

inline bool contains(const std::string &text, const std::string &needle) {
  return text.find(needle) != std::string::npos;
}

/// #include lines for every embedded header, so a new header is covered by
/// the compile tests without editing them.
inline std::string includeEveryDeviceHeader() {
  std::string includes;
  for (const auto &header : deviceLibraryHeaders())
    includes += "#include \"" + header.first + "\"\n";
  return includes;
}

/// A kernel touching the mma, ldmatrix, cp.async, barrier and math wrappers,
/// with every result stored so nothing is dead code.
inline std::string deviceLibrarySmokeKernel() {
  return includeEveryDeviceHeader() + R"cuda(
extern "C" __global__ void smoke(const kdac::bf16 *a, const kdac::bf16 *b, float *out) {
  __shared__ __align__(16) kdac::bf16 tileA[16 * 16];
  __shared__ __align__(16) kdac::bf16 tileB[32 * 8];
  int lane = threadIdx.x % 32;
  kdac::cpAsync16(&tileA[lane * 8], &a[lane * 8]);
  // Rows 16-31 are zero-filled without reading b.
  kdac::cpAsync16ZeroFill(&tileB[lane * 8], &b[(lane % 16) * 8], lane < 16);
  kdac::cpAsyncCommit();
  kdac::cpAsyncWait<0>();
  kdac::cpAsyncWaitAll();
  kdac::blockBarrier();
  kdac::u32 fragA[4], fragB[2];
  kdac::ldmatrixX4(fragA, &tileA[kdac::ldmatrixX4Row(lane) * 16 + kdac::ldmatrixX4Col(lane)]);
  kdac::ldmatrixX2Trans(fragB, &tileB[kdac::ldmatrixX2TransRow(lane) * 8]);
  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  kdac::mmaBf16M16N8K16(acc, fragA, fragB, acc);
  kdac::u32 halfA[4] = {kdac::packF16x2(1.f, 2.f), fragA[1], fragA[2], fragA[3]};
  kdac::mmaM16N8K16<kdac::f16>(acc, halfA, fragB, acc);
  float x = acc[0] + kdac::loadAsFloat(&a[lane]);
  x += kdac::expFast(x) + kdac::sigmoidFast(x) + kdac::softplusFast(x) + kdac::exp2Fast(x);
  x += kdac::warpReduceSum(x) + kdac::warpReduceMax<8>(x) + kdac::inverseL2Norm(x * x);
  kdac::namedBarrierSync(1, 32);
  for (int i = 0; i < 4; ++i)
    out[lane * 4 + i] = acc[i] + x;
}
)cuda";
}

using kdac::test::bf16BitsToFloat;
using kdac::test::f16BitsToFloat;
using kdac::test::floatToBf16Bits;
using kdac::test::floatToF16Bits;

} // namespace kdac::rt::test

#endif // KDAC_TEST_UNIT_RUNTIME_RUNTIMETESTSUPPORT_H
