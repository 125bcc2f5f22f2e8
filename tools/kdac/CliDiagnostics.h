//===- CliDiagnostics.h - How kdac prints MLIR diagnostics ------*- C++ -*-===//
//
// A diagnostic with a source location prints as MLIR prints it
// ("file.mlir:3:8: error: ..."); one without (IR built from spec flags has
// none) prints as every other kdac error, "kdac: error: ...", instead of
// "<unknown>:0: error: ...". Ops are never dumped after a message.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TOOLS_KDAC_CLIDIAGNOSTICS_H
#define KDAC_TOOLS_KDAC_CLIDIAGNOSTICS_H

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/SourceMgr.h"

namespace kdac::cli {

class CliDiagnosticHandler {
public:
  CliDiagnosticHandler(llvm::SourceMgr &sourceMgr, mlir::MLIRContext &context);

private:
  mlir::SourceMgrDiagnosticHandler located;
  mlir::ScopedDiagnosticHandler unlocated;
};

} // namespace kdac::cli

#endif // KDAC_TOOLS_KDAC_CLIDIAGNOSTICS_H
