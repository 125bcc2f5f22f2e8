//===- SourceChecks.h - Checks of .mlir text before it is parsed -*- C++ -*-===//
//
// MLIR's parser trusts some of the text: a result reference `%x#2147483647`
// makes it size a table of that many entries (and run out of memory), and a
// forward reference resolved by a definition inside a region that is then
// freed on a later parse error corrupts the heap. Every tool that parses a
// .mlir file (kdac, kda-opt, kdac-translate, the fuzzer) passes the text
// through checkMlirSource first; the tools read it with readMlirSource.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_FRONTEND_SOURCECHECKS_H
#define KDAC_FRONTEND_SOURCECHECKS_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <memory>

namespace kdac {

/// An error naming the line when \p text refers to a result number above
/// limits::kMaxResultNumber, or uses an SSA name outside a region before a
/// definition inside it (kdac's IR never needs either); \p name prefixes the
/// message.
llvm::Error checkMlirSource(llvm::StringRef text, llvm::StringRef name);

/// A .mlir input as every tool reads it: through readRegularFile (a regular
/// file of at most limits::kMaxTextFileBytes, or stdin for "-"), then
/// checkMlirSource.
llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
readMlirSource(llvm::StringRef path);

} // namespace kdac

#endif // KDAC_FRONTEND_SOURCECHECKS_H
