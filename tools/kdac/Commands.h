//===- Commands.h - kdac's subcommands and their entry points ---*- C++ -*-===//
//
// kdac is one binary with subcommands: the default one compiles a spec or a
// .mlir file to a chosen stage; others check backends and write cases. Each
// lives in its own file and reports errors as one line on stderr.
//
//===----------------------------------------------------------------------===//
#ifndef KDAC_TOOLS_KDAC_COMMANDS_H
#define KDAC_TOOLS_KDAC_COMMANDS_H

#include "kdac/Pipelines/Pipelines.h"
#include "kdac/Spec/KernelSpec.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/CommandLine.h"

#include <optional>
#include <string>

namespace kdac::cli {

/// Subcommands; the top level (no subcommand) is `compile`.
extern llvm::cl::SubCommand checkCommand;
extern llvm::cl::SubCommand genCaseCommand;
extern llvm::cl::SubCommand benchCommand;
extern llvm::cl::SubCommand tuneCommand;

/// Prints "kdac: error: <message>" and returns the exit code to use.
int reportError(const llvm::Twine &message);

/// True when any spec flag was given on the command line.
bool anySpecFlagGiven();
/// Builds and validates the spec from the flags; on error reports one line
/// and returns nothing.
std::optional<KernelSpec> specFromFlags();
/// --op=backward: the spec's gradients (buildRecurrenceGradModule).
bool backwardFromFlags();

/// The compiler's own choices (chunk size, UT method, anchors) from flags,
/// shared by compile and check; on error reports one line.
std::optional<ChunkedPipelineOptions> pipelineOptionsFromFlags();
/// The --arch value after checking it; empty (with an error reported) when
/// it is not a supported target.
std::string archFromFlags();
/// The tuning database path from --tuning-db or $KDAC_TUNING_DB ("" if none).
std::string tuningDatabaseFromFlags();

/// A private directory (mode 0700) under the system's temporary directory,
/// removed with its contents when this goes out of scope, on success and on
/// every error path: `bench` and `tune` compile into one so that no run is
/// served kernels another run left behind.
class ScratchDirectory {
public:
  /// Creates "<tmp>/<prefix>-XXXXXX"; on failure reports one line and
  /// returns nothing.
  static std::optional<ScratchDirectory> create(llvm::StringRef prefix);
  ScratchDirectory(ScratchDirectory &&other) : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  ScratchDirectory(const ScratchDirectory &) = delete;
  ScratchDirectory &operator=(const ScratchDirectory &) = delete;
  ~ScratchDirectory();
  const std::string &path() const { return path_; }

private:
  explicit ScratchDirectory(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

int runCompile();
int runCheck();
int runGenCase();
int runBench();
int runTune();

} // namespace kdac::cli

#endif // KDAC_TOOLS_KDAC_COMMANDS_H
