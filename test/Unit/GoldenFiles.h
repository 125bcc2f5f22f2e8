//===- GoldenFiles.h - Where the FLA golden vectors are, for tests -*- C++
//-*-===//
//
// The tests that walk every golden vector (reference, pass equivalence, GPU)
// find them the same way: $KDAC_GOLDEN_DIR when set, because the GPU machine
// keeps them elsewhere than the build machine, else the directory CMake
// passed as KDAC_GOLDEN_DIR. The gradient goldens likewise, through
// KDAC_GOLDEN_BWD_DIR.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TEST_UNIT_GOLDENFILES_H
#define KDAC_TEST_UNIT_GOLDENFILES_H

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

namespace kdac::test {

inline std::string goldenDirectory() {
  const char *dir = std::getenv("KDAC_GOLDEN_DIR");
  return dir ? dir : KDAC_GOLDEN_DIR;
}

/// The gradient goldens (../shared/golden_bwd), found the same way through
/// $KDAC_GOLDEN_BWD_DIR and CMake's KDAC_GOLDEN_BWD_DIR.
inline std::string goldenBwdDirectory() {
  const char *dir = std::getenv("KDAC_GOLDEN_BWD_DIR");
  return dir ? dir : KDAC_GOLDEN_BWD_DIR;
}

/// The case files (.safetensors) in \p directory, sorted by path.
inline std::vector<std::string> caseFilesIn(const std::string &directory) {
  std::vector<std::string> files;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(directory, ec), end;
       it != end && !ec; it.increment(ec))
    if (llvm::sys::path::extension(it->path()) == ".safetensors")
      files.push_back(it->path());
  std::sort(files.begin(), files.end());
  return files;
}

/// The golden case files (.safetensors), sorted by path.
inline std::vector<std::string> goldenFiles() {
  return caseFilesIn(goldenDirectory());
}

/// The gradient golden files, sorted by path.
inline std::vector<std::string> goldenBwdFiles() {
  return caseFilesIn(goldenBwdDirectory());
}

} // namespace kdac::test

#endif // KDAC_TEST_UNIT_GOLDENFILES_H
