//===- CompileCommand.cpp - kdac's default command: compile to a stage ----===//
//
// Reads a .mlir file or builds kda.recurrence from spec flags, runs the
// shared pipeline up to the stage named by --emit, and prints the result.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "kdac/Frontend/SpecToIR.h"
#include "kdac/Pipelines/Pipelines.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
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
static cl::opt<std::string> emitStage(
    "emit",
    cl::desc("Stage to stop after: kda (the verified kda.recurrence), chunked "
             "(kda-chunk), expanded (UT inverse expanded, decay anchored), "
             "kernel (kdk thread-block kernels)"),
    cl::init("kda"));

static const std::pair<llvm::StringRef, Stage> kStages[] = {
    {"kda", Stage::KDA},
    {"chunked", Stage::Chunked},
    {"expanded", Stage::Expanded},
    {"kernel", Stage::Kernel}};

int runCompile() {
  std::optional<Stage> stage;
  for (auto [name, value] : kStages)
    if (name == emitStage.getValue())
      stage = value;
  if (!stage)
    return reportError("invalid value '" + emitStage +
                       "' for --emit (expected kda, chunked, expanded or kernel)");
  std::optional<ChunkedPipelineOptions> pipelineOptions = pipelineOptionsFromFlags();
  if (!pipelineOptions)
    return 1;

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

  PassManager pm(&context);
  buildPipeline(pm, *stage, *pipelineOptions);
  if (failed(pm.run(*module)))
    return 1; // The failing pass printed a located diagnostic.

  std::string message;
  auto output = openOutputFile(outputFile, &message);
  if (!output)
    return reportError(message);
  module->print(output->os());
  output->keep();
  return 0;
}

} // namespace kdac::cli
