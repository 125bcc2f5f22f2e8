//===- BoundedJson.h - JSON parsing with a nesting bound ---------*- C++ -*-===//
//
// llvm::json::parse recurses once per nesting level, so 70 KB of '[' would
// overflow the stack. Every JSON text kdac reads from outside (safetensors
// headers and metadata, tuning databases) is parsed through parseBoundedJson,
// which first measures the nesting without recursion.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_SUPPORT_BOUNDEDJSON_H
#define KDAC_SUPPORT_BOUNDEDJSON_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace kdac {

/// Deepest nesting of arrays and objects in \p text (brackets inside strings
/// do not count); does not otherwise check that \p text is JSON.
int jsonNestingDepth(llvm::StringRef text);

/// llvm::json::parse after checking the nesting against
/// limits::kMaxJsonDepth; a deeper text is an error saying so.
llvm::Expected<llvm::json::Value> parseBoundedJson(llvm::StringRef text);

} // namespace kdac

#endif // KDAC_SUPPORT_BOUNDEDJSON_H
