//===- BoundedJson.cpp - JSON parsing with a nesting bound ----------------===//
//
// A linear scan that tracks string literals (and their escapes) so that
// brackets inside strings are not counted, then llvm::json::parse.
//
//===----------------------------------------------------------------------===//
#include "kdac/Support/BoundedJson.h"

#include "kdac/Spec/Limits.h"

#include "llvm/ADT/Twine.h"

#include <algorithm>

using namespace kdac;

int kdac::jsonNestingDepth(llvm::StringRef text) {
  int depth = 0, deepest = 0;
  bool inString = false, escaped = false;
  for (char c : text) {
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
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
