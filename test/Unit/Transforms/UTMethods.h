//===- UTMethods.h - The UT inverse methods the equivalence tests sweep -*- C++ -*-===//
//
// The forward and the backward equivalence tests check every construction
// of (I + A)^-1 that kda-ut-expand offers for a chunk size; one list keeps
// them sweeping the same ones.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TEST_UNIT_TRANSFORMS_UTMETHODS_H
#define KDAC_TEST_UNIT_TRANSFORMS_UTMETHODS_H

#include <cstdint>
#include <vector>

namespace kdac::test {

struct Method {
  const char *utMethod;
  const char *diagMethod;
};

/// Every inverse construction that applies to chunk size C.
inline std::vector<Method> methodsFor(int64_t chunk) {
  std::vector<Method> methods = {{"forward-substitution", "forward-substitution"},
                                 {"blocked", "forward-substitution"},
                                 {"blocked", "neumann"}};
  if (chunk <= 16)
    methods.push_back({"neumann", "forward-substitution"});
  return methods;
}

} // namespace kdac::test

#endif // KDAC_TEST_UNIT_TRANSFORMS_UTMETHODS_H
