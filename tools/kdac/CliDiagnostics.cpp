//===- CliDiagnostics.cpp - How kdac prints MLIR diagnostics --------------===//
//
// The handler registered last runs first: diagnostics at an unknown location
// are printed here and consumed; the rest fall through to the source
// manager's handler.
//
//===----------------------------------------------------------------------===//
#include "CliDiagnostics.h"

#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace kdac::cli {

static const char *severityName(DiagnosticSeverity severity) {
  switch (severity) {
  case DiagnosticSeverity::Error:
    return "error";
  case DiagnosticSeverity::Warning:
    return "warning";
  case DiagnosticSeverity::Note:
    return "note";
  case DiagnosticSeverity::Remark:
    return "remark";
  }
  return "error";
}

CliDiagnosticHandler::CliDiagnosticHandler(llvm::SourceMgr &sourceMgr,
                                           MLIRContext &context)
    : located(sourceMgr, &context),
      unlocated(&context, [](Diagnostic &diag) -> LogicalResult {
        if (!isa<UnknownLoc>(diag.getLocation()))
          return failure(); // the source manager's handler prints it
        llvm::errs() << "kdac: " << severityName(diag.getSeverity()) << ": "
                     << diag.str() << "\n";
        for (Diagnostic &note : diag.getNotes())
          if (isa<UnknownLoc>(note.getLocation()))
            llvm::errs() << "kdac: note: " << note.str() << "\n";
        return success();
      }) {
  context.printOpOnDiagnostic(false);
}

} // namespace kdac::cli
