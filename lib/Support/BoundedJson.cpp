//===- BoundedJson.cpp - JSON parsing with a nesting bound ----------------===//
//
// A linear scan that skips string literals (StringLiteralTracker) so that
// brackets inside strings are not counted, then llvm::json::parse.
//
//===----------------------------------------------------------------------===//
#include "kdac/Support/BoundedJson.h"

#include "kdac/Spec/Limits.h"
#include "kdac/Support/StringLiterals.h"

#include "llvm/ADT/Twine.h"

#include <algorithm>

using namespace kdac;

int kdac::jsonNestingDepth(llvm::StringRef text) {
  int depth = 0, deepest = 0;
  StringLiteralTracker strings;
  for (char c : text) {
    if (strings.skip(c))
      continue;
    if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      depth = std::max(depth - 1, 0);
    }
  }
  return deepest;
}

llvm::Expected<llvm::json::Value> kdac::parseBoundedJson(llvm::StringRef text) {
  int depth = jsonNestingDepth(text);
  if (depth > limits::kMaxJsonDepth)
    return llvm::createStringError(
        "JSON nested " + llvm::Twine(depth) + " levels deep, over the limit of " +
        llvm::Twine(limits::kMaxJsonDepth));
  return llvm::json::parse(text);
}
