//===- CompileCommand.cpp - kdac's default command: compile to a stage ----===//
//
// Reads a .mlir file or builds kda.recurrence from spec flags, runs the
// shared pipeline up to the stage named by --emit, and prints the result.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "kdac/Frontend/SpecToIR.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

namespace cl = llvm::cl;
using namespace mlir;

namespace kdac::cli {

static cl::opt<std::string> inputFile(cl::Positional,
                                      cl::desc("[input .mlir file]"),
                                      cl::init(""));
static cl::opt<std::string> outputFile("o", cl::desc("Output file (default: stdout)"),
                                       cl::value_desc("file"), cl::init("-"));
static cl::opt<std::string>
    emitStage("emit", cl::desc("Stage to stop after: kda (the verified "
                               "kda.recurrence module)"),
              cl::init("kda"));

static const llvm::SmallVector<llvm::StringRef> kStages = {"kda"};

int runCompile() {
  if (!llvm::is_contained(kStages, emitStage.getValue()))
    return reportError("invalid value '" + emitStage + "' for --emit (expected " +
                       llvm::join(kStages, ", ") + ")");

  DialectRegistry registry;
  registerKdacDialects(registry);
  MLIRContext context(registry);
  OwningOpRef<ModuleOp> module;
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  if (!inputFile.empty()) {
    if (anySpecFlagGiven())
      return reportError("spec flags cannot be combined with an input file");
    std::string message;
    auto buffer = openInputFile(inputFile, &message);
    if (!buffer)
      return reportError(message);
    sourceMgr.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
    module = parseSourceFile<ModuleOp>(sourceMgr, &context);
    if (!module)
      return 1; // The parser or verifier already printed a located diagnostic.
  } else {
    std::optional<KernelSpec> spec = specFromFlags();
    if (!spec)
      return 1;
    module = buildRecurrenceModule(context, *spec);
    if (!module)
      return reportError("internal error: the module built from the spec does "
                         "not verify");
  }

  std::string message;
  auto output = openOutputFile(outputFile, &message);
  if (!output)
    return reportError(message);
  module->print(output->os());
  output->keep();
  return 0;
}

} // namespace kdac::cli
