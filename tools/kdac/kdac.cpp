//===- kdac.cpp - The kdac compiler driver --------------------------------===//
//
// Entry point: parses the command line, turns any parse error into one line,
// and dispatches to the chosen subcommand.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <csignal>

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

std::optional<ScratchDirectory>
ScratchDirectory::create(llvm::StringRef prefix) {
  llvm::SmallString<128> path;
  if (std::error_code ec = llvm::sys::fs::createUniqueDirectory(prefix, path)) {
    reportError("creating a temporary directory: " + ec.message());
    return std::nullopt;
  }
  // Private whatever the umask: the cubin cache refuses a group-writable one.
  llvm::sys::fs::setPermissions(path, llvm::sys::fs::owner_all);
  return ScratchDirectory(path.str().str());
}

ScratchDirectory::~ScratchDirectory() {
  if (!path_.empty())
    llvm::sys::fs::remove_directories(path_);
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

static void printVersion(llvm::raw_ostream &os) {
  os << "kdac " << KDAC_VERSION << " (commit " << KDAC_GIT_REVISION
     << "), built with LLVM/MLIR " << LLVM_VERSION_STRING
     << "; NVRTC and the CUDA driver are loaded at run time\n";
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // A write past the file-size limit then fails with EFBIG and is reported
  // like a full disk, instead of LLVM's handler turning it into a crash.
  std::signal(SIGXFSZ, SIG_IGN);
  cl::SetVersionPrinter(printVersion);
  std::string errors;
  llvm::raw_string_ostream errorStream(errors);
  if (!cl::ParseCommandLineOptions(
          argc, argv,
          "kdac: compiles Kimi Delta Attention kernels specialised per "
          "shape\n\n"
          "  kdac [file.mlir] [spec flags] --emit=<stage> [-o FILE]\n"
          "  kdac check CASE.safetensors [--backend=...]\n"
          "  kdac gen-case [spec flags] -o CASE.safetensors\n"
          "  kdac bench CASE.safetensors [--iters=N] (GPU)\n"
          "  kdac tune CASE.safetensors [--db=FILE] (GPU)\n\n"
          "Compiled kernels are cached on disk in $KDAC_CACHE_DIR, else\n"
          "$XDG_CACHE_HOME/kdac, else ~/.cache/kdac, else "
          "/tmp/kdac-cache-<uid>\n"
          "(a directory of this user that no one else may write; created "
          "0700).\n"
          "KDAC_CACHE=off keeps them in memory only. KDAC_TUNING_DB names a\n"
          "tuning database when --tuning-db is not given.\n",
          &errorStream))
    return reportParseErrors(errors);

  int status = kdac::cli::checkCommand     ? kdac::cli::runCheck()
               : kdac::cli::genCaseCommand ? kdac::cli::runGenCase()
               : kdac::cli::benchCommand   ? kdac::cli::runBench()
               : kdac::cli::tuneCommand    ? kdac::cli::runTune()
                                           : kdac::cli::runCompile();
  return finishOutput(status);
}
