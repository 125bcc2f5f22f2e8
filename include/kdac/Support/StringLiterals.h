//===- StringLiterals.h - Skipping quoted text in a scan ---------*- C++ -*-===//
//
// JSON and MLIR share the string-literal rule that matters to a byte scan:
// '"' opens and closes, a backslash escapes the next character. The
// pre-parse checks (JSON nesting, MLIR result numbers) feed each character
// through one tracker so that brackets or '%' inside strings are not counted.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_SUPPORT_STRINGLITERALS_H
#define KDAC_SUPPORT_STRINGLITERALS_H

namespace kdac {

class StringLiteralTracker {
public:
  /// Consumes \p c; true when it belongs to a string literal (its quotes
  /// included), so the scan should skip it.
  bool skip(char c) {
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
      return true;
    }
    if (c == '"') {
      inString = true;
      return true;
    }
    return false;
  }

private:
  bool inString = false, escaped = false;
};

} // namespace kdac

#endif // KDAC_SUPPORT_STRINGLITERALS_H
