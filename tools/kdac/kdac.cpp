//===- kdac.cpp - The kdac compiler driver --------------------------------===//
//
// Entry point: parses the command line, turns any parse error into one line,
// and dispatches to the chosen subcommand.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;

namespace kdac::cli {

cl::SubCommand checkCommand(
    "check", "Run a backend on a case file and compare with its expected "
             "outputs");
cl::SubCommand genCaseCommand(
    "gen-case", "Write a random case (inputs and reference outputs) for a "
                "spec");

int reportError(const llvm::Twine &message) {
  llvm::errs() << "kdac: error: " << message << "\n";
  return 1;
}

} // namespace kdac::cli

/// LLVM's parser may print a hint on a second line; keep it to one line.
static int reportParseErrors(llvm::StringRef errors) {
  llvm::SmallVector<llvm::StringRef> lines;
  errors.trim().split(lines, '\n', -1, false);
  std::string joined;
  for (llvm::StringRef line : lines) {
    line = line.trim();
    line.consume_front("kdac: ");
    if (!joined.empty())
      joined += " ";
    joined += line.str();
  }
  // LLVM prints value errors ("for the -K option: ...") itself, one line.
  if (joined.empty())
    return 1;
  return kdac::cli::reportError(joined);
}

/// A full disk or a closed pipe on stdout is an error like any other, not
/// LLVM's "IO failure on output stream" at exit.
static int finishOutput(int status) {
  llvm::outs().flush();
  if (llvm::outs().has_error()) {
    std::string message = llvm::outs().error().message();
    llvm::outs().clear_error();
    status = kdac::cli::reportError("cannot write to standard output: " +
                                    message);
  }
  // Nothing is left to tell where stderr itself failed.
  llvm::errs().clear_error();
  return status;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  std::string errors;
  llvm::raw_string_ostream errorStream(errors);
  if (!cl::ParseCommandLineOptions(
          argc, argv,
          "kdac: compiles Kimi Delta Attention kernels specialised per shape\n\n"
          "  kdac [file.mlir] [spec flags] --emit=<stage> [-o FILE]\n"
          "  kdac check CASE.safetensors [--backend=...]\n"
          "  kdac gen-case [spec flags] -o CASE.safetensors\n"
          "  kdac bench CASE.safetensors [--iters=N] (GPU)\n"
          "  kdac tune CASE.safetensors [--db=FILE] (GPU)\n",
          &errorStream))
    return reportParseErrors(errors);

  int status = kdac::cli::checkCommand     ? kdac::cli::runCheck()
               : kdac::cli::genCaseCommand ? kdac::cli::runGenCase()
               : kdac::cli::benchCommand   ? kdac::cli::runBench()
               : kdac::cli::tuneCommand    ? kdac::cli::runTune()
                                           : kdac::cli::runCompile();
  return finishOutput(status);
}
