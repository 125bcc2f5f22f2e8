//===- SourceChecks.h - Checks of .mlir text before it is parsed -*- C++ -*-===//
//
// MLIR's parser trusts some numbers in the text: a result reference
// `%x#2147483647` makes it size a table of that many entries, and runs out
// of memory. Every tool that parses a .mlir file (kdac, kda-opt, the fuzzer)
// passes the text through checkMlirSource first.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_FRONTEND_SOURCECHECKS_H
#define KDAC_FRONTEND_SOURCECHECKS_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace kdac {

/// An error naming the line when \p text refers to a result number above
/// limits::kMaxResultNumber; \p name prefixes the message.
llvm::Error checkMlirSource(llvm::StringRef text, llvm::StringRef name);

} // namespace kdac

#endif // KDAC_FRONTEND_SOURCECHECKS_H
