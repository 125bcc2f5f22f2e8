//===- kdac-translate.cpp - kdk kernels out of MLIR -----------------------===//
//
// kda-opt's sibling for the last arrow of the data path: the CUDA emitter as
// registered MLIR translations (--kdk-to-cuda, --kdk-to-launch-descriptor),
// so that `kdac --emit=kda | kda-opt --kdac-kernel-pipeline |
// kdac-translate --kdk-to-cuda` is what `kdac --emit=cuda` prints. The
// driver is mlir-translate's (-split-input-file, -verify-diagnostics, -o),
// except that the input goes through kdac's bounded reader first, as in
// kda-opt, so a FIFO or /dev/zero is one error line.
//
//===----------------------------------------------------------------------===//
#include "kdac/Frontend/SourceChecks.h"
#include "kdac/Frontend/SpecToIR.h"
#include "kdac/Target/CUDA/CudaEmitter.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/ToolUtilities.h"
#include "mlir/Tools/mlir-translate/Translation.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

namespace {
/// Emits \p op (a module of kdk kernels) and prints what \p print selects.
LogicalResult emit(Operation *op, raw_ostream &os,
                   std::string (*print)(const kdac::EmittedCuda &)) {
  auto module = dyn_cast<ModuleOp>(op);
  if (!module)
    return op->emitError("kdac-translate: expects a builtin.module");
  FailureOr<kdac::EmittedCuda> emitted = kdac::emitCuda(module);
  if (failed(emitted))
    return failure();
  os << print(*emitted);
  return success();
}

void registerTranslations() {
  static TranslateFromMLIRRegistration cuda(
      "kdk-to-cuda",
      "kdk kernels -> CUDA C++ (the launch descriptor as a leading comment)",
      [](Operation *op, raw_ostream &os) {
        return emit(op, os,
                    [](const kdac::EmittedCuda &e) { return e.source; });
      },
      kdac::registerKdacDialects);
  static TranslateFromMLIRRegistration launch(
      "kdk-to-launch-descriptor",
      "kdk kernels -> the launch descriptor text the runtime reads",
      [](Operation *op, raw_ostream &os) {
        return emit(op, os, [](const kdac::EmittedCuda &e) {
          return kdac::printLaunchDescriptor(e.launch);
        });
      },
      kdac::registerKdacDialects);
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerTranslations();
  llvm::cl::opt<std::string> inputFilename(llvm::cl::Positional,
                                           llvm::cl::desc("<input .mlir>"),
                                           llvm::cl::init("-"));
  llvm::cl::opt<std::string> outputFilename("o", llvm::cl::desc("Output file"),
                                            llvm::cl::init("-"));
  llvm::cl::opt<bool> splitInputFile(
      "split-input-file",
      llvm::cl::desc(
          "Translate each '// -----' chunk of the input separately"));
  llvm::cl::opt<bool> verifyDiagnostics(
      "verify-diagnostics",
      llvm::cl::desc("Check diagnostics against expected-* comments"));
  llvm::cl::opt<const Translation *, false, TranslationParser> translation(
      llvm::cl::desc("Translation to perform"), llvm::cl::Required);
  llvm::cl::ParseCommandLineOptions(argc, argv, "kdac translation driver\n");

  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> input =
      kdac::readMlirSource(inputFilename);
  if (!input) {
    llvm::errs() << "kdac-translate: error: "
                 << llvm::toString(input.takeError()) << "\n";
    return 1;
  }
  std::string message;
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputFilename, &message);
  if (!output) {
    llvm::errs() << "kdac-translate: error: " << message << "\n";
    return 1;
  }

  auto processBuffer = [&](std::unique_ptr<llvm::MemoryBuffer> buffer,
                           raw_ostream &os) -> LogicalResult {
    MLIRContext context;
    // Errors are located lines; a dump of the whole module would bury them.
    context.printOpOnDiagnostic(false);
    auto sourceMgr = std::make_shared<llvm::SourceMgr>();
    sourceMgr->AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
    if (!verifyDiagnostics) {
      SourceMgrDiagnosticHandler handler(*sourceMgr, &context);
      return (*translation)(sourceMgr, os, &context);
    }
    SourceMgrDiagnosticVerifierHandler handler(*sourceMgr, &context);
    (void)(*translation)(sourceMgr, os, &context);
    return handler.verify();
  };
  LogicalResult result =
      splitInputFile ? splitAndProcessBuffer(std::move(*input), processBuffer,
                                             output->os(), kDefaultSplitMarker,
                                             kDefaultSplitMarker)
                     : processBuffer(std::move(*input), output->os());
  if (failed(result))
    return 1;
  output->os().flush();
  if (output->os().has_error()) {
    llvm::errs() << "kdac-translate: error: cannot write " << outputFilename
                 << ": " << output->os().error().message() << "\n";
    output->os().clear_error();
    return 1;
  }
  output->keep();
  return 0;
}
