//===- PipelineFlags.cpp - Flags for the compiler's own choices -----------===//
//
// Chunk size, UT inverse method and decay anchors: choices the compiler owns
// (and the autotuner sweeps), shared by the compile and check commands.
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

static cl::opt<int64_t> chunkSizeFlag(
    "chunk-size",
    cl::desc("Tokens per chunk: 16, 32, 64 or 128; 0 (default) means 64 for "
             "IR stages and the code generator's default (16) for kernels"),
    cl::init(0), KDAC_PIPELINE_FLAG);
static cl::opt<std::string> archFlag(
    "arch", cl::desc("Target architecture: sm_90a | sm_80 (default: sm_90a)"),
    cl::init("sm_90a"), cl::cat(pipelineCategory),
    cl::sub(cl::SubCommand::getTopLevel()), cl::sub(checkCommand),
    cl::sub(genCaseCommand), cl::sub(benchCommand), cl::sub(tuneCommand));
static cl::opt<std::string> utMethodFlag(
    "ut-method",
    cl::desc("UT inverse: forward-substitution | neumann (chunk <= 16) | "
             "blocked (default: blocked)"),
    cl::init("blocked"), KDAC_PIPELINE_FLAG);
static cl::opt<std::string> diagMethodFlag(
    "diag-method",
    cl::desc("Diagonal blocks of the blocked inverse: forward-substitution | "
             "neumann (default: forward-substitution)"),
    cl::init("forward-substitution"), KDAC_PIPELINE_FLAG);
static cl::opt<int64_t> anchorBlockFlag(
    "anchor-block",
    cl::desc(
        "Sub-chunk length of the anchored decay (0: direct) (default: 16)"),
    cl::init(16), KDAC_PIPELINE_FLAG);

static cl::opt<int64_t> blockThreadsFlag(
    "block-threads",
    cl::desc("Threads per block of the emitted kernels (default: 256)"),
    cl::init(256), KDAC_PIPELINE_FLAG);
static cl::opt<int64_t>
    recurrenceThreadsFlag("recurrence-block-threads",
                          cl::desc("Threads per block of the recurrence kernel "
                                   "(0: --block-threads) (default: 0)"),
                          cl::init(0), KDAC_PIPELINE_FLAG);
static cl::opt<int64_t> valueTileFlag(
    "v-tile",
    cl::desc("Columns of V one recurrence block owns (0: all of V; decode "
             "chooses its own unless this is given)"),
    cl::init(64), KDAC_PIPELINE_FLAG);
static cl::opt<std::string> decodeStateInFlag(
    "decode-state-in",
    cl::desc("Where a decode block keeps its state slice: registers | shared "
             "| auto (shared for a 16-bit kv state and one token per call) "
             "(default: auto)"),
    cl::init("auto"), KDAC_PIPELINE_FLAG);

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
  options.decodeStateIn = decodeStateInFlag;
  options.blockThreads = blockThreadsFlag;
  options.recurrenceBlockThreads = recurrenceThreadsFlag;
  options.valueTile = valueTileFlag;
  if (valueTileFlag.getNumOccurrences())
    options.decodeValueTile = valueTileFlag;
  options.chunkSize = chunkSizeFlag;
  options.utMethod = utMethodFlag;
  options.diagMethod = diagMethodFlag;
  options.anchorBlock = anchorBlockFlag;
  std::string problem = validate(options, OptionNames::Flags);
  if (!problem.empty()) {
    reportError(problem);
    return std::nullopt;
  }
  return options;
}

} // namespace kdac::cli
