//===- SourceChecks.cpp - Checks of .mlir text before it is parsed --------===//
//
// Two scans over the text with string literals and comments blanked out:
// result numbers (`%name#digits`) and SSA forward references into nested
// regions. The second exists because MLIR's parser lets a definition inside
// a non-isolated region resolve a forward reference made outside it; if the
// file then fails to parse, the region is freed while the outside user still
// points into it (a heap corruption, as in llvm-project issue 107121). kdac's
// IR never needs such a reference, so the scan refuses it before parsing.
//
//===----------------------------------------------------------------------===//
#include "kdac/Frontend/SourceChecks.h"

#include "kdac/Spec/Limits.h"
#include "kdac/Support/FileIO.h"
#include "kdac/Support/StringLiterals.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

using namespace kdac;

static bool isIdentifierChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
         c == '.' || c == '-';
}

/// MLIR's lexer also skips NUL bytes inside the buffer.
static bool isSpace(char c) {
  return c == '\0' || std::isspace(static_cast<unsigned char>(c));
}

static bool isDigit(char c) {
  return std::isdigit(static_cast<unsigned char>(c));
}

/// The text with string literals (quotes included) and `//` comments turned
/// into spaces, so offsets and line breaks stay where they were. As in MLIR's
/// lexer, a comment ends at '\n' or '\r'.
static std::string blankStringsAndComments(llvm::StringRef text) {
  std::string clean(text.str());
  bool inComment = false;
  StringLiteralTracker strings;
  for (size_t i = 0; i < clean.size(); ++i) {
    char c = clean[i];
    if (c == '\n' || (c == '\r' && inComment)) {
      inComment = false;
      continue;
    }
    if (!inComment && !strings.skip(c)) {
      if (c != '/' || i + 1 >= clean.size() || clean[i + 1] != '/')
        continue;
      inComment = true;
    }
    clean[i] = ' ';
  }
  return clean;
}

namespace {

/// Where a line and column are in the text, for messages.
struct SourcePosition {
  int line = 1, column = 1;
};

class SourceScanner {
public:
  SourceScanner(llvm::StringRef clean, llvm::StringRef name)
      : text(clean), name(name) {
    lineStarts.push_back(0);
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n')
        lineStarts.push_back(i + 1);
  }

  llvm::Error checkResultNumbers();
  llvm::Error checkForwardReferences();

private:
  /// Names defined in one `{ }` and the uses in it (or in regions closed
  /// inside it) that no visible definition resolved.
  struct Scope {
    llvm::StringMap<bool> defined;
    llvm::StringMap<size_t> unresolved;
  };
  enum class ParenKind { FunctionArguments, BlockArguments, Other };

  SourcePosition position(size_t offset) const;
  llvm::Error errorAt(size_t offset, const llvm::Twine &message) const;
  size_t skipSpaces(size_t i) const;
  size_t nameEnd(size_t i) const;
  size_t matchingParen(size_t open) const;
  ParenKind classifyParen(size_t open) const;
  bool startsLine(size_t i) const;
  bool precededByKeyword(size_t i, llvm::StringRef keyword) const;
  bool resultListAt(size_t i, std::vector<llvm::StringRef> &names,
                    size_t &end) const;
  llvm::Error define(llvm::StringRef ssaName, size_t offset, bool nextRegion);
  void use(llvm::StringRef ssaName, size_t offset);

  llvm::StringRef text, name;
  std::vector<size_t> lineStarts;
  std::vector<Scope> scopes;
  std::vector<llvm::StringRef> pendingDefinitions;
};

} // namespace

SourcePosition SourceScanner::position(size_t offset) const {
  auto it = std::upper_bound(lineStarts.begin(), lineStarts.end(), offset);
  size_t lineIndex = size_t(it - lineStarts.begin()) - 1;
  return {int(lineIndex + 1), int(offset - lineStarts[lineIndex] + 1)};
}

llvm::Error SourceScanner::errorAt(size_t offset,
                                   const llvm::Twine &message) const {
  SourcePosition at = position(offset);
  return llvm::createStringError(name + ":" + llvm::Twine(at.line) + ":" +
                                 llvm::Twine(at.column) + ": " + message);
}

size_t SourceScanner::skipSpaces(size_t i) const {
  while (i < text.size() && isSpace(text[i]))
    ++i;
  return i;
}

size_t SourceScanner::nameEnd(size_t i) const {
  while (i < text.size() && isIdentifierChar(text[i]))
    ++i;
  return i;
}

size_t SourceScanner::matchingParen(size_t open) const {
  int depth = 0;
  for (size_t i = open; i < text.size(); ++i) {
    if (text[i] == '(')
      ++depth;
    else if (text[i] == ')' && --depth == 0)
      return i;
  }
  return text.size();
}

/// `@f(%a: t)` declares a function's arguments and `^bb(%a: t):` a block's;
/// any other parenthesis holds uses.
SourceScanner::ParenKind SourceScanner::classifyParen(size_t open) const {
  size_t i = open;
  while (i > 0 && isSpace(text[i - 1]))
    --i;
  if (i > 0 && text[i - 1] == '@')
    return ParenKind::FunctionArguments;
  size_t start = i;
  while (start > 0 && isIdentifierChar(text[start - 1]))
    --start;
  if (start == i || start == 0)
    return ParenKind::Other;
  if (text[start - 1] == '@')
    return ParenKind::FunctionArguments;
  if (text[start - 1] != '^')
    return ParenKind::Other;
  size_t close = matchingParen(open);
  size_t after = skipSpaces(close + 1);
  return after < text.size() && text[after] == ':' ? ParenKind::BlockArguments
                                                   : ParenKind::Other;
}

bool SourceScanner::startsLine(size_t i) const {
  while (i > 0 && text[i - 1] != '\n') {
    if (!isSpace(text[i - 1]))
      return false;
    --i;
  }
  return true;
}

bool SourceScanner::precededByKeyword(size_t i,
                                      llvm::StringRef keyword) const {
  while (i > 0 && isSpace(text[i - 1]))
    --i;
  size_t start = i;
  while (start > 0 && isIdentifierChar(text[start - 1]))
    --start;
  return text.slice(start, i) == keyword;
}

/// `%a, %b:2 = ...` at the start of a line: the results an operation defines.
bool SourceScanner::resultListAt(size_t i, std::vector<llvm::StringRef> &names,
                                 size_t &end) const {
  names.clear();
  while (true) {
    if (i >= text.size() || text[i] != '%')
      return false;
    size_t stop = nameEnd(i + 1);
    if (stop == i + 1)
      return false;
    names.push_back(text.slice(i, stop));
    i = skipSpaces(stop);
    if (i < text.size() && text[i] == ':') {
      size_t digits = skipSpaces(i + 1);
      if (digits >= text.size() || !isDigit(text[digits]))
        return false;
      while (digits < text.size() && isDigit(text[digits]))
        ++digits;
      i = skipSpaces(digits);
    }
    if (i < text.size() && text[i] == ',') {
      i = skipSpaces(i + 1);
      continue;
    }
    if (i < text.size() && text[i] == '=' &&
        (i + 1 >= text.size() || text[i + 1] != '=')) {
      end = i;
      return true;
    }
    return false;
  }
}

/// A definition in the current region (or, for \p nextRegion, in the region
/// about to open) may not share its name with a definition or an unresolved
/// use of an enclosing region: that is the pattern MLIR mishandles.
llvm::Error SourceScanner::define(llvm::StringRef ssaName, size_t offset,
                                  bool nextRegion) {
  size_t enclosing = nextRegion ? scopes.size() : scopes.size() - 1;
  for (size_t s = 0; s < enclosing; ++s) {
    auto use = scopes[s].unresolved.find(ssaName);
    if (use != scopes[s].unresolved.end())
      return errorAt(offset,
                     "'" + ssaName +
                         "' is defined inside a region after a use outside "
                         "it at line " +
                         llvm::Twine(position(use->second).line) +
                         "; kdac refuses forward references into a region");
    if (scopes[s].defined.count(ssaName))
      return errorAt(offset, "'" + ssaName +
                                 "' is defined again inside a region "
                                 "where it is already visible");
  }
  if (nextRegion)
    pendingDefinitions.push_back(ssaName);
  else
    scopes.back().defined[ssaName] = true;
  return llvm::Error::success();
}

void SourceScanner::use(llvm::StringRef ssaName, size_t offset) {
  for (const Scope &scope : scopes)
    if (scope.defined.count(ssaName))
      return;
  scopes.back().unresolved.try_emplace(ssaName, offset);
}

llvm::Error SourceScanner::checkResultNumbers() {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%')
      continue;
    // The lexer reads `%x #N` as two tokens, so the number may follow a space.
    size_t j = skipSpaces(nameEnd(i + 1));
    if (j >= text.size() || text[j] != '#')
      continue;
    size_t digits = j + 1;
    uint64_t number = 0;
    bool tooLarge = false;
    while (digits < text.size() && isDigit(text[digits])) {
      number = number * 10 + uint64_t(text[digits] - '0');
      tooLarge |= number > uint64_t(limits::kMaxResultNumber);
      ++digits;
    }
    if (tooLarge)
      return llvm::createStringError(
          name + ":" + llvm::Twine(position(i).line) + ": result number " +
          text.slice(j + 1, digits) + " is over the limit of " +
          llvm::Twine(limits::kMaxResultNumber));
    i = digits - 1;
  }
  return llvm::Error::success();
}

llvm::Error SourceScanner::checkForwardReferences() {
  scopes.assign(1, Scope());
  std::vector<ParenKind> parens;
  std::vector<bool> braceOpensScope;
  std::vector<llvm::StringRef> results;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '(') {
      parens.push_back(classifyParen(i));
    } else if (c == ')') {
      if (!parens.empty())
        parens.pop_back();
    } else if (c == '{') {
      // `@f(%a: t {kdk.arg = #kdk.tensor<"q">})`: an argument's attribute dictionary,
      // not a region; the pending arguments still belong to the body.
      bool argumentAttributes =
          !parens.empty() && parens.back() == ParenKind::FunctionArguments;
      braceOpensScope.push_back(!argumentAttributes);
      if (argumentAttributes)
        continue;
      scopes.emplace_back();
      // `@f(%a: t) attributes {...} {`: the arguments belong to the body.
      if (precededByKeyword(i, "attributes"))
        continue;
      for (llvm::StringRef pending : pendingDefinitions)
        scopes.back().defined[pending] = true;
      pendingDefinitions.clear();
    } else if (c == '}') {
      bool opensScope = braceOpensScope.empty() || braceOpensScope.back();
      if (!braceOpensScope.empty())
        braceOpensScope.pop_back();
      if (!opensScope || scopes.size() == 1)
        continue;
      // A use left unresolved in a closed region stays a forward reference
      // of the enclosing one: a later sibling region may still resolve it.
      Scope closed = std::move(scopes.back());
      scopes.pop_back();
      for (auto &entry : closed.unresolved)
        if (!llvm::any_of(scopes, [&](const Scope &scope) {
              return scope.defined.count(entry.getKey());
            }))
          scopes.back().unresolved.try_emplace(entry.getKey(), entry.second);
    } else if (c == '%') {
      size_t end = nameEnd(i + 1);
      if (end == i + 1)
        continue;
      size_t resultsEnd = 0;
      if (startsLine(i) && resultListAt(i, results, resultsEnd)) {
        for (llvm::StringRef result : results)
          if (llvm::Error e = define(result, i, /*nextRegion=*/false))
            return e;
        i = resultsEnd;
        continue;
      }
      llvm::StringRef ssaName = text.slice(i, end);
      size_t next = skipSpaces(end);
      char after = next < text.size() ? text[next] : '\0';
      bool assigns =
          after == '=' && (next + 1 >= text.size() || text[next + 1] != '=');
      ParenKind paren = parens.empty() ? ParenKind::Other : parens.back();
      llvm::Error e = llvm::Error::success();
      if (assigns || (after == ':' && paren == ParenKind::FunctionArguments))
        e = define(ssaName, i, /*nextRegion=*/true);
      else if (after == ':' && paren == ParenKind::BlockArguments)
        e = define(ssaName, i, /*nextRegion=*/false);
      else
        use(ssaName, i);
      if (e)
        return e;
      i = end - 1;
    }
  }
  return llvm::Error::success();
}

llvm::Error kdac::checkMlirSource(llvm::StringRef text, llvm::StringRef name) {
  std::string clean = blankStringsAndComments(text);
  SourceScanner scanner(clean, name);
  if (llvm::Error e = scanner.checkResultNumbers())
    return e;
  return scanner.checkForwardReferences();
}

llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
kdac::readMlirSource(llvm::StringRef path) {
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      readRegularFile(path, limits::kMaxTextFileBytes);
  if (!buffer)
    return buffer.takeError();
  if (llvm::Error e = checkMlirSource((*buffer)->getBuffer(), path))
    return std::move(e);
  return buffer;
}
