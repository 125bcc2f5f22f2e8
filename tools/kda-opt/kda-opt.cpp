//===- kda-opt.cpp - The kdac optimizer driver ----------------------------===//
//
// MlirOptMain with the project's dialects and passes, for lit tests and for
// running any pass or pipeline by hand. The input goes through kdac's
// bounded reader first, so a FIFO or /dev/zero is one error line instead of
// a hang or an out-of-memory abort.
//
//===----------------------------------------------------------------------===//
#include "kdac/Frontend/SourceChecks.h"
#include "kdac/Frontend/SpecToIR.h"
#include "kdac/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  kdac::registerKdacPassesAndPipelines();
  mlir::DialectRegistry registry;
  kdac::registerKdacDialects(registry);
  auto [inputFile, outputFile] = mlir::registerAndParseCLIOptions(
      argc, argv, "kdac optimizer driver\n", registry);

  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> input =
      kdac::readMlirSource(inputFile);
  if (!input) {
    llvm::errs() << "kda-opt: error: " << llvm::toString(input.takeError())
                 << "\n";
    return 1;
  }
  std::string message;
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputFile, &message);
  if (!output) {
    llvm::errs() << "kda-opt: error: " << message << "\n";
    return 1;
  }
  mlir::MlirOptMainConfig config = mlir::MlirOptMainConfig::createFromCLOptions();
  if (mlir::failed(mlir::MlirOptMain(output->os(), std::move(*input), registry,
                                     config)))
    return 1;
  output->os().flush();
  if (output->os().has_error()) {
    llvm::errs() << "kda-opt: error: cannot write " << outputFile << ": "
                 << output->os().error().message() << "\n";
    output->os().clear_error();
    return 1;
  }
  output->keep();
  return 0;
}
