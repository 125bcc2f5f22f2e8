//===- PipelineFlags.cpp - Flags for the compiler's own choices -----------===//
//
// The flags of the choices the compiler owns (and the autotuner sweeps), one
// per CompileOptions.def entry, shared by the compile, check and bench
// commands; and the target architecture.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

#include "kdac/Spec/Limits.h"

#include <cstdlib>

namespace cl = llvm::cl;

namespace kdac::cli {

static cl::OptionCategory pipelineCategory("Compilation choices");

#define KDAC_PIPELINE_FLAG                                                     \
  cl::cat(pipelineCategory), cl::sub(cl::SubCommand::getTopLevel()),          \
      cl::sub(checkCommand), cl::sub(benchCommand)

static cl::opt<std::string> archFlag(
    "arch", cl::desc("Target architecture: sm_90a | sm_80 (default: sm_90a)"),
    cl::init("sm_90a"), cl::cat(pipelineCategory),
    cl::sub(cl::SubCommand::getTopLevel()), cl::sub(checkCommand),
    cl::sub(genCaseCommand), cl::sub(benchCommand), cl::sub(tuneCommand));

// One flag per compile option (CompileOptions.def), e.g. --chunk-size.
#define KDAC_COMPILE_OPTION(TYPE, MEMBER, FLAG, JSON, DEFAULT, HELP)           \
  static cl::opt<TYPE> MEMBER##Flag(FLAG,                                      \
                                    cl::desc(HELP " (default: " #DEFAULT ")"), \
                                    cl::init(DEFAULT), KDAC_PIPELINE_FLAG);
#include "kdac/Spec/CompileOptions.def"

static cl::opt<std::string> tuningDbFlag(
    "tuning-db",
    cl::desc("Tuning database (kdac tune) whose entry for the spec overrides "
             "the compilation choices above ($KDAC_TUNING_DB if unset)"),
    cl::init(""), KDAC_PIPELINE_FLAG);

#undef KDAC_PIPELINE_FLAG

std::string tuningDatabaseFromFlags() {
  if (!tuningDbFlag.empty())
    return tuningDbFlag;
  const char *env = std::getenv("KDAC_TUNING_DB");
  return env ? env : "";
}

std::string archFromFlags() {
  if (std::string error = limits::checkArch(archFlag, "--arch");
      !error.empty()) {
    reportError(error);
    return "";
  }
  return archFlag;
}

std::optional<ChunkedPipelineOptions> pipelineOptionsFromFlags() {
  ChunkedPipelineOptions options;
#define KDAC_COMPILE_OPTION(TYPE, MEMBER, FLAG, JSON, DEFAULT, HELP)           \
  options.MEMBER = MEMBER##Flag;
#include "kdac/Spec/CompileOptions.def"
  std::string problem = validate(options, OptionNames::Flags);
  if (!problem.empty()) {
    reportError(problem);
    return std::nullopt;
  }
  return options;
}

} // namespace kdac::cli
