//===- FileIO.h - Bounded reads and atomic writes of files -------*- C++ -*-===//
//
// Every file kdac reads comes through readRegularFile, which refuses what is
// not a regular file (a FIFO would block, /dev/zero never ends) and what is
// larger than the caller's limit, before reading a byte. Every file kdac
// writes goes through writeFileAtomically, so a full disk or a crash leaves
// the old file or none, never a truncated one.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_SUPPORT_FILEIO_H
#define KDAC_SUPPORT_FILEIO_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>

namespace kdac {

/// Reads all of \p path, which must be a regular file of at most \p maxBytes
/// bytes ("-" reads standard input, up to \p maxBytes). Errors are one line
/// starting with the path: "x.mlir: not a regular file (a FIFO)".
llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
readRegularFile(llvm::StringRef path, int64_t maxBytes);

/// Writes \p bytes to \p path through a temporary file in the same directory
/// and a rename; on failure the temporary file is removed and \p path is
/// untouched. "-" writes standard output. Errors start with the path.
llvm::Error writeFileAtomically(llvm::StringRef path, llvm::StringRef bytes);

} // namespace kdac

#endif // KDAC_SUPPORT_FILEIO_H
