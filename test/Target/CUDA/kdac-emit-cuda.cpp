//===- kdac-emit-cuda.cpp - Runs the CUDA emitter on a .mlir file ---------===//
//
// A test driver for lit: parses a module of kdk kernels and prints the CUDA
// source emitCuda produces (launch descriptor comment included), or the
// diagnostics. Supports --split-input-file and --verify-diagnostics like
// mlir-opt so error cases live together in one file.
//
//===----------------------------------------------------------------------===//
#include "kdac/Target/CUDA/CudaEmitter.h"

#include "KDA/KDAOps.h"
#include "KDK/KDKOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/ToolUtilities.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

static llvm::cl::opt<std::string> inputFilename(llvm::cl::Positional,
                                                llvm::cl::desc("<input .mlir>"),
                                                llvm::cl::init("-"));
static llvm::cl::opt<std::string> outputFilename("o",
                                                 llvm::cl::desc("Output file"),
                                                 llvm::cl::init("-"));
static llvm::cl::opt<bool> splitInputFile(
    "split-input-file",
    llvm::cl::desc("Emit each '// -----' chunk of the input separately"));
static llvm::cl::opt<bool> verifyDiagnostics(
    "verify-diagnostics",
    llvm::cl::desc("Check diagnostics against expected-* comments"));
static llvm::cl::opt<bool> launchOnly(
    "launch-descriptor-only",
    llvm::cl::desc("Print only the launch descriptor text"));

static LogicalResult processBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer,
                                   raw_ostream &os) {
  DialectRegistry registry;
  registry.insert<kda::KDADialect, kdk::KDKDialect, func::FuncDialect,
                  arith::ArithDialect, scf::SCFDialect, memref::MemRefDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // As mlir-opt: expected-* comments name errors, not the op dumps.
  context.printOpOnDiagnostic(!verifyDiagnostics);

  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
  auto run = [&]() -> LogicalResult {
    OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
    if (!module)
      return failure();
    FailureOr<kdac::EmittedCuda> emitted = kdac::emitCuda(*module);
    if (failed(emitted))
      return failure();
    os << (launchOnly ? kdac::printLaunchDescriptor(emitted->launch)
                      : emitted->source);
    return success();
  };
  if (!verifyDiagnostics) {
    SourceMgrDiagnosticHandler handler(sourceMgr, &context);
    return run();
  }
  SourceMgrDiagnosticVerifierHandler handler(sourceMgr, &context);
  (void)run();
  return handler.verify();
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::cl::ParseCommandLineOptions(argc, argv,
                                    "kdac CUDA emitter test driver\n");
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input = openInputFile(inputFilename, &error);
  if (!input) {
    llvm::errs() << error << "\n";
    return 1;
  }
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputFilename, &error);
  if (!output) {
    llvm::errs() << error << "\n";
    return 1;
  }
  LogicalResult result =
      splitInputFile
          ? splitAndProcessBuffer(std::move(input), processBuffer,
                                  output->os(), kDefaultSplitMarker,
                                  kDefaultSplitMarker)
          : processBuffer(std::move(input), output->os());
  if (failed(result))
    return 1;
  output->keep();
  return 0;
}
