//===- SourceChecks.cpp - Checks of .mlir text before it is parsed --------===//
//
// A scan for `%name#digits` outside string literals and comments.
//
//===----------------------------------------------------------------------===//
#include "kdac/Frontend/SourceChecks.h"

#include "kdac/Spec/Limits.h"
#include "kdac/Support/StringLiterals.h"

#include "llvm/ADT/Twine.h"

#include <cctype>

using namespace kdac;

static bool isIdentifierChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
         c == '.' || c == '-';
}

llvm::Error kdac::checkMlirSource(llvm::StringRef text, llvm::StringRef name) {
  int line = 1;
  bool inComment = false;
  StringLiteralTracker strings;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      inComment = false;
      continue;
    }
    if (inComment || strings.skip(c))
      continue;
    if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      inComment = true;
      continue;
    }
    if (c != '%')
      continue;
    size_t j = i + 1;
    while (j < text.size() && isIdentifierChar(text[j]))
      ++j;
    if (j >= text.size() || text[j] != '#')
      continue;
    size_t digits = j + 1;
    uint64_t number = 0;
    bool tooLarge = false;
    while (digits < text.size() &&
           std::isdigit(static_cast<unsigned char>(text[digits]))) {
      number = number * 10 + uint64_t(text[digits] - '0');
      tooLarge |= number > uint64_t(limits::kMaxResultNumber);
      ++digits;
    }
    if (tooLarge)
      return llvm::createStringError(
          name + ":" + llvm::Twine(line) + ": result number " +
          text.slice(j + 1, digits) + " is over the limit of " +
          llvm::Twine(limits::kMaxResultNumber));
    i = digits - 1;
  }
  return llvm::Error::success();
}
